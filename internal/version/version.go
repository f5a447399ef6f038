// Package version reports the build's version and commit, and the
// User-Agent finconnectd sends.
//
// Versions are semantic versions (https://semver.org). The VERSION file
// next to this one holds the version of the source tree; a release is the
// commit where VERSION says X.Y.Z, tagged vX.Y.Z. The Makefile passes the
// tag's version and the commit with -ldflags -X; a plain `go build` falls
// back to `go install module@vX.Y.Z`'s module version, then to VERSION,
// and takes the commit from the build's VCS information.
package version

import (
	_ "embed"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at link time: -X github.com/finconnectd/finconnectd/internal/version.Version=...
var (
	Version = ""
	Commit  = ""
)

// release is the VERSION file's content.
//
//go:embed VERSION
var release string

// Info is what `finconnectd version` prints.
type Info struct {
	Version   string // X.Y.Z, without a leading v
	Commit    string
	GoVersion string
}

// Get returns the build's version information.
func Get() Info {
	info := Info{Version: strings.TrimPrefix(Version, "v"), Commit: Commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; info.Version == "" && v != "" && v != "(devel)" {
			info.Version = strings.TrimPrefix(v, "v")
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && info.Commit == "" {
				info.Commit = s.Value
				if len(info.Commit) > 12 {
					info.Commit = info.Commit[:12]
				}
			}
		}
	}
	if info.Version == "" {
		info.Version = strings.TrimSpace(release)
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

// String is the one-line form `finconnectd version` prints:
// "finconnectd 1.2.0 (commit 3f1c2ab, go1.26.8)".
func (i Info) String() string {
	return "finconnectd " + i.Version + " (commit " + i.Commit + ", " + i.GoVersion + ")"
}

// UserAgent is the User-Agent of every request finconnectd makes (provider
// calls and event deliveries): "finconnectd/" and the version reduced to
// token characters. It reads the build's information on every call: a
// client that sends many requests keeps the value.
func UserAgent() string { return userAgentFor(Get().Version) }

// userAgentFor is the User-Agent of version v ("(devel)" and an empty v
// become "devel").
func userAgentFor(v string) string {
	v = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-+_~", r):
			return r
		}
		return -1
	}, v)
	if v == "" {
		v = "devel"
	}
	return "finconnectd/" + v
}

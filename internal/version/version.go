// Package version reports the build's version and commit. Version and Commit
// are set by the Makefile with -ldflags -X; without them the module's build
// info is used.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set at link time: -X github.com/finconnectd/finconnectd/internal/version.Version=...
var (
	Version = ""
	Commit  = ""
)

// Info is what `finconnectd version` prints.
type Info struct {
	Version   string
	Commit    string
	GoVersion string
}

// Get returns the build's version information.
func Get() Info {
	info := Info{Version: Version, Commit: Commit, GoVersion: runtime.Version()}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "" && bi.Main.Version != "" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && info.Commit == "" {
				info.Commit = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "(devel)"
	}
	if info.Commit == "" {
		info.Commit = "unknown"
	}
	return info
}

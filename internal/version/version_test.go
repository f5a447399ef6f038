package version

import (
	"regexp"
	"strings"
	"testing"
)

// semver is a semantic version without a leading v (pre-release and build
// parts allowed).
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

func TestVersionFileIsSemver(t *testing.T) {
	if v := strings.TrimSpace(release); !semver.MatchString(v) {
		t.Fatalf("VERSION holds %q, not a semantic version X.Y.Z", v)
	}
}

func TestGet(t *testing.T) {
	// Tests are built without -ldflags: the version comes from VERSION.
	i := Get()
	if i.Version != strings.TrimSpace(release) {
		t.Fatalf("Version = %q, want VERSION's %q", i.Version, strings.TrimSpace(release))
	}
	if want := "finconnectd " + i.Version + " (commit " + i.Commit + ", " + i.GoVersion + ")"; i.String() != want {
		t.Fatalf("String() = %q, want %q", i.String(), want)
	}
	if got := UserAgent(); got != "finconnectd/"+i.Version {
		t.Fatalf("UserAgent() = %q, want finconnectd/%s", got, i.Version)
	}
}

func TestUserAgentFor(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"(devel)": "finconnectd/devel", "v1.2.0": "finconnectd/v1.2.0", "": "finconnectd/devel",
		"v0.0.0-20261122-abc+dirty": "finconnectd/v0.0.0-20261122-abc+dirty"} {
		if got := userAgentFor(in); got != want {
			t.Errorf("userAgentFor(%q) = %q, want %q", in, got, want)
		}
	}
}

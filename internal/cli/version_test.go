package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/version"
)

func TestVersion(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // regexp
		stderr string // substring
	}{
		{"version", []string{"version"}, ExitOK, `^finconnectd \d+\.\d+\.\d+\S* \(commit \S+, go[0-9.]+\S*\)\n$`, ""},
		{"-version", []string{"-version"}, ExitOK, `^finconnectd \S+ \(commit \S+, go`, ""},
		{"help", []string{"version", "-help"}, ExitOK, `^$`, "Usage: finconnectd version"},
		{"help shows this build's line", []string{"version", "-help"}, ExitOK, `^$`, "\n  " + version.Get().String() + "\n"},
		{"bad flag", []string{"version", "-short"}, ExitError, `^$`, "Usage: finconnectd version"},
		{"argument", []string{"version", "now"}, ExitError, `^$`, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cfgRun(t, nil, t.TempDir(), "", tt.args...)
			r.checkCode(t, tt.code)
			if !regexp.MustCompile(tt.stdout).MatchString(r.stdout) {
				t.Errorf("stdout = %q, want a match for %q", r.stdout, tt.stdout)
			}
			if tt.stderr == "" {
				if r.stderr != "" {
					t.Errorf("stderr = %q, want it empty", r.stderr)
				}
			} else if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.stderr)
			}
		})
	}
}

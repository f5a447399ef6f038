package cli

import (
	"testing"

	"github.com/stretchr/testify/assert"

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
			assert.Equal(t, tt.code, r.code)
			assert.Regexp(t, tt.stdout, r.stdout)
			if tt.stderr == "" {
				assert.Empty(t, r.stderr)
			} else {
				assert.Contains(t, r.stderr, tt.stderr)
			}
		})
	}
}

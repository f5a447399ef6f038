package config

import (
	"bytes"
	"strings"
	"testing"
)

// TestDiagnosticsKeepQuotedExamplesWhole: wrapping a diagnostic's detail
// never splits a quoted example such as a cron spec across lines.
func TestDiagnosticsKeepQuotedExamplesWhole(t *testing.T) {
	t.Parallel()
	l := NewLoader(func(string) (string, bool) { return "", false })
	src := []byte("schedule \"sync_payments\" { cron = \"* * *\" }\n")
	_, diags := l.LoadSource("main.hcl", src, t.TempDir())
	if !diags.HasErrors() {
		t.Fatal("a three-field cron spec loaded")
	}
	for _, width := range []uint{40, 60, 78, 100} {
		var b bytes.Buffer
		if err := l.WriteDiagnostics(&b, diags, width, false); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		for _, want := range []string{`"*/15 * * * *"`, `"@every 1m"`, `"* * *"`} {
			if !strings.Contains(out, want) {
				t.Errorf("width %d: %s is split or missing:\n%s", width, want, out)
			}
		}
		if strings.Contains(out, "\u00a0") {
			t.Errorf("width %d: a no-break space reached the output", width)
		}
	}
}

func TestGlueQuoted(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`a "b c" d`:           "a \"b\u00a0c\" d",
		`x "q\" r" y z`:       "x \"q\\\"\u00a0r\" y z",
		`no quotes at all`:    `no quotes at all`,
		`"open only a b`:      "\"open\u00a0only\u00a0a\u00a0b",
		`two "a b" and "c d"`: "two \"a\u00a0b\" and \"c\u00a0d\"",
	} {
		if got := glueQuoted(in); got != want {
			t.Errorf("glueQuoted(%q) = %q, want %q", in, got, want)
		}
	}
}

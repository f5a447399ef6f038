package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	udiff "github.com/aymanbagabas/go-udiff"
)

const (
	cfgUgly   = "route \"r\" {\npath=\"/x\"\n  events   =  [\"payment.failed\"]\n}\n"
	cfgPretty = "route \"r\" {\n  path   = \"/x\"\n  events = [\"payment.failed\"]\n}\n"
)

func TestFmt(t *testing.T) {
	root := cfgRepoRoot(t)

	t.Run("examples are formatted", func(t *testing.T) {
		r := cfgRun(t, nil, root, "", "fmt", "-check", "examples")
		r.checkCode(t, ExitOK)
		if r.stdout != "" {
			t.Errorf("stdout = %q, want no file listed", r.stdout)
		}
	})

	t.Run("check lists and does not write", func(t *testing.T) {
		dir := t.TempDir()
		ugly := cfgWrite(t, dir, "a.hcl", cfgUgly)
		cfgWrite(t, dir, "b.hcl", cfgPretty)
		r := cfgRun(t, nil, dir, "", "fmt", "-check", ".")
		r.checkCode(t, ExitFormat)
		if r.stdout != "a.hcl\n" {
			t.Errorf("stdout = %q, want %q", r.stdout, "a.hcl\n")
		}
		if b, _ := os.ReadFile(ugly); string(b) != cfgUgly {
			t.Errorf("-check rewrote a.hcl to %q, want it left as %q", b, cfgUgly)
		}
	})

	t.Run("diff", func(t *testing.T) {
		dir := t.TempDir()
		cfgWrite(t, dir, "a.hcl", cfgUgly)
		r := cfgRun(t, nil, dir, "", "fmt", "-check", "-diff", "a.hcl")
		r.checkCode(t, ExitFormat)
		if want := "a.hcl\n--- a.hcl\n+++ a.hcl\n@@ -1,4 +1,4 @@\n route \"r\" {\n-path=\"/x\"\n-  events   =  [\"payment.failed\"]\n+  path   = \"/x\"\n+  events = [\"payment.failed\"]\n }\n"; r.stdout != want {
			t.Errorf("stdout\n got %q\nwant %q", r.stdout, want)
		}
	})

	t.Run("rewrites atomically and keeps the mode", func(t *testing.T) {
		dir := t.TempDir()
		p := cfgWrite(t, dir, "a.hcl", cfgUgly)
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
		r := cfgRun(t, nil, dir, "", "fmt")
		r.checkCode(t, ExitOK)
		if r.stdout != "a.hcl\n" {
			t.Errorf("stdout = %q, want %q", r.stdout, "a.hcl\n")
		}
		if b, _ := os.ReadFile(p); string(b) != cfgPretty {
			t.Errorf("a.hcl after fmt = %q, want %q", b, cfgPretty)
		}
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("mode after fmt = %v, want %v", got, os.FileMode(0o600))
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%d entries in the directory, want 1: no temp files left behind", len(entries))
		}
		r = cfgRun(t, nil, dir, "", "fmt", "a.hcl")
		r.checkCode(t, ExitOK)
		if r.stdout != "" {
			t.Errorf("second run: stdout = %q, want nothing: it changes nothing", r.stdout)
		}
	})

	t.Run("symlink keeps pointing at the formatted file", func(t *testing.T) {
		dir := t.TempDir()
		target := cfgWrite(t, dir, "real/a.hcl", cfgUgly)
		link := filepath.Join(dir, "a.hcl")
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		r := cfgRun(t, nil, dir, "", "fmt", "a.hcl")
		r.checkCode(t, ExitOK)
		st, err := os.Lstat(link)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode()&os.ModeSymlink == 0 {
			t.Errorf("a.hcl has mode %v after fmt, want it still a symlink", st.Mode())
		}
		if b, _ := os.ReadFile(target); string(b) != cfgPretty {
			t.Errorf("the link's target after fmt = %q, want %q", b, cfgPretty)
		}
	})

	t.Run("stdin", func(t *testing.T) {
		r := cfgRun(t, nil, t.TempDir(), cfgUgly, "fmt", "-")
		r.checkCode(t, ExitOK)
		if r.stdout != cfgPretty {
			t.Errorf("stdout = %q, want %q", r.stdout, cfgPretty)
		}
		r = cfgRun(t, nil, t.TempDir(), cfgUgly, "fmt", "-check", "-")
		r.checkCode(t, ExitFormat)
		if r.stdout != "" {
			t.Errorf("-check of stdin: stdout = %q, want nothing", r.stdout)
		}
	})

	t.Run("syntax error", func(t *testing.T) {
		dir := t.TempDir()
		src := "route \"r\" {\n  path = \"/x\n}\n"
		p := cfgWrite(t, dir, "bad.hcl", src)
		cfgWrite(t, dir, "ugly.hcl", cfgUgly)
		r := cfgRun(t, nil, dir, "", "fmt", ".")
		r.checkCode(t, ExitError)
		if !strings.Contains(r.stderr, "on bad.hcl line 2") {
			t.Errorf("stderr = %q, want it to contain %q", r.stderr, "on bad.hcl line 2")
		}
		if b, _ := os.ReadFile(p); string(b) != src {
			t.Errorf("bad.hcl after fmt = %q, want it left alone: %q", b, src)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, "ugly.hcl")); string(b) != cfgPretty {
			t.Errorf("ugly.hcl after fmt = %q, want it still formatted: %q", b, cfgPretty)
		}
	})

	t.Run("huge number", func(t *testing.T) {
		r := cfgRun(t, nil, t.TempDir(), "x = 1e99999999\n", "fmt", "-")
		r.checkCode(t, ExitError)
		if !strings.Contains(r.stderr, "Number too large") {
			t.Errorf("stderr = %q, want it to contain %q", r.stderr, "Number too large")
		}
	})

	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"missing path", []string{"fmt", "nope.hcl"}, ExitError, "cannot open nope.hcl"},
		{"help", []string{"fmt", "-help"}, ExitOK, "Examples:"},
		{"bad flag", []string{"fmt", "-recursive"}, ExitError, "Usage: finconnectd fmt"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := cfgRun(t, nil, t.TempDir(), "", tt.args...)
			r.checkCode(t, tt.code)
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.stderr)
			}
		})
	}
}

func TestUnifiedDiff(t *testing.T) {
	lines := func(n int, mod map[int]string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			if s, ok := mod[i]; ok {
				if s != "" {
					b.WriteString(s + "\n")
				}
				continue
			}
			b.WriteString("line" + string(rune('a'+i-1)) + "\n")
		}
		return b.String()
	}
	tests := []struct {
		name, old, new, want string
	}{
		{"equal", "a\n", "a\n", ""},
		{"change one line", "a\nb\nc\n", "a\nB\nc\n", "--- f\n+++ f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n"},
		{"append", "a\n", "a\nb\n", "--- f\n+++ f\n@@ -1 +1,2 @@\n a\n+b\n"},
		{"delete all", "a\nb\n", "", "--- f\n+++ f\n@@ -1,2 +0,0 @@\n-a\n-b\n"},
		{"from empty", "", "a\n", "--- f\n+++ f\n@@ -0,0 +1 @@\n+a\n"},
		{"two hunks", lines(20, nil), lines(20, map[int]string{2: "X", 18: "Y"}),
			"--- f\n+++ f\n@@ -1,5 +1,5 @@\n linea\n-lineb\n+X\n linec\n lined\n linee\n@@ -15,6 +15,6 @@\n lineo\n linep\n lineq\n-liner\n+Y\n lines\n linet\n"},
		{"close changes share a hunk", lines(10, nil), lines(10, map[int]string{3: "X", 7: ""}),
			"--- f\n+++ f\n@@ -1,10 +1,9 @@\n linea\n lineb\n-linec\n+X\n lined\n linee\n linef\n-lineg\n lineh\n linei\n linej\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := unifiedDiff("f", "f", tt.old, tt.new); got != tt.want {
				t.Errorf("unifiedDiff\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func BenchmarkUnifiedDiff(b *testing.B) {
	var old, new strings.Builder
	for i := range 2000 {
		old.WriteString("  attribute_" + string(rune('a'+i%26)) + " = \"value\"\n")
		if i%50 == 0 {
			new.WriteString("  attribute_" + string(rune('a'+i%26)) + "   =   \"value\"\n")
		} else {
			new.WriteString("  attribute_" + string(rune('a'+i%26)) + " = \"value\"\n")
		}
	}
	o, n := old.String(), new.String()
	b.ReportAllocs()
	for b.Loop() {
		_ = unifiedDiff("a", "b", o, n)
	}
}

func BenchmarkFmtExamples(b *testing.B) {
	root := cfgRepoRoot(b)
	b.ReportAllocs()
	for b.Loop() {
		if r := cfgRun(b, nil, root, "", "fmt", "-check", "examples"); r.code != ExitOK {
			b.Fatal(r.stderr)
		}
	}
}

// FuzzUnifiedDiff: applying the diff to old gives new, and formatting any
// input with fmt never panics.
func FuzzUnifiedDiff(f *testing.F) {
	f.Add(cfgUgly, cfgPretty)
	f.Add("", "a\n")
	f.Add("a\nb\nc\n", "c\nb\na")
	f.Fuzz(func(t *testing.T, old, new string) {
		edits := udiff.Lines(old, new)
		got, err := udiff.Apply(old, edits)
		if err != nil || got != new {
			t.Fatalf("the edits do not turn old into new: %v", err)
		}
		_ = unifiedDiff("a", "b", old, new)
		_ = cfgRun(t, nil, t.TempDir(), old, "fmt", "-diff", "-")
	})
}

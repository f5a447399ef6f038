package docs

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/cli"
)

// markdown returns the repository's Markdown files, relative to the
// repository root, and their contents.
func markdown(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	add := func(path string) {
		b, err := os.ReadFile(filepath.Join("..", path))
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		files[filepath.ToSlash(path)] = string(b)
	}
	add("README.md")
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			add(filepath.Join("docs", path))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk docs: %v", err)
	}
	if len(files) < 5 {
		t.Fatalf("found only %d Markdown files", len(files))
	}
	return files
}

// prose returns doc without its fenced code blocks (so a "[x](y)" inside
// an example is not taken for a link).
func prose(doc string) string {
	var b strings.Builder
	fenced := false
	for _, line := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

var (
	linkRE    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headingRE = regexp.MustCompile("(?m)^#{1,6} +(.+)$")
	slugDrop  = regexp.MustCompile(`[^\p{L}\p{N}\- _]`)
)

// slug is the anchor GitHub gives a heading.
func slug(heading string) string {
	s := strings.ToLower(strings.TrimSpace(heading))
	s = slugDrop.ReplaceAllString(s, "")
	return strings.ReplaceAll(s, " ", "-")
}

func anchors(doc string) map[string]bool {
	out := map[string]bool{}
	for _, m := range headingRE.FindAllStringSubmatch(prose(doc), -1) {
		out[slug(m[1])] = true
	}
	return out
}

// TestLinks: every relative link in the documentation names a file of the
// repository, and every #anchor a heading of the page it points at.
func TestLinks(t *testing.T) {
	files := markdown(t)
	for name, doc := range files {
		for _, m := range linkRE.FindAllStringSubmatch(prose(doc), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, frag, _ := strings.Cut(target, "#")
			page := name
			if path != "" {
				page = filepath.ToSlash(filepath.Join(filepath.Dir(name), path))
				if _, err := os.Stat(filepath.Join("..", page)); err != nil {
					t.Errorf("%s: link %q: %v", name, target, err)
					continue
				}
			}
			if frag == "" {
				continue
			}
			text, ok := files[page]
			if !ok {
				t.Errorf("%s: link %q: an anchor into a file that is not documentation", name, target)
				continue
			}
			if !anchors(text)[frag] {
				t.Errorf("%s: link %q: %s has no heading with anchor #%s", name, target, page, frag)
			}
		}
	}
}

// TestNoAssemblyMarkers: the pages carry no markers of how they were put
// together.
func TestNoAssemblyMarkers(t *testing.T) {
	for name, doc := range markdown(t) {
		if strings.Contains(doc, "<!-- section:") {
			t.Errorf("%s contains a <!-- section: --> marker", name)
		}
	}
}

// commandLines returns the shell the documentation shows: the lines of
// sh/shell/console code blocks (continuations joined, comments cut) and the
// inline code spans that start with finconnectd.
func commandLines(doc string) []string {
	var out []string
	fenced, shell := false, false
	var cont string
	for _, line := range strings.Split(doc, "\n") {
		trim := strings.TrimSpace(line)
		if strings.HasPrefix(trim, "```") {
			if !fenced {
				lang := strings.TrimPrefix(trim, "```")
				shell = lang == "sh" || lang == "shell" || lang == "bash" || lang == "console"
			}
			fenced = !fenced
			continue
		}
		if fenced {
			if !shell {
				continue
			}
			if i := commentStart(line); i >= 0 {
				line = line[:i]
			}
			if strings.HasSuffix(strings.TrimRight(line, " "), `\`) {
				cont += strings.TrimSuffix(strings.TrimRight(line, " "), `\`) + " "
				continue
			}
			out = append(out, cont+line)
			cont = ""
			continue
		}
		for _, m := range inlineRE.FindAllStringSubmatch(line, -1) {
			out = append(out, m[1])
		}
	}
	return out
}

var inlineRE = regexp.MustCompile("`((?:bin/)?finconnectd [^`]+)`")

// commentStart is where a shell comment starts in line, or -1.
func commentStart(line string) int {
	quote := byte(0)
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return i
		}
	}
	return -1
}

// invocationRE finds "finconnectd WORD ..." as a command, not as a path
// (/etc/finconnectd) or a unit name followed by flags.
var invocationRE = regexp.MustCompile(`(?:^|[\s;&|(]|bin/)finconnectd +([a-z][a-z-]*)((?: +[^\s;&|)'"]+)*)`)

// help runs "finconnectd ARGS... -help" in-process and returns its output.
func help(t *testing.T, args ...string) (string, bool) {
	t.Helper()
	var out bytes.Buffer
	code := cli.Run(context.Background(), append(args, "-help"), cli.IO{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &out, Cwd: t.TempDir(),
	})
	return out.String(), code == cli.ExitOK
}

// TestCommandsExist: every finconnectd command, subcommand and flag the
// documentation shows exists, as its -help says.
func TestCommandsExist(t *testing.T) {
	helps := map[string]string{}
	lookup := func(args ...string) (string, bool) {
		key := strings.Join(args, " ")
		if h, ok := helps[key]; ok {
			return h, true
		}
		h, ok := help(t, args...)
		if ok {
			helps[key] = h
		}
		return h, ok
	}
	seen := 0
	for name, doc := range markdown(t) {
		for _, line := range commandLines(doc) {
			for _, m := range invocationRE.FindAllStringSubmatch(line, -1) {
				seen++
				cmd, rest := m[1], strings.Fields(m[2])
				h, ok := lookup(cmd)
				if !ok {
					t.Errorf("%s: `finconnectd %s`: no such command\n  in: %s", name, cmd, strings.TrimSpace(line))
					continue
				}
				args := []string{cmd}
				if strings.Contains(h, "<subcommand>") || strings.Contains(h, "finconnectd "+cmd+" list") {
					if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
						continue // the command alone, as in "finconnectd events"
					}
					args = append(args, rest[0])
					rest = rest[1:]
					if h, ok = lookup(args...); !ok {
						t.Errorf("%s: `finconnectd %s`: no such subcommand\n  in: %s", name, strings.Join(args, " "), strings.TrimSpace(line))
						continue
					}
				}
				for _, tok := range rest {
					if len(tok) < 2 || tok[0] != '-' || tok[1] < 'a' || tok[1] > 'z' {
						continue
					}
					flag, _, _ := strings.Cut(tok[1:], "=")
					if flag == "help" || flag == "h" {
						continue
					}
					if !strings.Contains(h, "\n  -"+flag+" ") && !strings.Contains(h, "\n  -"+flag+"\n") {
						t.Errorf("%s: `finconnectd %s` has no flag -%s\n  in: %s", name, strings.Join(args, " "), flag, strings.TrimSpace(line))
					}
				}
			}
		}
	}
	if seen < 20 {
		t.Fatalf("found only %d finconnectd invocations in the documentation; is the parser broken?", seen)
	}
}

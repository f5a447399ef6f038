package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

const (
	// referencePath is the configuration reference; its section under
	// referenceTitle, up to the next heading of the same level, is checked
	// (and with -update rewritten) against the schema tables.
	referencePath  = "../../docs/configuration.md"
	referenceTitle = "## Reference"
)

// heading is how the reference titles a block.
func heading(s *blockSpec, parent string) string {
	switch {
	case parent != "":
		return fmt.Sprintf("#### `%s` (in `%s`)", s.Type, parent)
	case s.Kind != "":
		return fmt.Sprintf("### `provider \"%s\" \"NAME\"`", s.Kind)
	case len(s.Labels) > 0:
		return fmt.Sprintf("### `%s \"NAME\"`", s.Type)
	}
	return fmt.Sprintf("### `%s`", s.Type)
}

// generateReference renders the configuration reference from the decoder's
// own schema tables.
func generateReference() string {
	var b strings.Builder
	b.WriteString(referenceTitle + "\n\n")
	b.WriteString(`The configuration is HCL: one file, or a directory whose ` + "`*.hcl`" + ` files are merged in
lexical order. Commands find it through ` + "`-config PATH`" + `, else ` + "`$FINCONNECT_CONFIG`" + `, else the
current directory. ` + "`finconnectd validate`" + ` checks it without touching the network;
` + "`finconnectd fmt`" + ` formats it. Every problem is reported at once, Terraform-style, with file, line,
the source line and how to fix it.

- **References** are written without quotes: ` + "`provider = provider.pesapal.ke`" + `. A reference to a
  missing block, or to a provider of the wrong kind (an ` + "`ipn`" + ` needs PesaPal), is an error.
- **Functions**: ` + "`env(NAME)`" + `, ` + "`env(NAME, DEFAULT)`" + `, ` + "`file(PATH)`" + ` (relative to the file that calls it,
  at most 1 MiB), and go-cty's standard library: ` + "`lower`, `upper`, `format`, `join`, `split`, `trimspace`,\n  `replace`, `concat`, `length`, `coalesce`, `jsondecode`, `regex`, `tostring`, `tonumber`" + ` and more.
- **Secrets**: values from ` + "`env()`" + ` and ` + "`file()`" + ` are sensitive wherever they flow; no output shows them
  (` + "`(sensitive value)`" + ` instead). Credentials (type *secret*) are trimmed of surrounding whitespace; a
  credential written literally in the file is a warning.
- **Durations** are Go durations (` + "`\"10s\"`, `\"72h\"`" + `); **cron** specs are robfig/cron's: five fields
  (` + "`\"*/15 * * * *\"`" + `) or descriptors (` + "`@hourly`, `@daily`, `@every 1m`" + `).
- **URLs** are absolute http(s). With a ` + "`live`" + ` provider every URL must be https; forward URLs and
  provider URL overrides may use plain http on loopback or private hosts (private IP ranges,
  ` + "`localhost`" + `, single-label names, ` + "`.internal`, `.local`, `.lan`, `.home.arpa`" + `). URLs may not carry
  ` + "`user:password@`" + `.
- An ` + "`ipn`" + ` whose URL path no ` + "`route`" + ` of the same provider serves is a warning.

`)
	for _, s := range specs() {
		writeBlock(&b, s, "")
	}
	return b.String()
}

func writeBlock(b *strings.Builder, s *blockSpec, parent string) {
	fmt.Fprintf(b, "%s\n\n%s\n\n", heading(s, parent), s.Doc)
	b.WriteString("| attribute | type | required | default | description |\n|---|---|---|---|---|\n")
	for _, a := range s.Attrs {
		req := ""
		if a.Required {
			req = "yes"
		}
		def := a.Default
		if def == "" {
			def = "—"
		} else if strings.HasPrefix(def, `"`) || strings.Trim(def, "0123456789") == "" {
			def = "`" + def + "`"
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n", a.Name, a.Type, req, def, a.Doc)
	}
	b.WriteString("\n")
	for _, nb := range s.Blocks {
		writeBlock(b, nb, s.Type)
	}
}

// section returns where the reference section of doc starts (at its
// title) and ends (at the next level-2 heading, or the end of doc).
func section(t *testing.T, doc string) (start, end int) {
	t.Helper()
	start = strings.Index(doc, "\n"+referenceTitle+"\n")
	if start < 0 {
		t.Fatalf("%s has no %q heading", referencePath, referenceTitle)
	}
	start++
	end = strings.Index(doc[start+len(referenceTitle):], "\n## ")
	if end < 0 {
		return start, len(doc)
	}
	return start, start + len(referenceTitle) + end + 1
}

// checkReference fails for every block or attribute of the decoder that doc
// does not describe under that block's heading.
func checkReference(t *testing.T, name, doc string) {
	t.Helper()
	var check func(s *blockSpec, parent string)
	check = func(s *blockSpec, parent string) {
		h := heading(s, parent)
		i := strings.Index(doc, h+"\n")
		if i < 0 {
			t.Errorf("%s: no heading %q", name, h)
			return
		}
		body := doc[i+len(h):]
		if j := strings.Index(body, "\n#"); j >= 0 {
			body = body[:j]
		}
		for _, a := range s.Attrs {
			if !strings.Contains(body, "| `"+a.Name+"` |") {
				t.Errorf("%s: attribute %s of %s is not documented", name, a.Name, h)
			}
		}
		for _, nb := range s.Blocks {
			check(nb, s.Type)
		}
	}
	for _, s := range specs() {
		check(s, "")
	}
}

// TestReadmeReference: the configuration reference in docs/configuration.md
// documents every block and attribute the decoder accepts. go test -update
// regenerates its reference section from the schema tables.
func TestReadmeReference(t *testing.T) {
	ref := generateReference()
	checkReference(t, "generated", ref)

	doc, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("reading the reference: %v", err)
	}
	start, end := section(t, string(doc))
	if *update {
		out := string(doc[:start]) + strings.TrimRight(ref, "\n") + "\n" + string(doc[end:])
		if err := os.WriteFile(referencePath, []byte(out), 0o644); err != nil {
			t.Fatalf("rewriting the reference: %v", err)
		}
		return
	}
	checkReference(t, referencePath, string(doc[start:end]))
}

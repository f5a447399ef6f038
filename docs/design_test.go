package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// decls is what the repository's Go code declares: per package name, the
// top-level names, methods, struct fields and interface methods.
type decls struct {
	byPkg map[string]map[string]bool
	all   map[string]bool
}

func (d decls) add(pkg, name string) {
	if d.byPkg[pkg] == nil {
		d.byPkg[pkg] = map[string]bool{}
	}
	d.byPkg[pkg][name] = true
	d.all[name] = true
}

// declarations parses every Go file of the module (tests included).
func declarations(t *testing.T) decls {
	t.Helper()
	d := decls{byPkg: map[string]map[string]bool{}, all: map[string]bool{}}
	fset := token.NewFileSet()
	err := filepath.WalkDir("..", func(path string, e os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == "testdata" || (strings.HasPrefix(e.Name(), ".") && path != "..")) {
			return filepath.SkipDir
		}
		if e.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		pkg := strings.TrimSuffix(f.Name.Name, "_test")
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.FuncDecl:
				d.add(pkg, n.Name.Name)
			case *ast.TypeSpec:
				d.add(pkg, n.Name.Name)
			case *ast.ValueSpec:
				for _, id := range n.Names {
					d.add(pkg, id.Name)
				}
			case *ast.Field:
				for _, id := range n.Names {
					d.add(pkg, id.Name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatalf("parse the module: %v", err)
	}
	return d
}

var (
	spanRE   = regexp.MustCompile("`([^`]+)`")
	methodRE = regexp.MustCompile(`\(\*(?:(\w+)\.)?(\w+)\)\.(\w+)`)
	chainRE  = regexp.MustCompile(`[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+`)
	camelRE  = regexp.MustCompile(`^(?:[a-z]+[A-Z]|[A-Z][a-z0-9]+[A-Z])\w*$`)
	// providerID is KIND.NAME, which reads like a package-qualified name.
	providerID = regexp.MustCompile(`^(?:pesapal|clickpesa|azampay)\.[a-z0-9_-]+$`)
)

// TestDesignNamesExist: every Go identifier docs/DESIGN.md cites in code
// spans is declared in the code: "pkg.Name", "(*pkg.Type).Method",
// "pkg.Type.Method" and camelCase names such as "syncDelay". A rename
// that leaves the design page behind fails here.
func TestDesignNamesExist(t *testing.T) {
	b, err := os.ReadFile("DESIGN.md")
	if err != nil {
		t.Fatal(err)
	}
	d := declarations(t)
	checked := 0
	check := func(ok bool, cited, why string) {
		checked++
		if !ok {
			t.Errorf("DESIGN.md cites `%s`: %s", cited, why)
		}
	}
	for _, m := range spanRE.FindAllStringSubmatch(prose(string(b)), -1) {
		span := m[1]
		for _, mm := range methodRE.FindAllStringSubmatch(span, -1) {
			pkg, typ, method := mm[1], mm[2], mm[3]
			if pkg != "" && d.byPkg[pkg] == nil {
				continue // not one of ours (http, io ...)
			}
			names := d.all
			if pkg != "" {
				names = d.byPkg[pkg]
			}
			check(names[typ] && names[method], mm[0], "no such type and method")
		}
		span = methodRE.ReplaceAllString(span, "")
		for _, loc := range chainRE.FindAllStringIndex(span, -1) {
			chain := span[loc[0]:loc[1]]
			if loc[0] > 0 && strings.ContainsRune("/-<", rune(span[loc[0]-1])) {
				continue // a path: internal/settle/settle.go
			}
			parts := strings.Split(chain, ".")
			if last := parts[len(parts)-1]; last == "go" || last == "md" || last == "hcl" {
				continue
			}
			if providerID.MatchString(chain) {
				continue // a provider ID: pesapal.ke
			}
			names, ok := d.byPkg[parts[0]]
			if !ok {
				continue // a config attribute (server.listen), another package (http.ServeMux) ...
			}
			for _, p := range parts[1:] {
				check(names[p], chain, "package "+parts[0]+" declares no "+p)
			}
		}
		for _, word := range strings.FieldsFunc(span, func(r rune) bool {
			return !(r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.')
		}) {
			if strings.Contains(word, ".") || !camelRE.MatchString(word) {
				continue
			}
			check(d.all[word], word, "nothing in the code declares it")
		}
	}
	if checked < 40 {
		t.Fatalf("checked only %d names in DESIGN.md; is the parser broken?", checked)
	}
}

// Package archtest enforces the import rules of docs/DESIGN.md with
// `go list`: leaf packages import nothing internal, dependencies point inward
// (cmd -> cli -> daemon/reconcile -> providers/state/config), and only the two
// composition places (cli, daemon) see everything.
package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/finconnectd/finconnectd"

// allowed lists, per package (relative to the module, "*" suffix = subtree),
// the internal packages it may import directly. Packages not listed may
// import anything except the forbidden ones below.
var allowedInternal = map[string][]string{
	"internal/secret":                  {},
	"internal/version":                 {},
	"internal/testkit":                 {},
	"internal/procscope":               {},
	"internal/admission":               {},
	"internal/state":                   {},
	"internal/money":                   {},
	"internal/providers":               {},
	"internal/config":                  {"internal/secret"},
	"internal/httpapi":                 {"internal/secret"},
	"internal/providers/tokencache":    {},
	"internal/providers/internal/wire": {"internal/providers", "internal/secret", "internal/version", "internal/providers/tokencache"},
	"internal/state/internal/rules":    {"internal/state", "internal/procscope", "internal/money"},
	"internal/state/sqlite":            {"internal/state", "internal/state/internal/rules", "internal/procscope"},
	"internal/state/postgres":          {"internal/state", "internal/state/internal/rules", "internal/secret", "internal/procscope"},
	"internal/state/open":              {"internal/state", "internal/state/sqlite", "internal/state/postgres", "internal/secret"},
	"internal/settle":                  {"internal/config", "internal/state", "internal/providers"},
	"internal/delivery":                {"internal/config", "internal/state", "internal/secret", "internal/version", "internal/httpapi", "internal/procscope"},
}

// nobodyImports: packages only the composition layer may import.
var onlyImportedBy = map[string][]string{
	"internal/cli":    {"cmd/finconnectd"},
	"internal/daemon": {"internal/cli"},
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := strings.TrimPrefix(fields[0], module+"/")
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if allowed, ok := allowedInternal[pkg]; ok && !contains(allowed, dep) {
				t.Errorf("%s imports %s; it may import only %v", pkg, dep, allowed)
			}
			for guarded, importers := range onlyImportedBy {
				if (dep == guarded || strings.HasPrefix(dep, guarded+"/")) && !contains(importers, pkg) && !strings.HasPrefix(pkg, guarded) {
					t.Errorf("%s imports %s; only %v may", pkg, dep, importers)
				}
			}
		}
		// Provider implementations stay independent of each other and of
		// everything above them.
		if strings.HasPrefix(pkg, "internal/providers/") && pkg != "internal/providers/clients" && !strings.HasPrefix(pkg, "internal/providers/contracttest") {
			for _, imp := range fields[1:] {
				dep := strings.TrimPrefix(imp, module+"/")
				if dep == imp {
					continue
				}
				ok := dep == "internal/providers" || dep == "internal/secret" || dep == "internal/version" || dep == "internal/providers/tokencache" || dep == "internal/money" ||
					strings.HasPrefix(dep, "internal/providers/internal/")
				if !ok {
					t.Errorf("%s imports %s; provider packages may import only providers, secret, version, money and tokencache", pkg, dep)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s || (strings.HasSuffix(l, "*") && strings.HasPrefix(s, strings.TrimSuffix(l, "*"))) {
			return true
		}
	}
	return false
}

package daemon

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/openapi"
)

// describedOperations returns "METHOD /path" for every operation of the
// OpenAPI document.
func describedOperations(t *testing.T) []string {
	t.Helper()
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	var ops []string
	for path, item := range doc.Paths {
		for method := range item {
			switch method {
			case "get", "put", "post", "delete", "options", "head", "patch", "trace":
				ops = append(ops, strings.ToUpper(method)+" "+path)
			}
		}
	}
	slices.Sort(ops)
	return ops
}

// TestOpenAPIDescribesEveryRoute: every route the API listener registers
// under /v1 is an operation of the OpenAPI document, and every operation of
// the document is a registered route. A new endpoint fails here until it is
// described in internal/openapi/openapi.json.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	t.Parallel()
	r := startDaemon(t, runOptions{})
	var registered []string
	for _, p := range r.d.apiPatterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			t.Errorf("route %q has no method; API routes name theirs (\"GET /v1/...\")", p)
			continue
		}
		if strings.HasPrefix(path, "/v1/") {
			registered = append(registered, method+" "+path)
		}
	}
	slices.Sort(registered)
	if len(registered) < 7 {
		t.Fatalf("only %d routes recorded (%v): are the APIs still registered through httpapi.Routes?", len(registered), registered)
	}
	described := describedOperations(t)
	for _, op := range registered {
		if !slices.Contains(described, op) {
			t.Errorf("%s is served but not described in internal/openapi/openapi.json", op)
		}
	}
	for _, op := range described {
		if !slices.Contains(registered, op) {
			t.Errorf("internal/openapi/openapi.json describes %s, which the daemon does not serve", op)
		}
	}
}

// TestOpenAPIServed: the document is served without a token, as embedded.
func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	r := startDaemon(t, runOptions{})
	resp, err := http.Get(r.api(openapi.Path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || got["openapi"] != "3.1.0" {
		t.Fatalf("GET %s: %d %s, openapi %v", openapi.Path, resp.StatusCode, resp.Header.Get("Content-Type"), got["openapi"])
	}
}

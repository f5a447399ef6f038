package openapi_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/openapi"
)

// TestOperations: every operation is named, says which scope its token
// needs (or that it needs none), and describes the answers to a missing
// token and a missing scope.
func TestOperations(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string                `json:"operationId"`
			Summary     string                `json:"summary"`
			Security    []map[string][]string `json:"security"`
			Responses   map[string]any        `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document(), &doc); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for path, item := range doc.Paths {
		if !strings.HasPrefix(path, "/v1/") {
			t.Errorf("%s is not under /v1/", path)
		}
		for method, op := range item {
			name := strings.ToUpper(method) + " " + path
			if op.OperationID == "" || op.Summary == "" || ids[op.OperationID] {
				t.Errorf("%s: operationId %q (unique, required) and summary %q", name, op.OperationID, op.Summary)
			}
			ids[op.OperationID] = true
			if len(op.Security) != 1 {
				t.Errorf("%s: security must name exactly one requirement, got %v", name, op.Security)
				continue
			}
			if len(op.Security[0]) == 0 {
				continue // open: no token
			}
			scopes := op.Security[0]["bearerAuth"]
			if len(scopes) != 1 {
				t.Errorf("%s: needs exactly one bearerAuth scope, got %v", name, op.Security[0])
			}
			for _, code := range []string{"401", "403", "default"} {
				if op.Responses[code] == nil {
					t.Errorf("%s: no %s response", name, code)
				}
			}
		}
	}
}

func TestHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	openapi.Handler().ServeHTTP(rec, httptest.NewRequest("GET", openapi.Path, nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" || string(body) != string(openapi.Document()) {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
}

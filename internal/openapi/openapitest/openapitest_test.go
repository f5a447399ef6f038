package openapitest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestValidate: the validator accepts answers the document describes and
// names what is wrong with the others.
func TestValidate(t *testing.T) {
	t.Parallel()
	v, err := New()
	if err != nil {
		t.Fatal(err)
	}
	const payment = `{"id":"pay_1","provider":"clickpesa.tz","reference":"ORDER-1","status":"pending","amount":"1000",` +
		`"currency":"TZS","provider_reference":"","redirect_url":"","created_at":"2026-03-01T10:00:00Z","updated_at":"2026-03-01T10:00:00Z"}`
	problem := http.Header{"Content-Type": {"application/problem+json"}}
	json := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name, method, target string
		status               int
		header               http.Header
		body                 string
		want                 string // in the error; "" = valid
	}{
		{"a problem the document lists", "GET", "/v1/events/evt_1", 404, problem,
			`{"type":"https://finconnectd.dev/problems/not-found","title":"Not Found","status":404,"detail":"No such event."}`, ""},
		{"a status the document does not list", "GET", "/v1/events/evt_1", 418, problem,
			`{"type":"about:blank","title":"Teapot","status":418}`, "does not list"},
		{"a body missing required fields", "GET", "/v1/events", 200, json, `{}`, "does not match"},
		{"a wrong content type", "GET", "/v1/events/evt_1", 404, json, `{"title":"Not Found","status":404}`, "does not match"},
		{"a 201 with its Location", "POST", "/v1/payments", 201, http.Header{"Content-Type": {"application/json"}, "Location": {"/v1/payments/pay_1"}}, payment, ""},
		{"a 201 without its Location", "POST", "/v1/payments", 201, json, payment, "Location"},
		{"outside /v1", "GET", "/healthz", 200, json, `{}`, ""},
		{"no operation", "GET", "/v1/nowhere", 404, problem, `{}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, nil)
			err := v.Validate(r, tt.status, tt.header, []byte(tt.body))
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("valid answer refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

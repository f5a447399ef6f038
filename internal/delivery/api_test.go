package delivery

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/openapi/openapitest"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
)

// settle gives the event's delivery to route one attempt with the given
// outcome, as a worker would.
func (e *env) settle(route, status string, code int, errText string) {
	e.t.Helper()
	ctx := context.Background()
	ds, err := e.st.ClaimDeliveries(ctx, route, "t", e.clk.Now(), time.Minute, 1)
	if err != nil || len(ds) != 1 {
		e.t.Fatalf("claim: %v, %d", err, len(ds))
	}
	r := state.AttemptResult{DeliveryID: ds[0].ID, Owner: "t", Status: status,
		Attempt: state.Attempt{DeliveryID: ds[0].ID, N: 1, At: e.clk.Now(), Duration: 12 * time.Millisecond, StatusCode: code, Error: errText}}
	if status == state.DeliveryPending {
		r.NextAt = e.clk.Now().Add(5 * time.Second)
	}
	if err := e.st.RecordAttempt(ctx, r); err != nil {
		e.t.Fatal(err)
	}
}

// seedEvents: one delivered (route a), one dead (route b), one pending
// after a failure (route a), in that order of creation.
func seedEvents(t *testing.T, e *env) (delivered, dead, pending string) {
	t.Helper()
	delivered = e.enqueue("a")
	e.settle("a", state.DeliveryDelivered, 204, "")
	e.clk.Advance(time.Second)
	dead = e.enqueue("b")
	e.settle("b", state.DeliveryDead, 410, "HTTP 410 Gone")
	e.clk.Advance(time.Second)
	pending = e.enqueue("a")
	e.settle("a", state.DeliveryPending, 500, "HTTP 500 Internal Server Error")
	return
}

func TestEventsAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	delivered, dead, pending := seedEvents(t, e)
	var notified atomic.Int32
	mux := http.NewServeMux()
	RegisterAPI(mux, e.st, e.clk.Now, func() { notified.Add(1) })
	auth := httpapi.NewAuthenticator([]httpapi.Token{
		{Name: "ops", Value: secret.New("ops-token"), Scopes: []string{config.ScopeEvents}},
		{Name: "shop", Value: secret.New("shop-token"), Scopes: []string{config.ScopePayments}},
	})
	srv := httptest.NewServer(openapitest.Check(t, auth.Require(mux)))
	t.Cleanup(srv.Close)

	doAs := func(token, method, path string) (int, string, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	do := func(method, path string) (int, string, []byte) {
		t.Helper()
		return doAs("ops-token", method, path)
	}
	list := func(query string) []DeliveryView {
		t.Helper()
		code, _, b := do("GET", "/v1/events"+query)
		if code != 200 {
			t.Fatalf("GET /v1/events%s: %d %s", query, code, b)
		}
		var out DeliveryList
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatal(err)
		}
		return out.Deliveries
	}
	ids := func(vs []DeliveryView) string {
		var s []string
		for _, v := range vs {
			s = append(s, v.EventID)
		}
		return strings.Join(s, ",")
	}

	t.Run("list", func(t *testing.T) {
		all := list("")
		if got, want := ids(all), pending+","+dead+","+delivered; got != want {
			t.Fatalf("order %s, want newest first %s", got, want)
		}
		p := all[0]
		if p.Status != "pending" || p.Route != "a" || p.Attempts != 1 || p.LastStatusCode != 500 || p.NextAttemptAt == nil ||
			p.EventType != "payment.succeeded" || !strings.HasPrefix(p.PaymentID, "pay_") || p.Provider != "clickpesa.tz" ||
			!strings.HasPrefix(p.ID, "dlv_") {
			t.Errorf("pending delivery %+v", p)
		}
		if all[1].NextAttemptAt != nil {
			t.Errorf("dead delivery has a next attempt")
		}
		if got := ids(list("?status=dead")); got != dead {
			t.Errorf("status=dead: %s", got)
		}
		if got := ids(list("?route=a")); got != pending+","+delivered {
			t.Errorf("route=a: %s", got)
		}
		if got := ids(list("?route=a&status=delivered&limit=5")); got != delivered {
			t.Errorf("route=a&status=delivered: %s", got)
		}
		if got := list("?limit=1"); len(got) != 1 {
			t.Errorf("limit=1: %d", len(got))
		}
		if got := list("?route=nowhere"); got == nil || len(got) != 0 {
			t.Errorf("no match: %v (want an empty list, not null)", got)
		}
	})

	t.Run("events scope", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/v1/events"}, {"GET", "/v1/events/" + dead}, {"POST", "/v1/events/" + dead + "/replay"},
		} {
			code, ct, b := doAs("shop-token", c.method, c.path)
			if code != 403 || ct != "application/problem+json" || !strings.Contains(string(b), `\"events\"`) {
				t.Errorf("%s %s with a payments-only token: %d %s %s", c.method, c.path, code, ct, b)
			}
		}
		if n := notified.Load(); n != 0 {
			t.Errorf("a refused replay woke the workers %d times", n)
		}
	})

	t.Run("bad query", func(t *testing.T) {
		for _, c := range []struct{ query, field string }{
			{"?status=failed", "status"},
			{"?limit=0", "limit"},
			{"?limit=abc", "limit"},
			{"?limit=1001", "limit"},
		} {
			code, ct, b := do("GET", "/v1/events"+c.query)
			var p httpapi.Problem
			_ = json.Unmarshal(b, &p)
			if code != 400 || ct != "application/problem+json" || len(p.Errors) != 1 || p.Errors[0].Field != c.field ||
				!strings.Contains(p.Detail, c.field) {
				t.Errorf("%s: %d %s %s", c.query, code, ct, b)
			}
		}
	})

	t.Run("show", func(t *testing.T) {
		code, _, b := do("GET", "/v1/events/"+pending)
		if code != 200 {
			t.Fatalf("%d %s", code, b)
		}
		var v struct {
			EventView
			Payload map[string]any `json:"payload"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if v.ID != pending || v.Type != "payment.succeeded" || v.Payload["type"] != "payment.succeeded" ||
			len(v.Deliveries) != 1 || len(v.Attempts) != 1 {
			t.Fatalf("event %s", b)
		}
		a := v.Attempts[0]
		if a.Route != "a" || a.N != 1 || a.StatusCode != 500 || a.DurationMS != 12 || a.Error == "" || a.DeliveryID != v.Deliveries[0].ID {
			t.Errorf("attempt %+v", a)
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, c := range []struct{ method, path string }{
			{"GET", "/v1/events/evt_nope"},
			{"POST", "/v1/events/evt_nope/replay"},
		} {
			code, ct, b := do(c.method, c.path)
			if code != 404 || ct != "application/problem+json" || !strings.Contains(string(b), "evt_nope") {
				t.Errorf("%s %s: %d %s %s", c.method, c.path, code, ct, b)
			}
		}
		if notified.Load() != 0 {
			t.Errorf("notify called for an unknown event")
		}
	})

	t.Run("replay", func(t *testing.T) {
		code, _, b := do("POST", "/v1/events/"+dead+"/replay")
		if code != 202 {
			t.Fatalf("%d %s", code, b)
		}
		var v EventView
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		if len(v.Deliveries) != 1 || v.Deliveries[0].Status != "pending" || v.Deliveries[0].Attempts != 0 || len(v.Attempts) != 1 {
			t.Fatalf("after replay: %s", b)
		}
		if notified.Load() != 1 {
			t.Errorf("notify called %d times, want 1", notified.Load())
		}
		if code, _, _ := do("GET", "/v1/events/"+dead+"/replay"); code != http.StatusMethodNotAllowed {
			t.Errorf("GET replay: %d", code)
		}
	})
}

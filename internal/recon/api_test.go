package recon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/openapi/openapitest"
	"github.com/finconnectd/finconnectd/internal/recon"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

const (
	accountantToken = "acct-token-0123456789"
	shopToken       = "shop-token-0123456789"
)

type apiHarness struct {
	t     *testing.T
	store *teststore.Store
	srv   *httptest.Server
}

func newAPIHarness(t *testing.T) *apiHarness {
	t.Helper()
	st := teststore.New(t)
	mux := http.NewServeMux()
	recon.RegisterAPI(mux, recon.APIOptions{Store: st, Now: func() time.Time { return t0.Add(time.Hour) }})
	auth := httpapi.NewAuthenticator([]httpapi.Token{
		{Name: "amina", Value: secret.New(accountantToken), Scopes: []string{config.ScopeReconciliation}},
		{Name: "shop", Value: secret.New(shopToken), Scopes: []string{config.ScopePayments}},
	})
	srv := httptest.NewServer(openapitest.Check(t, auth.Require(mux)))
	t.Cleanup(srv.Close)
	return &apiHarness{t: t, store: st, srv: srv}
}

var t0 = time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)

func (h *apiHarness) do(method, path, token, body string) (int, []byte) {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(context.Background(), method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// seed records a run over a window and, in it, one difference per class
// given, each a second after the previous one; it returns their IDs
// (oldest first).
func (h *apiHarness) seed(provider string, at time.Time, classes ...state.DiffClass) (state.ReconRun, []string) {
	h.t.Helper()
	ctx := context.Background()
	r, _, err := h.store.StartReconRun(ctx, state.ReconStart{Provider: provider, From: at.Add(-24 * time.Hour), To: at,
		Owner: "test", Lease: time.Minute, Now: at})
	if err != nil {
		h.t.Fatal(err)
	}
	var ids []string
	for i, c := range classes {
		now := at.Add(time.Duration(i) * time.Second)
		d := state.Difference{RunID: r.ID, Provider: provider, Class: c, Key: fmt.Sprintf("%s:REF%d", c, i),
			Reference: fmt.Sprintf("REF%d", i), Detail: "seeded", Ours: json.RawMessage(`{"status":"succeeded"}`),
			Theirs: json.RawMessage(`{"status":"FAILED"}`), State: state.DiffOpen, CreatedAt: now, UpdatedAt: now}
		if c == state.DiffStatusDiffers && i == 0 {
			d.State = state.DiffHealed
		}
		got, _, err := h.store.RecordDifference(ctx, d, nil)
		if err != nil {
			h.t.Fatal(err)
		}
		ids = append(ids, got.ID)
	}
	if _, err := h.store.FinishReconRun(ctx, r, state.RunDone, "", at.Add(time.Minute)); err != nil {
		h.t.Fatal(err)
	}
	r, err = h.store.ReconRun(ctx, r.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return r, ids
}

func decodeAs[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// TestAPIListDifferences: filters, cursor pages that walk every
// difference once, and a 400 naming each bad query parameter.
func TestAPIListDifferences(t *testing.T) {
	t.Parallel()
	h := newAPIHarness(t)
	run1, ids1 := h.seed("clickpesa.tz", t0, state.DiffStatusDiffers, state.DiffAmountDiffers, state.DiffUnknownToUs)
	_, ids2 := h.seed("pesapal.ke", t0.Add(time.Hour), state.DiffMissingAtProvider, state.DiffAmountDiffers)
	newestFirst := append(slices.Clone(ids1), ids2...)
	slices.Reverse(newestFirst)

	ids := func(q string) []string {
		t.Helper()
		code, b := h.do("GET", "/v1/reconciliation/differences"+q, accountantToken, "")
		if code != http.StatusOK {
			t.Fatalf("list %s = %d %s", q, code, b)
		}
		var out []string
		for _, d := range decodeAs[recon.DifferenceList](t, b).Differences {
			out = append(out, d.ID)
		}
		return out
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"", newestFirst},
		{"?provider=pesapal.ke", []string{ids2[1], ids2[0]}},
		{"?class=amount_differs", []string{ids2[1], ids1[1]}},
		{"?state=healed", []string{ids1[0]}},
		{"?state=open&provider=clickpesa.tz", []string{ids1[2], ids1[1]}},
		{"?run=" + run1.ID + "&class=unknown_to_us", []string{ids1[2]}},
		{"?provider=azampay.tz", nil},
	}
	for _, tt := range tests {
		if got := ids(tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("list%s = %v, want %v", tt.query, got, tt.want)
		}
	}

	// Pages of two walk all five, each once, in order.
	var walked []string
	q := "?limit=2"
	for range 10 {
		code, b := h.do("GET", "/v1/reconciliation/differences"+q, accountantToken, "")
		if code != http.StatusOK {
			t.Fatalf("page %s = %d %s", q, code, b)
		}
		page := decodeAs[recon.DifferenceList](t, b)
		for _, d := range page.Differences {
			walked = append(walked, d.ID)
		}
		if page.NextCursor == "" {
			break
		}
		q = "?limit=2&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if !slices.Equal(walked, newestFirst) {
		t.Errorf("pages walked %v, want %v", walked, newestFirst)
	}

	bad := []struct {
		query  string
		fields []string
	}{
		{"?class=lost", []string{"class"}},
		{"?state=closed", []string{"state"}},
		{"?limit=0", []string{"limit"}},
		{"?limit=1001", []string{"limit"}},
		{"?limit=ten&state=nope&class=x", []string{"class", "state", "limit"}},
		{"?cursor=not-a-cursor", []string{"cursor"}},
		{"?cursor=" + httpapi.EncodeCursor("dif_gone"), []string{"cursor"}},
	}
	for _, tt := range bad {
		code, b := h.do("GET", "/v1/reconciliation/differences"+tt.query, accountantToken, "")
		p := decodeAs[httpapi.Problem](t, b)
		var fields []string
		for _, e := range p.Errors {
			fields = append(fields, e.Field)
		}
		if code != http.StatusBadRequest || !slices.Equal(fields, tt.fields) {
			t.Errorf("list%s = %d %v, want 400 naming %v", tt.query, code, fields, tt.fields)
		}
	}
}

// TestAPISettleDifference: resolve and acknowledge record the token's
// name and the note; a healed difference, a second resolve, an unknown ID
// and a bad body are refused with what is wrong.
func TestAPISettleDifference(t *testing.T) {
	t.Parallel()
	h := newAPIHarness(t)
	_, ids := h.seed("clickpesa.tz", t0, state.DiffStatusDiffers, state.DiffAmountDiffers, state.DiffUnknownToUs)
	healed, amount, unknown := ids[0], ids[1], ids[2]

	code, b := h.do("POST", "/v1/reconciliation/differences/"+amount+"/resolve", accountantToken, `{"note":"refunded the 100 by hand"}`)
	if code != http.StatusOK {
		t.Fatalf("resolve = %d %s", code, b)
	}
	d := decodeAs[recon.DifferenceData](t, b)
	if d.State != state.DiffResolved || d.By != "amina" || d.Note != "refunded the 100 by hand" || !d.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("resolved = %+v, want resolved by amina with the note at %s", d, t0.Add(time.Hour))
	}
	// No body at all is fine.
	code, b = h.do("POST", "/v1/reconciliation/differences/"+unknown+"/acknowledge", accountantToken, "")
	if d := decodeAs[recon.DifferenceData](t, b); code != http.StatusOK || d.State != state.DiffAcknowledged || d.By != "amina" {
		t.Errorf("acknowledge without a body = %d %s", code, b)
	}
	code, b = h.do("GET", "/v1/reconciliation/differences/"+amount, accountantToken, "")
	if d := decodeAs[recon.DifferenceData](t, b); code != http.StatusOK || d.State != state.DiffResolved || d.By != "amina" || string(d.Theirs) != `{"status":"FAILED"}` {
		t.Errorf("show after resolve = %d %s", code, b)
	}

	refusals := []struct {
		name, method, path, token, body string
		status                          int
		field                           string
	}{
		{"resolve again", "POST", "/v1/reconciliation/differences/" + amount + "/resolve", accountantToken, "", http.StatusConflict, ""},
		{"healed", "POST", "/v1/reconciliation/differences/" + healed + "/acknowledge", accountantToken, "", http.StatusConflict, ""},
		{"unknown id", "POST", "/v1/reconciliation/differences/dif_nope/resolve", accountantToken, "", http.StatusNotFound, ""},
		{"show unknown", "GET", "/v1/reconciliation/differences/dif_nope", accountantToken, "", http.StatusNotFound, ""},
		{"unknown field", "POST", "/v1/reconciliation/differences/" + unknown + "/resolve", accountantToken, `{"by":"someone else"}`, http.StatusUnprocessableEntity, "by"},
		{"long note", "POST", "/v1/reconciliation/differences/" + unknown + "/resolve", accountantToken, `{"note":"` + strings.Repeat("x", recon.MaxNoteLen+1) + `"}`, http.StatusUnprocessableEntity, "note"},
		{"control characters", "POST", "/v1/reconciliation/differences/" + unknown + "/resolve", accountantToken, `{"note":"a\u001b[2Jb"}`, http.StatusUnprocessableEntity, "note"},
		{"malformed", "POST", "/v1/reconciliation/differences/" + unknown + "/resolve", accountantToken, `{"note":`, http.StatusBadRequest, ""},
		{"no token", "POST", "/v1/reconciliation/differences/" + unknown + "/resolve", "", "", http.StatusUnauthorized, ""},
		{"no scope", "POST", "/v1/reconciliation/differences/" + unknown + "/resolve", shopToken, "", http.StatusForbidden, ""},
		{"no scope to read", "GET", "/v1/reconciliation/differences", shopToken, "", http.StatusForbidden, ""},
	}
	for _, tt := range refusals {
		code, b := h.do(tt.method, tt.path, tt.token, tt.body)
		p := decodeAs[httpapi.Problem](t, b)
		if code != tt.status || (tt.field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != tt.field)) {
			t.Errorf("%s: %d %s, want %d (field %q)", tt.name, code, b, tt.status, tt.field)
		}
	}
	// The refusals changed nothing.
	got, err := h.store.Difference(context.Background(), unknown)
	if err != nil || got.State != state.DiffAcknowledged || got.Note != "" {
		t.Errorf("after refusals = %+v %v, want acknowledged without a note", got, err)
	}
}

// TestAPIRuns: runs newest first, by provider, in cursor pages; one run.
func TestAPIRuns(t *testing.T) {
	t.Parallel()
	h := newAPIHarness(t)
	var want []string
	for i, p := range []string{"clickpesa.tz", "pesapal.ke", "clickpesa.tz"} {
		r, _ := h.seed(p, t0.Add(time.Duration(i)*24*time.Hour), state.DiffAmountDiffers)
		want = append([]string{r.ID}, want...)
	}
	var walked []string
	q := "?limit=1"
	for range 10 {
		code, b := h.do("GET", "/v1/reconciliation/runs"+q, accountantToken, "")
		if code != http.StatusOK {
			t.Fatalf("runs%s = %d %s", q, code, b)
		}
		page := decodeAs[recon.RunList](t, b)
		for _, r := range page.Runs {
			walked = append(walked, r.ID)
			if r.Status != state.RunDone || r.FinishedAt == nil || !r.To.After(r.From) {
				t.Errorf("run %+v: want done with its window and end", r)
			}
		}
		if page.NextCursor == "" {
			break
		}
		q = "?limit=1&cursor=" + url.QueryEscape(page.NextCursor)
	}
	if !slices.Equal(walked, want) {
		t.Errorf("runs walked %v, want %v", walked, want)
	}
	code, b := h.do("GET", "/v1/reconciliation/runs?provider=pesapal.ke", accountantToken, "")
	if l := decodeAs[recon.RunList](t, b); code != http.StatusOK || len(l.Runs) != 1 || l.Runs[0].ID != want[1] {
		t.Errorf("pesapal runs = %d %s, want [%s]", code, b, want[1])
	}
	code, b = h.do("GET", "/v1/reconciliation/runs/"+want[0], accountantToken, "")
	if r := decodeAs[recon.RunView](t, b); code != http.StatusOK || r.ID != want[0] || r.Provider != "clickpesa.tz" {
		t.Errorf("show run = %d %s", code, b)
	}
	if bytes.Contains(b, []byte(`"owner"`)) {
		t.Errorf("a run shows its lease owner (a process name): %s", b)
	}
	for q, status := range map[string]int{
		"/v1/reconciliation/runs/rcn_nope":                                        http.StatusNotFound,
		"/v1/reconciliation/runs?limit=-1":                                        http.StatusBadRequest,
		"/v1/reconciliation/runs?cursor=" + httpapi.EncodeCursor("rcn_gone"):      http.StatusBadRequest,
		"/v1/reconciliation/runs?cursor=" + url.QueryEscape("c1:plain-text-here"): http.StatusBadRequest,
	} {
		if code, b := h.do("GET", q, accountantToken, ""); code != status {
			t.Errorf("GET %s = %d %s, want %d", q, code, b, status)
		}
	}
}

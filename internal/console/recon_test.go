package console

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// reconRun records a finished run of clickpesa.tz over the day from and
// the differences given, and returns them as stored.
func (h *harness) reconRun(from time.Time, diffs ...state.Difference) (state.ReconRun, []state.Difference) {
	h.t.Helper()
	ctx := context.Background()
	now := h.clk.Now()
	run, _, err := h.st.StartReconRun(ctx, state.ReconStart{Provider: "clickpesa.tz", From: from, To: from.AddDate(0, 0, 1),
		Owner: "test", Lease: time.Minute, Now: now})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []state.Difference
	for i, d := range diffs {
		d.RunID, d.Provider = run.ID, "clickpesa.tz"
		d.CreatedAt = now.Add(time.Duration(i) * time.Second)
		got, _, err := h.st.RecordDifference(ctx, d, nil)
		if err != nil {
			h.t.Fatal(err)
		}
		out = append(out, got)
	}
	run.Counters = state.ReconCounters{OurPayments: 40, ProviderItems: 41, Matched: 38, Differences: len(diffs)}
	if err := h.st.CheckpointReconRun(ctx, run, time.Minute, now); err != nil {
		h.t.Fatal(err)
	}
	if run, err = h.st.FinishReconRun(ctx, run, state.RunDone, "", now); err != nil {
		h.t.Fatal(err)
	}
	return run, out
}

const theirJSON = `{"id":"CPTX9","orderReference":"ORDER-D1","status":"SUCCESS","collectedAmount":"1000","customer":{"customerPhoneNumber":"255712345678"},"clientId":"ID-of-the-shop","checksum":"c4f3b2a1deadbeef"}`

func TestDifferencesPages(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	day := time.Date(2026, 2, 27, 0, 0, 0, 0, time.UTC)
	_, diffs := h.reconRun(day,
		state.Difference{Class: state.DiffUnknownToUs, Key: "unknown:CPTX9", Reference: "ORDER-D1", ProviderTxn: "CPTX9",
			Detail: "the provider holds a transaction we never started", Theirs: []byte(theirJSON)},
		state.Difference{Class: state.DiffAmountDiffers, Key: "amount:ORDER-D2", Reference: "ORDER-D2", PaymentID: "pay_d2",
			Detail: "we hold 1000 TZS, the provider 900 TZS", Ours: []byte(`{"payment_id":"pay_d2","amount":"1000","phone":"255712345678"}`),
			Theirs: []byte(`{"amount":900,"msisdn":255712345678}`)},
	)
	unknown, amount := diffs[0], diffs[1]
	_, later := h.reconRun(day.AddDate(0, 0, 2), state.Difference{Class: state.DiffStuckUnknown, Key: "stuck:ORDER-D3", Reference: "ORDER-D3",
		Detail: "still unknown"})

	b := h.browser()
	b.signIn(readToken)
	tests := []struct {
		path string
		code int
		want []string
		not  []string
	}{
		{"/console/differences", 200, []string{"3 difference(s)", "ORDER-D1", "ORDER-D2", "ORDER-D3", "unknown to us", "amount differs",
			"Latest reconciliation runs", ">2026-02-27<", ">41<"}, nil},
		{"/console/differences?class=amount_differs", 200, []string{"ORDER-D2"}, []string{"ORDER-D1", "ORDER-D3"}},
		{"/console/differences?state=open&provider=clickpesa.tz", 200, []string{"ORDER-D1", "ORDER-D2", "ORDER-D3"}, nil},
		{"/console/differences?state=resolved", 200, []string{"No difference matches"}, []string{"ORDER-D1"}},
		{"/console/differences?provider=pesapal.ke", 200, []string{"No difference matches", "No reconciliation has run yet"}, []string{"ORDER-D1"}},
		{"/console/differences?from=2026-02-27&to=2026-02-27", 200, []string{"ORDER-D1", "ORDER-D2"}, []string{"ORDER-D3"}},
		{"/console/differences?from=2026-03-01", 200, []string{"ORDER-D3"}, []string{"ORDER-D1"}},
		{"/console/differences?run=" + later[0].RunID, 200, []string{"ORDER-D3", "Only the differences run"}, []string{"ORDER-D1"}},
		{"/console/differences?class=lost", 200, []string{"Unknown class", `aria-invalid="true"`}, []string{"ORDER-D1"}},
		{"/console/differences?state=gone", 200, []string{"Unknown state"}, []string{"ORDER-D1"}},
		{"/console/differences?from=yesterday", 200, []string{"YYYY-MM-DD"}, []string{"ORDER-D1"}},
		{"/console/differences?from=2026-03-02&to=2026-03-01", 200, []string{"ends before it starts"}, []string{"ORDER-D1"}},
		{"/console/differences?after=dif_nope", 200, []string{"start again from the first page"}, []string{"ORDER-D1"}},
		{"/console/differences/" + unknown.ID, 200, []string{"ORDER-D1", "CPTX9", "unknown to us", "none: we hold no payment", "We hold no payment for it.",
			`&#34;status&#34;: &#34;SUCCESS&#34;`, MaskPhone(testPhone), "(hidden)", "needs a token with the console:operate scope"},
			[]string{testPhone, "ID-of-the-shop", "c4f3b2a1deadbeef", `id="resolve"`}},
		{"/console/differences/" + amount.ID, 200, []string{`href="/console/payments/pay_d2"`, "Our record", `&#34;amount&#34;: 900`, MaskPhone(testPhone)},
			[]string{testPhone}},
		{"/console/differences/dif_nope", 404, []string{"no such item"}, nil},
	}
	for _, tt := range tests {
		code, page := b.get(tt.path)
		if code != tt.code {
			t.Errorf("%s: %d", tt.path, code)
		}
		for _, w := range tt.want {
			if !strings.Contains(page, w) {
				t.Errorf("%s: no %q", tt.path, w)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(page, w) {
				t.Errorf("%s: %q should not be there", tt.path, w)
			}
		}
	}
}

func TestResolveDifference(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	_, diffs := h.reconRun(time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC),
		state.Difference{Class: state.DiffMissingAtProvider, Key: "missing:ORDER-R1", Reference: "ORDER-R1", Detail: "the provider has no record"},
		state.Difference{Class: state.DiffStatusDiffers, Key: "status:ORDER-R2", Reference: "ORDER-R2", Detail: "we say failed, they say pending"},
		state.Difference{Class: state.DiffStuckUnknown, Key: "stuck:ORDER-R3", Reference: "ORDER-R3", Detail: "healed", State: state.DiffHealed},
	)
	missing, differs, healed := diffs[0], diffs[1], diffs[2]
	stateOf := func(id string) state.Difference {
		t.Helper()
		d, err := h.st.Difference(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	reader := h.browser()
	reader.signIn(readToken)
	_, page := reader.get("/console/differences/" + missing.ID)
	code, body := reader.post("/console/differences/"+missing.ID+"/resolve", url.Values{"csrf": {csrfOf(t, page)}, "note": {"called them"}})
	if code != 403 || !strings.Contains(body, "console:operate") || stateOf(missing.ID).State != state.DiffOpen {
		t.Errorf("read-only resolve: %d, state %s", code, stateOf(missing.ID).State)
	}

	op := h.browser()
	op.signIn(operateToken)
	_, page = op.get("/console/differences/" + missing.ID)
	for _, w := range []string{`id="resolve"`, `id="acknowledge"`, `<label for="note"`} {
		if !strings.Contains(page, w) {
			t.Errorf("operator's difference page: no %q", w)
		}
	}
	if code, _ := op.post("/console/differences/"+missing.ID+"/resolve", url.Values{"note": {"x"}}); code != 403 || stateOf(missing.ID).State != state.DiffOpen {
		t.Errorf("resolve without CSRF token: %d", code)
	}
	csrf := csrfOf(t, page)
	tests := []struct {
		name, id, action, note string
		code                   int
		want                   string
		state                  string
	}{
		{"resolve", missing.ID, "resolve", "refunded the customer by hand", 200, "Resolved: the difference is closed", state.DiffResolved},
		{"resolve again", missing.ID, "resolve", "", 409, "This difference is resolved", state.DiffResolved},
		{"acknowledge", differs.ID, "acknowledge", "known PesaPal delay", 200, "Acknowledged", state.DiffAcknowledged},
		{"resolve an acknowledged one", differs.ID, "resolve", "settled", 200, "Resolved", state.DiffResolved},
		{"healed", healed.ID, "resolve", "", 409, "This difference is healed", state.DiffHealed},
		{"note too long", healed.ID, "acknowledge", strings.Repeat("n", 1001), 400, "at most 1,000 bytes", state.DiffHealed},
		{"unknown", "dif_nope", "resolve", "", 404, "no such item", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := op.post("/console/differences/"+tt.id+"/"+tt.action, url.Values{"csrf": {csrf}, "note": {tt.note}})
			if code != tt.code || !strings.Contains(body, tt.want) {
				t.Errorf("%d, want %d with %q:\n%s", code, tt.code, tt.want, body)
			}
			if tt.state == "" {
				return
			}
			d := stateOf(tt.id)
			if d.State != tt.state {
				t.Errorf("state %s, want %s", d.State, tt.state)
			}
			if tt.code == 200 && (d.By != "oncall" || d.Note != tt.note) {
				t.Errorf("recorded by %q with note %q", d.By, d.Note)
			}
		})
	}
	if !strings.Contains(h.logs.String(), "console: difference resolved") || !strings.Contains(h.logs.String(), "who=oncall") {
		t.Errorf("the resolution is not logged with who did it:\n%s", h.logs.String())
	}
	_, page = op.get("/console/differences/" + missing.ID)
	for _, w := range []string{"Resolved by", "oncall", "refunded the customer by hand"} {
		if !strings.Contains(page, w) {
			t.Errorf("resolved difference's page: no %q", w)
		}
	}
	if strings.Contains(page, `id="resolve"`) {
		t.Error("a resolved difference still offers the Resolve button")
	}
}

func TestEvidence(t *testing.T) {
	tests := []struct{ in, want string }{
		{``, ``},
		{`{"phone":"255712345678","checksum":"abc","amount":1000}`, "{\n  \"amount\": 1000,\n  \"checksum\": \"(hidden)\",\n  \"phone\": \"2557••••••78\"\n}"},
		{`{"msisdn":255712345678,"ClientID":"x","api_key":"k","user":"u","nested":[{"Token":"t"}]}`,
			"{\n  \"ClientID\": \"(hidden)\",\n  \"api_key\": \"(hidden)\",\n  \"msisdn\": \"2557••••••78\",\n  \"nested\": [\n    {\n      \"Token\": \"(hidden)\"\n    }\n  ],\n  \"user\": \"(hidden)\"\n}"},
		{`{"<b>":"&"}`, "{\n  \"<b>\": \"&\"\n}"},
		{`not json 255712345678 signature=xyz`, `not json 2557••••••78 signature="(hidden)"`},
	}
	for _, tt := range tests {
		if got := evidence([]byte(tt.in)); got != tt.want {
			t.Errorf("evidence(%s) =\n%s\nwant\n%s", tt.in, got, tt.want)
		}
	}
}

func TestSpan(t *testing.T) {
	d := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		from, to time.Time
		want     string
	}{
		{d, d.AddDate(0, 0, 1), "2026-03-01"},
		{d, d.AddDate(0, 0, 3), "2026-03-01 – 2026-03-03"},
		{d.Add(time.Hour), d.Add(2 * time.Hour), "2026-03-01 01:00:00Z – 2026-03-01 02:00:00Z"},
	} {
		if got := span(tt.from, tt.to); got != tt.want {
			t.Errorf("span(%v, %v) = %q, want %q", tt.from, tt.to, got, tt.want)
		}
	}
}

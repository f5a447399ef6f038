package payouts

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/state"
)

// problemBody is a problem answer's type and field errors.
type problemBody struct {
	Type   string `json:"type"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

func decodeProblem(t testing.TB, r response) problemBody {
	t.Helper()
	var p problemBody
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatalf("decode problem %s: %v", r.body, err)
	}
	return p
}

func (p problemBody) names(field, msg string) bool {
	for _, e := range p.Errors {
		if e.Field == field && strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}

// previews counts the preview calls the emulator received for a reference.
func (h *harness) previews(reference string) int {
	n := 0
	for _, r := range h.emu.Requests() {
		if strings.HasSuffix(r.Path, "/payouts/preview-mobile-money-payout") && strings.Contains(r.Body, `"`+reference+`"`) {
			n++
		}
	}
	return n
}

// TestGuardrails: a payout over max_per_payout, over what is left of
// max_per_24h, or to a number the allow-list leaves out is a 422 naming
// the field (and the allowance left); nothing is stored or sent, not even
// a preview, and each refusal is audited.
func TestGuardrails(t *testing.T) {
	h := newHarness(t, harnessOptions{payouts: config.PayoutsConfig{
		AllowedPhonePrefixes: []string{"2557"},
		Limits:               []config.PayoutLimit{{Currency: "TZS", MaxPerPayout: "3000", MaxPer24h: "5000"}},
	}})
	if r := h.payout("", payoutBody("LIM1", "0712345670", "3000")); r.status != http.StatusCreated {
		t.Fatalf("payout at max_per_payout: %d %s", r.status, r.body)
	}
	tests := []struct {
		name, ref, phone, amount string
		field, msg               string
	}{
		{"over max_per_payout", "LIM2", "0712345670", "3000.01", "amount", "limit of 3000 per payout"},
		{"over what is left of max_per_24h", "LIM3", "0712345670", "2500", "amount", "2000 left"},
		{"destination not allowed", "LIM4", "0612345670", "10", "destination.phone", "255612345670 is not an allowed destination"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := h.payout("key-"+tc.ref, payoutBody(tc.ref, tc.phone, tc.amount))
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("%d %s, want 422", r.status, r.body)
			}
			if p := decodeProblem(t, r); !p.names(tc.field, tc.msg) {
				t.Errorf("answer %s does not name %s with %q", r.body, tc.field, tc.msg)
			}
			if _, err := h.store.PayoutByReference(context.Background(), "clickpesa.tz", tc.ref); err == nil {
				t.Error("the refused payout was stored")
			}
			if n := h.previews(tc.ref) + h.creates(tc.ref); n != 0 {
				t.Errorf("the provider was asked %d times about a refused payout", n)
			}
		})
	}
	if r := h.payout("", payoutBody("LIM5", "0712345670", "2000")); r.status != http.StatusCreated {
		t.Fatalf("payout up to max_per_24h: %d %s", r.status, r.body)
	}
	var refused int
	for _, e := range h.audit() {
		if e.Result == "refused" && e.Token == "finance" {
			refused++
		}
	}
	if refused != len(tests) {
		t.Errorf("%d refusals audited, want %d", refused, len(tests))
	}
}

// TestConcurrentPayoutsAgainstCap: twenty payouts of 1000 at once against
// max_per_24h 10000: ten are sent, ten refused with what is left, and the
// payouts stored never add up to more than the cap.
func TestConcurrentPayoutsAgainstCap(t *testing.T) {
	h := newHarness(t, harnessOptions{payouts: config.PayoutsConfig{
		Limits: []config.PayoutLimit{{Currency: "TZS", MaxPer24h: "10000"}},
	}})
	var (
		wg               sync.WaitGroup
		mu               sync.Mutex
		created, limited int
		others           []string
	)
	start := make(chan struct{})
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := h.payout("", payoutBody(fmt.Sprintf("CAP%d", i), "0712345670", "1000"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case r.status == http.StatusCreated:
				created++
			case r.status == http.StatusUnprocessableEntity && decodeProblem(t, r).Type == "urn:finconnectd:problem:payout-limit":
				limited++
			default:
				others = append(others, fmt.Sprintf("%d %s", r.status, r.body))
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(others) > 0 {
		t.Fatalf("unexpected answers: %v", others)
	}
	if created != 10 || limited != 10 {
		t.Errorf("created %d, refused %d; want 10 and 10", created, limited)
	}
	ps, err := h.store.ListPayouts(context.Background(), state.PayoutFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 10 {
		t.Errorf("%d payouts stored, want 10", len(ps))
	}
}

// TestScopesAndAuditAPI: a collect-only token cannot pay out (403, and the
// refusal is audited with its name); the audit trail is read with the
// audit scope only.
func TestScopesAndAuditAPI(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	if r := h.doAs(shopToken, "POST", "/v1/payouts", "", payoutBody("SCOPE1", "0712345670", "1000")); r.status != http.StatusForbidden {
		t.Fatalf("collect-only token: %d %s, want 403", r.status, r.body)
	}
	if r := h.doAs(shopToken, "GET", "/v1/payouts", "", nil); r.status != http.StatusForbidden {
		t.Errorf("collect-only token lists payouts: %d", r.status)
	}
	if n := h.previews("SCOPE1") + h.creates("SCOPE1"); n != 0 {
		t.Errorf("a refused token reached the provider %d times", n)
	}
	ok := h.payout("", payoutBody("SCOPE2", "0712345670", "1000"))
	if ok.status != http.StatusCreated {
		t.Fatalf("finance token: %d %s", ok.status, ok.body)
	}
	if r := h.do("GET", "/v1/audit", "", nil); r.status != http.StatusForbidden {
		t.Errorf("the payouts scope reads the audit trail: %d", r.status)
	}
	r := h.doAs(auditToken, "GET", "/v1/audit?action=payout.create", "", nil)
	var list struct{ Entries []AuditEntry }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &list) != nil {
		t.Fatalf("audit: %d %s", r.status, r.body)
	}
	if len(list.Entries) != 2 {
		t.Fatalf("audit entries %+v, want 2", list.Entries)
	}
	created, refused := list.Entries[0], list.Entries[1]
	if created.Token != "finance" || created.Result != "created" || created.Status != 201 || created.Subject != ok.object(t)["id"] || created.Request == nil {
		t.Errorf("created entry %+v", created)
	}
	if refused.Token != "shop" || refused.Result != "refused" || refused.Status != 403 || !strings.Contains(refused.Detail, "payouts") {
		t.Errorf("refused entry %+v", refused)
	}
	if strings.Contains(string(r.body), financeToken) || strings.Contains(string(r.body), shopToken) {
		t.Error("the audit trail shows a token's value")
	}
	byToken := h.doAs(auditToken, "GET", "/v1/audit?token=shop", "", nil)
	if err := json.Unmarshal(byToken.body, &list); err != nil || len(list.Entries) != 1 {
		t.Errorf("by token: %s", byToken.body)
	}
	if r := h.doAs(auditToken, "GET", "/v1/audit?action=delete", "", nil); r.status != http.StatusBadRequest {
		t.Errorf("bad action filter: %d", r.status)
	}
}

package payments

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/sandbox"
)

// TestConcurrentPaymentsShareOneTokenRefresh: 100 payments at once on an
// expired token make exactly one token request per provider.
func TestConcurrentPaymentsShareOneTokenRefresh(t *testing.T) {
	t.Parallel()
	cases := []struct {
		provider, tokenPath string
	}{
		{"pesapal.ke", "/pesapal/api/Auth/RequestToken"},
		{"clickpesa.tz", "/clickpesa/third-parties/generate-token"},
		{"azampay.tz", "/azampay-auth/AppRegistration/GenerateToken"},
	}
	for _, c := range cases {
		t.Run(c.provider, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, harnessOptions{clocked: true, settings: sandbox.Settings{Delay: sandbox.Duration(time.Hour)}})
			if r := h.pay("", paymentBody(c.provider, "WARMUP1", phoneFor(c.provider, 0))); r.status != http.StatusCreated {
				t.Fatalf("warm-up: %d %s", r.status, r.body)
			}
			before := h.countPath(c.tokenPath)
			if before < 1 {
				t.Fatalf("no token request seen at %s", c.tokenPath)
			}
			h.clock.Advance(25 * time.Hour) // every provider's token has expired
			var wg sync.WaitGroup
			codes := make([]int, 100)
			for i := range codes {
				wg.Go(func() {
					codes[i] = h.pay("", paymentBody(c.provider, fmt.Sprintf("CONC%d", i), phoneFor(c.provider, 0))).status
				})
			}
			wg.Wait()
			for i, code := range codes {
				if code != http.StatusCreated {
					t.Fatalf("payment %d: status %d", i, code)
				}
			}
			if got := h.countPath(c.tokenPath) - before; got != 1 {
				t.Fatalf("token requests for 100 concurrent payments = %d, want 1", got)
			}
		})
	}
}

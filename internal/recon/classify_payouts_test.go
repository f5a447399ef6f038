package recon

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/state"
)

// TestClassifyPayout: every pair of our payout status and ClickPesa's,
// the money checks (what the receiver gets, or the total debited less the
// fee), and what may be healed: only what the payouts' own transition
// rule accepts from a status query.
func TestClassifyPayout(t *testing.T) {
	t.Parallel()
	ours := func(st string) *state.Payout {
		return &state.Payout{Reference: "PO1", Status: st, Amount: "1000", Fee: "47.10", Currency: "TZS", ProviderReference: "PAYX"}
	}
	theirs := func(st string) clickpesa.Payout {
		return clickpesa.Payout{ID: "PAYX", OrderReference: "PO1", Status: st, Amount: "1047.10", Fee: "47.10", Currency: "TZS", OrderAmount: "1000.00"}
	}
	with := func(p clickpesa.Payout, f func(*clickpesa.Payout)) clickpesa.Payout {
		f(&p)
		return p
	}
	tests := []struct {
		name   string
		ours   *state.Payout
		theirs clickpesa.Payout
		class  state.DiffClass
		heal   bool
		want   string
	}{
		{"both succeeded", ours(state.PayoutSucceeded), theirs("SUCCESS"), "", false, state.PayoutSucceeded},
		{"both pending", ours(state.PayoutPending), theirs("AUTHORIZED"), "", false, state.PayoutPending},
		{"both failed (refunded to the balance)", ours(state.PayoutFailed), theirs("REFUNDED"), "", false, state.PayoutFailed},
		{"both reversed", ours(state.PayoutReversed), theirs("REVERSED"), "", false, state.PayoutReversed},

		{"lost webhook: pending, provider succeeded", ours(state.PayoutPending), theirs("SUCCESS"), state.DiffStatusDiffers, true, state.PayoutSucceeded},
		{"pending, provider failed", ours(state.PayoutPending), theirs("FAILED"), state.DiffStatusDiffers, true, state.PayoutFailed},
		{"pending, provider reversed", ours(state.PayoutPending), theirs("REVERSED"), state.DiffStatusDiffers, true, state.PayoutReversed},
		{"unknown, provider succeeded", ours(state.PayoutUnknown), theirs("SUCCESS"), state.DiffStatusDiffers, true, state.PayoutSucceeded},
		{"unknown, provider refunded", ours(state.PayoutUnknown), theirs("REFUNDED"), state.DiffStatusDiffers, true, state.PayoutFailed},
		{"failed, provider succeeded", ours(state.PayoutFailed), theirs("SUCCESS"), state.DiffStatusDiffers, true, state.PayoutSucceeded},
		{"succeeded, provider reversed", ours(state.PayoutSucceeded), theirs("REVERSED"), state.DiffReversedAfterSuccess, true, state.PayoutReversed},

		{"unknown, provider still processing", ours(state.PayoutUnknown), theirs("PROCESSING"), state.DiffStuckUnknown, false, state.PayoutPending},
		{"succeeded, provider refunded it", ours(state.PayoutSucceeded), theirs("REFUNDED"), state.DiffStatusDiffers, false, state.PayoutFailed},
		{"succeeded, provider pending", ours(state.PayoutSucceeded), theirs("AUTHORIZED"), state.DiffStatusDiffers, false, state.PayoutPending},
		{"failed, provider reversed", ours(state.PayoutFailed), theirs("REVERSED"), state.DiffStatusDiffers, false, state.PayoutReversed},
		{"reversed, provider succeeded", ours(state.PayoutReversed), theirs("SUCCESS"), state.DiffStatusDiffers, false, state.PayoutSucceeded},

		{"amount differs", ours(state.PayoutPending), with(theirs("SUCCESS"), func(p *clickpesa.Payout) { p.OrderAmount = "900.00" }), state.DiffAmountDiffers, false, state.PayoutSucceeded},
		{"currency differs", ours(state.PayoutSucceeded), with(theirs("SUCCESS"), func(p *clickpesa.Payout) { p.Currency = "USD" }), state.DiffAmountDiffers, false, state.PayoutSucceeded},
		{"only the total: amount plus fee", ours(state.PayoutPending), with(theirs("SUCCESS"), func(p *clickpesa.Payout) { p.OrderAmount = "" }), state.DiffStatusDiffers, true, state.PayoutSucceeded},
		{"only the total, and it is off", ours(state.PayoutSucceeded), with(theirs("SUCCESS"), func(p *clickpesa.Payout) { p.OrderAmount, p.Amount = "", "1100.00" }), state.DiffAmountDiffers, false, state.PayoutSucceeded},
		{"failed at the provider with another amount: nothing moved", ours(state.PayoutFailed), with(theirs("FAILED"), func(p *clickpesa.Payout) { p.OrderAmount = "1" }), "", false, state.PayoutFailed},

		{"another payout of the reference", ours(state.PayoutPending), with(theirs("SUCCESS"), func(p *clickpesa.Payout) { p.ID = "PAYY" }), "", false, state.PayoutSucceeded},
		{"we hold none", nil, theirs("SUCCESS"), state.DiffUnknownToUs, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := classifyPayout(tt.ours, tt.theirs)
			if v.Class != tt.class || v.Heal != tt.heal || v.Want != tt.want {
				t.Errorf("classifyPayout = %+v, want class %q heal %v want %q", v, tt.class, tt.heal, tt.want)
			}
		})
	}
}

// TestClassifyPayoutMissing: our payout the provider has no record of.
func TestClassifyPayoutMissing(t *testing.T) {
	t.Parallel()
	for status, want := range map[string]state.DiffClass{
		state.PayoutFailed:    "",
		state.PayoutUnknown:   state.DiffStuckUnknown,
		state.PayoutPending:   state.DiffMissingAtProvider,
		state.PayoutSucceeded: state.DiffMissingAtProvider,
		state.PayoutReversed:  state.DiffMissingAtProvider,
	} {
		if got := classifyPayoutMissing(state.Payout{Status: status}); got != want {
			t.Errorf("%s: %q, want %q", status, got, want)
		}
	}
}

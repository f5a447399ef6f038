package recon

import (
	"testing"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/state"
)

// TestClassify: every pair of our status and the provider's, the amount
// and currency checks, and what may be healed.
func TestClassify(t *testing.T) {
	t.Parallel()
	ours := func(st state.PaymentStatus) *state.Payment {
		return &state.Payment{Reference: "R1", Status: st, Amount: "1000", Currency: "TZS", ProviderReference: "TX1"}
	}
	theirs := func(st providers.Status) providers.PaymentStatus {
		return providers.PaymentStatus{Status: st, Reference: "R1", ProviderReference: "TX1", Amount: "1000", Currency: "TZS"}
	}
	with := func(ps providers.PaymentStatus, f func(*providers.PaymentStatus)) providers.PaymentStatus {
		f(&ps)
		return ps
	}
	const (
		pending   = state.StatusPending
		unknown   = state.StatusUnknown
		succeeded = state.StatusSucceeded
		failed    = state.StatusFailed
		reversed  = state.StatusReversed
	)
	tests := []struct {
		name   string
		ours   *state.Payment
		theirs providers.PaymentStatus
		class  state.DiffClass
		heal   bool
	}{
		{"both succeeded", ours(succeeded), theirs(providers.StatusSucceeded), "", false},
		{"both pending", ours(pending), theirs(providers.StatusPending), "", false},
		{"both failed", ours(failed), theirs(providers.StatusFailed), "", false},
		{"both reversed", ours(reversed), theirs(providers.StatusReversed), "", false},
		{"refunded: the provider still says succeeded", ours(state.StatusRefunded), theirs(providers.StatusSucceeded), "", false},
		{"partially refunded: the provider says reversed", ours(state.StatusPartiallyRefunded), theirs(providers.StatusReversed), "", false},

		{"lost notification: pending, provider succeeded", ours(pending), theirs(providers.StatusSucceeded), state.DiffStatusDiffers, true},
		{"pending, provider failed", ours(pending), theirs(providers.StatusFailed), state.DiffStatusDiffers, true},
		{"unknown, provider succeeded", ours(unknown), theirs(providers.StatusSucceeded), state.DiffStatusDiffers, true},
		{"unknown, provider failed", ours(unknown), theirs(providers.StatusFailed), state.DiffStatusDiffers, true},
		{"failed, provider succeeded", ours(failed), theirs(providers.StatusSucceeded), state.DiffStatusDiffers, true},
		{"succeeded, provider reversed", ours(succeeded), theirs(providers.StatusReversed), state.DiffReversedAfterSuccess, true},

		{"unknown, provider still pending", ours(unknown), theirs(providers.StatusPending), state.DiffStuckUnknown, false},
		{"succeeded, provider failed", ours(succeeded), theirs(providers.StatusFailed), state.DiffStatusDiffers, false},
		{"succeeded, provider pending", ours(succeeded), theirs(providers.StatusPending), state.DiffStatusDiffers, false},
		{"failed, provider reversed", ours(failed), theirs(providers.StatusReversed), state.DiffStatusDiffers, false},
		{"pending, provider reversed", ours(pending), theirs(providers.StatusReversed), state.DiffStatusDiffers, false},
		{"reversed, provider succeeded", ours(reversed), theirs(providers.StatusSucceeded), state.DiffStatusDiffers, false},
		{"refunded, provider failed", ours(state.StatusRefunded), theirs(providers.StatusFailed), state.DiffStatusDiffers, false},

		{"settled with another amount", ours(pending), with(theirs(providers.StatusSucceeded), func(p *providers.PaymentStatus) { p.Amount = "900" }), state.DiffAmountDiffers, false},
		{"succeeded both, amounts differ", ours(succeeded), with(theirs(providers.StatusSucceeded), func(p *providers.PaymentStatus) { p.Amount = "1000.01" }), state.DiffAmountDiffers, false},
		{"reversed with another amount", ours(succeeded), with(theirs(providers.StatusReversed), func(p *providers.PaymentStatus) { p.Amount = "10" }), state.DiffAmountDiffers, false},
		{"another currency", ours(pending), with(theirs(providers.StatusSucceeded), func(p *providers.PaymentStatus) { p.Currency = "KES" }), state.DiffAmountDiffers, false},
		{"same amount written otherwise", ours(pending), with(theirs(providers.StatusSucceeded), func(p *providers.PaymentStatus) { p.Amount = "1000.00" }), state.DiffStatusDiffers, true},
		{"currency in lower case", ours(succeeded), with(theirs(providers.StatusSucceeded), func(p *providers.PaymentStatus) { p.Currency = "tzs" }), "", false},
		{"amount not stated", ours(pending), with(theirs(providers.StatusSucceeded), func(p *providers.PaymentStatus) { p.Amount = "" }), state.DiffStatusDiffers, true},
		{"failed with another amount: not money moved", ours(pending), with(theirs(providers.StatusFailed), func(p *providers.PaymentStatus) { p.Amount = "5" }), state.DiffStatusDiffers, true},

		{"a transaction we never started", nil, theirs(providers.StatusSucceeded), state.DiffUnknownToUs, false},
		{"another transaction of our reference", ours(succeeded), with(theirs(providers.StatusFailed), func(p *providers.PaymentStatus) { p.ProviderReference = "TX2" }), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := classify(tt.ours, tt.theirs)
			if v.Class != tt.class || v.Heal != tt.heal {
				t.Errorf("classify = class %q heal %v, want class %q heal %v", v.Class, v.Heal, tt.class, tt.heal)
			}
			if v.Heal && v.Want != state.PaymentStatus(tt.theirs.Status) {
				t.Errorf("heals to %q, want the provider's %q", v.Want, tt.theirs.Status)
			}
		})
	}
}

// TestClassifyMissing: what a payment of ours the provider has no record
// of is.
func TestClassifyMissing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status state.PaymentStatus
		want   state.DiffClass
	}{
		{state.StatusFailed, ""},
		{state.StatusUnknown, state.DiffStuckUnknown},
		{state.StatusPending, state.DiffMissingAtProvider},
		{state.StatusSucceeded, state.DiffMissingAtProvider},
		{state.StatusReversed, state.DiffMissingAtProvider},
		{state.StatusRefunded, state.DiffMissingAtProvider},
	}
	for _, tt := range tests {
		if got := classifyMissing(state.Payment{Status: tt.status}); got != tt.want {
			t.Errorf("%s absent at the provider = %q, want %q", tt.status, got, tt.want)
		}
	}
}

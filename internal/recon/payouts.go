package recon

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/money"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/state"
)

// ClickPesa payouts: after the payments, the provider's list of payouts
// of the window both ways, as for payments.
const (
	phasePayoutList = "provider_payouts"
	phasePayoutOurs = "our_payouts"
)

// payoutKey keeps a payout's difference keys apart from a payment's of the
// same reference.
func payoutKey(parts ...string) string { return "payout:" + strings.Join(parts, ":") }

func (x *run) clickpesaPayouts(ctx context.Context, c *clickpesa.Client, phase string) error {
	if phase == phasePayoutList {
		skip, _ := strconv.Atoi(x.r.Cursor)
		err := c.ListPayouts(ctx, clickpesa.ListOptions{From: x.r.From, To: x.r.To, Skip: skip, PageSize: x.e.o.PageSize},
			func(p clickpesa.PayoutPage) error {
				x.r.Counters.ProviderCalls++
				x.r.Counters.PayoutTotal = p.TotalCount
				if err := x.payoutPage(ctx, p.Items); err != nil {
					return err
				}
				return x.checkpoint(ctx, phasePayoutList, strconv.Itoa(p.Next))
			})
		if err != nil {
			return fmt.Errorf("read clickpesa's payouts: %w", err)
		}
		if err := x.checkpoint(ctx, phasePayoutOurs, ""); err != nil {
			return err
		}
	}
	return walkWindow(ctx, x, phasePayoutOurs, &x.r.Counters.OurPayouts, x.e.o.Store.WindowPayouts,
		func(p state.Payout) (time.Time, string) { return p.CreatedAt, p.ID },
		x.payoutNotAtProvider, state.WindowFilter{UnseenIn: x.r.ID})
}

// payoutPage matches one page of the provider's payouts.
func (x *run) payoutPage(ctx context.Context, items []clickpesa.Payout) error {
	seen := make([]state.SeenTxn, 0, len(items))
	refs := make([]string, 0, len(items))
	for _, it := range items {
		seen = append(seen, state.SeenTxn{Kind: state.SubjectPayout, ProviderTxn: it.ID, Reference: it.OrderReference})
		refs = append(refs, it.OrderReference)
	}
	dups, err := x.e.o.Store.RecordSeen(ctx, x.r.ID, seen)
	if err != nil {
		return err
	}
	ours, err := x.e.o.Store.PayoutsByReferences(ctx, x.r.Provider, refs)
	if err != nil {
		return err
	}
	byRef := make(map[string]*state.Payout, len(ours))
	for i := range ours {
		byRef[ours[i].Reference] = &ours[i]
	}
	for _, it := range items {
		x.r.Counters.ProviderItems++
		if err := x.comparePayout(ctx, byRef[it.OrderReference], it); err != nil {
			return err
		}
	}
	for _, ref := range dups {
		p := byRef[ref]
		d := state.Difference{Class: state.DiffDuplicateAtProvider, Key: payoutKey(string(state.DiffDuplicateAtProvider), ref), Reference: ref,
			Detail: "the provider holds more than one payout for this reference"}
		if p != nil {
			d.PayoutID, d.Ours = p.ID, ourPayoutSide(*p)
		}
		if err := x.record(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// payoutVerdict is what comparing one payout of each side concludes.
type payoutVerdict struct {
	// Class is the difference, "" when the two sides match.
	Class state.DiffClass
	// Heal: the provider's record proves its status; apply it.
	Heal bool
	// Want is the status the provider's record states, in our terms.
	Want string
}

// classifyPayout compares our payout p (nil: we hold none) with the
// provider's payout theirs. It decides only; comparePayout acts. The
// provider's record proves what the payouts' own transition rule accepts
// from a status query: pending or unknown to settled, failed to
// succeeded, succeeded to reversed.
func classifyPayout(p *state.Payout, theirs clickpesa.Payout) payoutVerdict {
	if p == nil {
		return payoutVerdict{Class: state.DiffUnknownToUs}
	}
	want := clickpesa.MapPayoutStatus(theirs.Status)
	if p.ProviderReference != "" && theirs.ID != "" && p.ProviderReference != theirs.ID {
		// Another payout of the reference: RecordSeen finds the duplicate.
		return payoutVerdict{Want: want}
	}
	moved := want == state.PayoutSucceeded || want == state.PayoutReversed
	if moved && !samePayoutMoney(*p, theirs) {
		return payoutVerdict{Class: state.DiffAmountDiffers, Want: want}
	}
	if want == p.Status {
		return payoutVerdict{Want: want}
	}
	v := payoutVerdict{Class: state.DiffStatusDiffers, Want: want}
	switch p.Status {
	case state.PayoutPending:
		v.Heal = want != state.PayoutPending
	case state.PayoutUnknown:
		v.Heal = want != state.PayoutPending
		if want == state.PayoutPending {
			v.Class = state.DiffStuckUnknown
		}
	case state.PayoutFailed:
		v.Heal = want == state.PayoutSucceeded
	case state.PayoutSucceeded:
		if want == state.PayoutReversed {
			v.Heal, v.Class = true, state.DiffReversedAfterSuccess
		}
	}
	return v
}

// classifyPayoutMissing is the class of our payout p when the provider
// has no record of it ("" when that is a match: a failed payout never got
// there).
func classifyPayoutMissing(p state.Payout) state.DiffClass {
	switch p.Status {
	case state.PayoutFailed:
		return ""
	case state.PayoutUnknown:
		return state.DiffStuckUnknown
	}
	return state.DiffMissingAtProvider
}

// samePayoutMoney: the currency, and what the receiver gets (the order's
// amount) or, when only the total debited is given, the amount plus the
// fee. What is not given is not held against the payout.
func samePayoutMoney(p state.Payout, theirs clickpesa.Payout) bool {
	if theirs.Currency != "" && p.Currency != "" && !strings.EqualFold(theirs.Currency, p.Currency) {
		return false
	}
	switch {
	case theirs.OrderAmount != "" && p.Amount != "":
		return money.Same(theirs.OrderAmount, p.Amount, p.Currency)
	case theirs.Amount != "" && p.Amount != "":
		fee := theirs.Fee
		if fee == "" {
			fee = p.Fee
		}
		amt, err1 := money.Parse(p.Amount, p.Currency)
		f, err2 := money.Parse(fee, p.Currency)
		total, err3 := money.Parse(theirs.Amount, p.Currency)
		if err1 != nil || err2 != nil || err3 != nil {
			return fee == "" // no fee to add: cannot tell
		}
		return amt.Minor()+f.Minor() == total.Minor()
	}
	return true
}

// comparePayout matches the provider's payout theirs with our payout p
// (nil: we have none), and records what differs or heals what the
// provider's record proves.
func (x *run) comparePayout(ctx context.Context, p *state.Payout, theirs clickpesa.Payout) error {
	v := classifyPayout(p, theirs)
	switch {
	case v.Class == "":
		x.r.Counters.Matched++
		x.payoutRow(p, theirs, "matched")
		return nil
	case v.Class == state.DiffUnknownToUs:
		x.payoutRow(nil, theirs, string(state.DiffUnknownToUs))
		return x.record(ctx, state.Difference{Class: state.DiffUnknownToUs,
			Key:       payoutKey(string(state.DiffUnknownToUs), theirs.OrderReference, theirs.ID),
			Reference: theirs.OrderReference, ProviderTxn: theirs.ID, Theirs: theirPayoutSide(theirs),
			Detail: fmt.Sprintf("the provider holds a %s payout of %s %s we never sent", theirs.Status, payoutAmount(theirs), theirs.Currency)})
	case v.Class == state.DiffAmountDiffers:
		x.payoutRow(p, theirs, string(state.DiffAmountDiffers))
		return x.record(ctx, state.Difference{Class: state.DiffAmountDiffers, Key: payoutKey(string(state.DiffAmountDiffers), p.Reference),
			Reference: p.Reference, PayoutID: p.ID, ProviderTxn: theirs.ID, Ours: ourPayoutSide(*p), Theirs: theirPayoutSide(theirs),
			Detail: fmt.Sprintf("we pay out %s %s (fee %s); the provider %s %s (fee %s, %s debited)", p.Amount, p.Currency, p.Fee,
				theirs.OrderAmount, theirs.Currency, theirs.Fee, theirs.Amount)})
	}
	key := payoutKey(string(v.Class), p.Reference, p.Status, v.Want)
	detail := fmt.Sprintf("we hold the payout as %s; the provider says %s (%s)", p.Status, v.Want, theirs.Status)
	diff := state.Difference{Class: v.Class, Key: key, Reference: p.Reference, PayoutID: p.ID, ProviderTxn: theirs.ID,
		Ours: ourPayoutSide(*p), Theirs: theirPayoutSide(theirs), Detail: detail}
	if !v.Heal || x.e.o.Payouts == nil {
		x.payoutRow(p, theirs, string(v.Class))
		return x.record(ctx, diff)
	}
	res, err := x.e.o.Payouts.ApplyStatus(ctx, state.PayoutChange{
		ID: p.ID, Status: v.Want, FromQuery: true, ProviderReference: theirs.ID, Fee: theirs.Fee,
		ReceiverName: theirs.AccountName, Channel: theirs.ChannelProvider, Message: strings.TrimSpace(theirs.Notes),
		Raw: theirs.Raw, Now: x.e.o.Now().UTC(),
	})
	if err != nil {
		return fmt.Errorf("apply the provider's status to payout %s: %w", p.ID, err)
	}
	if !res.Changed {
		x.r.Counters.Matched++ // another writer got there first
		x.payoutRow(&res.Payout, theirs, "matched")
		return nil
	}
	x.sum.Healed++
	x.r.Counters.Healed++
	x.payoutRow(&res.Payout, theirs, "healed")
	diff.State = state.DiffHealed
	diff.Detail += "; applied: " + p.Status + " → " + res.Payout.Status
	return x.record(ctx, diff)
}

// payoutNotAtProvider classifies a payout of ours the provider has no
// record of.
func (x *run) payoutNotAtProvider(ctx context.Context, p state.Payout) error {
	class := classifyPayoutMissing(p)
	if class == "" {
		x.r.Counters.Matched++
		x.payoutRow(&p, clickpesa.Payout{}, "matched")
		return nil
	}
	x.payoutRow(&p, clickpesa.Payout{}, string(class))
	return x.record(ctx, state.Difference{Class: class, Key: payoutKey(string(class), p.Reference), Reference: p.Reference,
		PayoutID: p.ID, Ours: ourPayoutSide(p),
		Detail: fmt.Sprintf("we hold the payout as %s; the provider has no record of it", p.Status)})
}

// payoutAmount is what the receiver gets, else the total debited.
func payoutAmount(theirs clickpesa.Payout) string {
	if theirs.OrderAmount != "" {
		return theirs.OrderAmount
	}
	return theirs.Amount
}

func (x *run) payoutRow(p *state.Payout, theirs clickpesa.Payout, outcome string) {
	if x.e.o.Row == nil {
		return
	}
	r := Row{Kind: state.SubjectPayout, Provider: x.r.Provider, Reference: theirs.OrderReference, ProviderTxn: theirs.ID,
		ProviderStatus: theirs.Status, ProviderAmount: payoutAmount(theirs), ProviderCurr: theirs.Currency, Outcome: outcome}
	if p != nil {
		r.Reference, r.PayoutID, r.OurStatus, r.OurAmount, r.OurCurrency = p.Reference, p.ID, p.Status, p.Amount, p.Currency
		if r.ProviderTxn == "" && outcome == "matched" {
			r.ProviderTxn = p.ProviderReference
		}
	}
	x.e.o.Row(r)
}

// ourPayoutSide is our payout as a difference's evidence (no receiver's
// number or account).
func ourPayoutSide(p state.Payout) json.RawMessage {
	m := map[string]any{
		"payout_id": p.ID, "reference": p.Reference, "status": p.Status, "amount": p.Amount, "currency": p.Currency,
		"fee": p.Fee, "destination_type": p.DestinationType, "channel": p.Channel, "provider_reference": p.ProviderReference,
		"created_at": p.CreatedAt.UTC(), "updated_at": p.UpdatedAt.UTC(),
	}
	if p.PaymentID != "" {
		m["refund_of_payment_id"] = p.PaymentID
	}
	b, _ := json.Marshal(m)
	return b
}

// theirPayoutSide is the provider's payout as a difference's evidence: its
// own JSON without credentials, else the normalized fields.
func theirPayoutSide(theirs clickpesa.Payout) json.RawMessage {
	if b := providers.WithoutCredentials(theirs.Raw); b != nil {
		return b
	}
	b, _ := json.Marshal(map[string]any{"id": theirs.ID, "orderReference": theirs.OrderReference, "status": theirs.Status,
		"amount": theirs.Amount, "fee": theirs.Fee, "currency": theirs.Currency, "orderAmount": theirs.OrderAmount})
	return b
}

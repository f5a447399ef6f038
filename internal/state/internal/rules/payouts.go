package rules

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// DefaultPayoutWindow is the rolling window of a PayoutLimit without one.
const DefaultPayoutWindow = 24 * time.Hour

// NewPayout checks a payout given to CreatePayout and fills its defaults:
// a zero CreatedAt is now, a zero UpdatedAt is CreatedAt, an empty Status
// is pending. Amount must be a positive decimal.
func NewPayout(p state.Payout, now func() time.Time) (state.Payout, error) {
	if p.ID == "" || p.Provider == "" || p.Reference == "" || p.Currency == "" {
		return p, fmt.Errorf("create payout %s/%s: ID, provider, reference and currency are required", p.Provider, p.Reference)
	}
	if a, err := ParseAmount(p.Amount); err != nil || a.Sign() <= 0 {
		return p, fmt.Errorf("create payout %s/%s: amount %q is not a positive decimal", p.Provider, p.Reference, p.Amount)
	}
	p.CreatedAt = NowIfZero(p.CreatedAt, now)
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	if p.Status == "" {
		p.Status = state.PayoutPending
	}
	return p, nil
}

// PayoutExists is the error for inserting a payout whose ID or (provider,
// reference) is taken; it wraps state.ErrConflict.
func PayoutExists(p state.Payout) error {
	return fmt.Errorf("payout %s or reference %s/%s exists: %w", p.ID, p.Provider, p.Reference, state.ErrConflict)
}

var amountRE = regexp.MustCompile(`^[0-9]{1,20}(\.[0-9]{1,10})?$`)

// ParseAmount reads a plain non-negative decimal string exactly.
func ParseAmount(s string) (*big.Rat, error) {
	s = strings.TrimSpace(s)
	if !amountRE.MatchString(s) {
		return nil, fmt.Errorf("amount %q is not a plain decimal", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("amount %q is not a plain decimal", s)
	}
	return r, nil
}

// scale is the number of decimals s is written with.
func scale(s string) int {
	if i := strings.IndexByte(s, '.'); i >= 0 {
		return len(s) - i - 1
	}
	return 0
}

// FormatAmount writes r with the given number of decimals.
func FormatAmount(r *big.Rat, decimals int) string { return r.FloatString(decimals) }

// SumAmounts adds decimal strings exactly; it returns the sum and the
// largest number of decimals among them.
func SumAmounts(amounts []string) (*big.Rat, int, error) {
	sum, dec := new(big.Rat), 0
	for _, a := range amounts {
		r, err := ParseAmount(a)
		if err != nil {
			return nil, 0, err
		}
		sum.Add(sum, r)
		dec = max(dec, scale(strings.TrimSpace(a)))
	}
	return sum, dec, nil
}

// CheckPayoutLimit decides whether a payout of amount fits lim given the
// amounts already counted (used): nil, or a *state.LimitError.
func CheckPayoutLimit(lim state.PayoutLimit, currency, amount string, used []string) error {
	if lim.MaxPerWindow == "" {
		return nil
	}
	window := lim.Window
	if window <= 0 {
		window = DefaultPayoutWindow
	}
	maxR, err := ParseAmount(lim.MaxPerWindow)
	if err != nil {
		return fmt.Errorf("payout limit of %s: %w", currency, err)
	}
	usedR, dec, err := SumAmounts(used)
	if err != nil {
		return fmt.Errorf("sum %s payouts: %w", currency, err)
	}
	amt, err := ParseAmount(amount)
	if err != nil {
		return err
	}
	dec = max(dec, scale(lim.MaxPerWindow), scale(amount))
	total := new(big.Rat).Add(usedR, amt)
	if total.Cmp(maxR) <= 0 {
		return nil
	}
	left := new(big.Rat).Sub(maxR, usedR)
	if left.Sign() < 0 {
		left.SetInt64(0)
	}
	return &state.LimitError{
		Currency: currency, Max: lim.MaxPerWindow, Used: FormatAmount(usedR, dec),
		Allowance: FormatAmount(left, dec), Window: window,
	}
}

// CheckRefund decides whether refund p fits lim.RefundOf given the
// amounts of the payment's other refunds (used): nil, or a
// *state.RefundError.
func CheckRefund(lim state.PayoutLimit, p state.Payout, used []string) error {
	if lim.RefundOf == "" || p.PaymentID == "" {
		return nil
	}
	maxR, err := ParseAmount(lim.RefundOf)
	if err != nil {
		return fmt.Errorf("refund limit of payment %s: %w", p.PaymentID, err)
	}
	usedR, dec, err := SumAmounts(used)
	if err != nil {
		return fmt.Errorf("sum the refunds of payment %s: %w", p.PaymentID, err)
	}
	amt, err := ParseAmount(p.Amount)
	if err != nil {
		return err
	}
	dec = max(dec, scale(lim.RefundOf), scale(p.Amount))
	if new(big.Rat).Add(usedR, amt).Cmp(maxR) <= 0 {
		return nil
	}
	left := new(big.Rat).Sub(maxR, usedR)
	if left.Sign() < 0 {
		left.SetInt64(0)
	}
	return &state.RefundError{PaymentID: p.PaymentID, Amount: lim.RefundOf, Refunded: FormatAmount(usedR, dec), Left: FormatAmount(left, dec)}
}

// PayoutEventTypeOf is the event payout p entering its status emits, or
// "": a refund (PaymentID set) emits refund.succeeded or refund.failed (a
// reversed refund did not stay done: refund.failed), other payouts
// payout.<status>.
func PayoutEventTypeOf(p state.Payout) string {
	t := PayoutEventType(p.Status)
	if t == "" || p.PaymentID == "" {
		return t
	}
	if p.Status == state.PayoutSucceeded {
		return "refund.succeeded"
	}
	return "refund.failed"
}

// PayoutWindowStart is the creation time after which payouts count
// against lim at now.
func PayoutWindowStart(lim state.PayoutLimit, now time.Time) time.Time {
	w := lim.Window
	if w <= 0 {
		w = DefaultPayoutWindow
	}
	return now.Add(-w)
}

// PayoutTransition reports whether a payout may move from cur to next.
// The same status is no move (false).
func PayoutTransition(cur, next string, fromQuery bool) bool {
	switch cur {
	case state.PayoutPending:
		return next == state.PayoutSucceeded || next == state.PayoutFailed || next == state.PayoutReversed || next == state.PayoutUnknown
	case state.PayoutUnknown:
		return next == state.PayoutSucceeded || next == state.PayoutFailed || next == state.PayoutReversed || next == state.PayoutPending
	case state.PayoutFailed:
		return next == state.PayoutSucceeded && fromQuery
	case state.PayoutSucceeded:
		return next == state.PayoutReversed
	}
	return false
}

// PayoutEventType is the event a payout entering status emits, or "".
func PayoutEventType(status string) string {
	switch status {
	case state.PayoutSucceeded, state.PayoutFailed, state.PayoutReversed:
		return "payout." + status
	}
	return ""
}

// PayoutTerminal reports whether sync stops asking about a payout.
func PayoutTerminal(status string) bool {
	switch status {
	case state.PayoutSucceeded, state.PayoutFailed, state.PayoutReversed:
		return true
	}
	return false
}

// ChangePayout applies c to p: the status when the transition is allowed,
// and the fields c carries. A statement that does not move the status
// still fills what is missing (provider reference, fee, receiver name,
// channel) but replaces nothing already known.
func ChangePayout(p state.Payout, c state.PayoutChange) (state.Payout, bool) {
	moved := c.Status != "" && c.Status != p.Status && PayoutTransition(p.Status, c.Status, c.FromQuery)
	fill := func(dst *string, v string) {
		if v != "" && (moved || *dst == "") {
			*dst = v
		}
	}
	fill(&p.ProviderReference, c.ProviderReference)
	fill(&p.Fee, c.Fee)
	fill(&p.ReceiverName, c.ReceiverName)
	fill(&p.Channel, c.Channel)
	if moved || c.Status == p.Status || c.Status == "" {
		if c.Message != "" {
			p.Message = c.Message
		}
		if len(c.Raw) > 0 {
			p.Raw = c.Raw
		}
	}
	if moved {
		p.Status = c.Status
	}
	if !c.NextSyncAt.IsZero() {
		p.NextSyncAt = c.NextSyncAt
	}
	p.UpdatedAt = c.Now
	return p, moved
}

// PayoutTx is one backend write transaction as ApplyPayoutStatus needs it.
type PayoutTx interface {
	// InsertNotification stores n; true when its (provider, DedupKey) is
	// already recorded (then nothing was stored).
	InsertNotification(ctx context.Context, n state.Notification) (bool, error)
	// PayoutByID / PayoutByReference find a payout, locking its row when
	// lock is set (postgres).
	PayoutByID(ctx context.Context, id string, lock bool) (state.Payout, bool, error)
	PayoutByReference(ctx context.Context, provider, reference string, lock bool) (state.Payout, bool, error)
	// UpdatePayout stores the fields ChangePayout sets.
	UpdatePayout(ctx context.Context, p state.Payout) error
	InsertEvent(ctx context.Context, e state.Event) error
	InsertDelivery(ctx context.Context, d state.Delivery) error
}

// CheckPayoutChange checks c before a transaction opens and fills a zero Now.
func CheckPayoutChange(c state.PayoutChange, now func() time.Time) (state.PayoutChange, error) {
	if c.ID == "" && (c.Provider == "" || c.Reference == "") {
		return c, errors.New("a payout change needs the payout's ID or its provider and reference")
	}
	switch c.Status {
	case "", state.PayoutPending, state.PayoutSucceeded, state.PayoutFailed, state.PayoutReversed, state.PayoutUnknown:
	default:
		return c, fmt.Errorf("unknown payout status %q", c.Status)
	}
	c.Now = NowIfZero(c.Now, now)
	return c, nil
}

// PayoutSubject names the payout c is about, for errors.
func PayoutSubject(c state.PayoutChange) string {
	if c.ID != "" {
		return "payout " + c.ID
	}
	return "payout " + c.Provider + "/" + c.Reference
}

// ApplyPayoutStatus carries out c inside the backend's transaction tx; see
// state.PayoutChange. A payout that does not exist is ErrNotFound.
func ApplyPayoutStatus(ctx context.Context, tx PayoutTx, c state.PayoutChange) (state.PayoutResult, error) {
	var res state.PayoutResult
	find := func(lock bool) (state.Payout, error) {
		var (
			p     state.Payout
			found bool
			err   error
		)
		if c.ID != "" {
			p, found, err = tx.PayoutByID(ctx, c.ID, lock)
		} else {
			p, found, err = tx.PayoutByReference(ctx, c.Provider, c.Reference, lock)
		}
		if err != nil {
			return p, fmt.Errorf("find payout: %w", err)
		}
		if !found {
			return p, state.ErrNotFound
		}
		return p, nil
	}
	p, err := find(true)
	if err != nil {
		return res, err
	}
	if c.Notification != nil {
		n := Notification(p.Provider, *c.Notification, c.Now)
		dup, err := tx.InsertNotification(ctx, n)
		if err != nil {
			return res, fmt.Errorf("record notification %s: %w", n.ID, err)
		}
		if dup {
			res.Payout, res.Duplicate = p, true
			return res, nil
		}
	}
	updated, moved := ChangePayout(p, c)
	if err := tx.UpdatePayout(ctx, updated); err != nil {
		return res, fmt.Errorf("update payout %s: %w", p.ID, err)
	}
	res.Payout, res.Changed = updated, moved
	eventType := PayoutEventTypeOf(updated)
	if !moved || eventType == "" {
		return res, nil
	}
	ev := state.Event{ID: state.NewID("evt_"), Type: eventType, PaymentID: updated.ID, Provider: updated.Provider, CreatedAt: c.Now}
	if c.EventPayload != nil {
		if ev.Payload, err = c.EventPayload(updated, ev.ID, eventType, c.Now); err != nil {
			return state.PayoutResult{}, fmt.Errorf("build event %s: %w", ev.ID, err)
		}
	}
	if err := tx.InsertEvent(ctx, ev); err != nil {
		return state.PayoutResult{}, fmt.Errorf("insert event %s: %w", ev.ID, err)
	}
	var routes []string
	if c.Routes != nil {
		routes = c.Routes(eventType)
	}
	for _, route := range routes {
		d := state.Delivery{
			ID: state.NewID("dlv_"), EventID: ev.ID, Route: route, Status: state.DeliveryPending,
			NextAttemptAt: c.Now, CreatedAt: c.Now, UpdatedAt: c.Now,
		}
		if err := tx.InsertDelivery(ctx, d); err != nil {
			return state.PayoutResult{}, fmt.Errorf("insert delivery of event %s to route %s: %w", ev.ID, route, err)
		}
	}
	res.EventID = ev.ID
	return res, nil
}

// NewAudit fills an audit entry's defaults: a new ID, a zero At is now.
func NewAudit(e state.AuditEntry, now func() time.Time) (state.AuditEntry, error) {
	if e.Action == "" {
		return e, errors.New("append audit entry: no action")
	}
	if e.ID == "" {
		e.ID = state.NewID("aud_")
	}
	e.At = NowIfZero(e.At, now)
	return e, nil
}

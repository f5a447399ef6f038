package payouts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// newPayoutID is "po_" + 26 lowercase base32 characters that begin with
// the time (state.NewID), as every other ID of the store.
func newPayoutID() string { return state.NewID("po_") }

// syncDelay is how long sync waits before asking about a payout again,
// after attempts earlier questions.
func syncDelay(attempts int) time.Duration {
	switch attempts {
	case 0:
		return 30 * time.Second
	case 1:
		return time.Minute
	case 2:
		return 2 * time.Minute
	case 3:
		return 5 * time.Minute
	}
	return 15 * time.Minute
}

// Sync asks the providers about every due payout (pending or unknown, its
// next sync time passed), records what they say and reschedules the rest.
// An unknown payout the provider has never heard of, once its create call
// can no longer be in flight, failed: the call never took effect. It
// returns the joined errors of a round, having tried every due payout.
func (s *Service) Sync(ctx context.Context) error {
	if !s.syncMu.TryLock() {
		s.log.Info("payout sync: the previous run is still going; skipping this one")
		return nil
	}
	defer s.syncMu.Unlock()
	due, err := s.store.DuePayouts(ctx, s.now().UTC(), s.syncBatch)
	if err != nil {
		return fmt.Errorf("payout sync: %w", err)
	}
	var errs []error
	for _, p := range due {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		if _, err := s.syncOne(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	if err := s.catchUpRefunded(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// refundCatchUpWindow is how far back catchUpRefunded looks at refunds.
const refundCatchUpWindow = 7 * 24 * time.Hour

// catchUpRefunded moves payments whose refunds succeeded but which are not
// refunded yet (a process stopped between a refund's success and the
// payment's move: two transactions) to partially_refunded or refunded. It
// looks at the newest succeeded payouts; the move is idempotent.
func (s *Service) catchUpRefunded(ctx context.Context) error {
	if s.settler == nil {
		return nil
	}
	list, err := s.store.ListPayouts(ctx, state.PayoutFilter{Status: state.PayoutSucceeded, Limit: 500})
	if err != nil {
		return fmt.Errorf("payout sync: list succeeded payouts: %w", err)
	}
	since := s.now().UTC().Add(-refundCatchUpWindow)
	seen := map[string]bool{}
	var errs []error
	for _, p := range list {
		if p.PaymentID == "" || seen[p.PaymentID] || p.CreatedAt.Before(since) {
			continue
		}
		seen[p.PaymentID] = true
		pay, err := s.store.Payment(ctx, p.PaymentID)
		if err != nil || pay.Status == state.StatusRefunded {
			continue
		}
		if err := s.settleRefunded(ctx, p.PaymentID); err != nil {
			errs = append(errs, fmt.Errorf("payout sync: %w", err))
		}
	}
	return errors.Join(errs...)
}

// syncOne asks the provider about p and records the answer; it returns
// the payout as stored afterwards.
func (s *Service) syncOne(ctx context.Context, p state.Payout) (state.Payout, error) {
	log := s.log.With("payout_id", p.ID, "provider", p.Provider, "reference", p.Reference)
	reschedule := func(cause error) (state.Payout, error) {
		next := s.now().UTC().Add(syncDelay(p.SyncAttempts + 1))
		if err := s.store.SchedulePayoutSync(ctx, p.ID, next, p.SyncAttempts+1); err != nil {
			return p, fmt.Errorf("reschedule payout %s: %w", p.ID, err)
		}
		if cause != nil {
			return p, fmt.Errorf("payout sync %s: %w", p.ID, cause)
		}
		return p, nil
	}
	rt := s.runtime()
	if p.PaymentID != "" {
		if rf, ok := rt.refunder(p.Provider); ok {
			return s.syncRefund(ctx, p, rf, reschedule)
		}
	}
	prov, ok := rt.provider(p.Provider)
	if !ok {
		return reschedule(fmt.Errorf("no payout client for %s", p.Provider))
	}
	qctx, cancel := context.WithTimeout(ctx, s.previewTimeout)
	out, err := prov.Query(qctx, p)
	cancel()
	now := s.now().UTC()
	switch {
	case notFound(err):
		// Unknown, or pending without an answer recorded (the process
		// died during the call): once the call cannot still be in flight,
		// the provider's "no such payout" means it never took effect.
		answerless := p.Status == state.PayoutUnknown || p.ProviderReference == ""
		if answerless && now.Sub(p.CreatedAt) > s.createTimeout+time.Minute {
			res, err := s.apply(ctx, state.PayoutChange{ID: p.ID, Status: state.PayoutFailed, FromQuery: true,
				Message: "the provider has no payout with this reference: the create call never took effect"})
			if err != nil {
				return p, fmt.Errorf("payout sync %s: %w", p.ID, err)
			}
			log.Info("unknown payout settled as failed: the provider never received it")
			return res.Payout, nil
		}
		return reschedule(nil)
	case err != nil:
		log.Warn("payout status query failed", "error", err)
		return reschedule(err)
	}
	if why := mismatch(p, out); why != "" {
		log.Error("provider status does not match the payout; not applied", "problem", why)
		return reschedule(fmt.Errorf("%s", why))
	}
	c := state.PayoutChange{
		ID: p.ID, Status: out.Status, FromQuery: true, ProviderReference: out.ProviderReference, Fee: out.Fee,
		ReceiverName: out.ReceiverName, Channel: out.Channel, Message: out.Message, Raw: out.Raw,
		NextSyncAt: now.Add(syncDelay(p.SyncAttempts + 1)),
	}
	res, err := s.apply(ctx, c)
	if err != nil {
		return p, fmt.Errorf("payout sync %s: %w", p.ID, err)
	}
	if res.Payout.Status == state.PayoutPending || res.Payout.Status == state.PayoutUnknown {
		if err := s.store.SchedulePayoutSync(ctx, p.ID, c.NextSyncAt, p.SyncAttempts+1); err != nil {
			return res.Payout, fmt.Errorf("reschedule payout %s: %w", p.ID, err)
		}
	}
	return res.Payout, nil
}

package payments

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
)

// syncGiveUp is how long after creation sync keeps asking.
const syncGiveUp = 24 * time.Hour

// notFoundGrace is how long an unknown payment must be old before the
// provider saying "no such payment" is believed (it was never started).
const notFoundGrace = 10 * time.Minute

// syncMaxRounds bounds one Sync call: at most this many batches.
const syncMaxRounds = 10

// never is the NextSyncAt of a payment sync gave up on.
func never() time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }

// syncDelay is the wait before sync attempt n+1 after n attempts: 1m after
// creation, then 2m, 5m, and every 15m after that.
func syncDelay(attempts int) time.Duration {
	switch attempts {
	case 0:
		return time.Minute
	case 1:
		return 2 * time.Minute
	case 2:
		return 5 * time.Minute
	}
	return 15 * time.Minute
}

// Sync asks the providers about every due payment (pending or unknown, its
// next sync time passed), applies what they say through the Settler and
// reschedules the rest. It is the sync_payments schedule; it returns the
// joined errors of a round, having still tried every due payment. A Sync
// called while another runs returns at once.
func (s *Service) Sync(ctx context.Context) error {
	if !s.syncMu.TryLock() {
		s.log.Info("payment sync: the previous run is still going; skipping this one")
		return nil
	}
	defer s.syncMu.Unlock()
	var errs []error
	for range syncMaxRounds {
		due, err := s.dueForSync(ctx, s.now().UTC(), s.syncBatch)
		if err != nil {
			return fmt.Errorf("sync payments: list due payments: %w", err)
		}
		if len(due) == 0 {
			break
		}
		errs = append(errs, s.syncBatchOf(ctx, due)...)
		if len(due) < s.syncBatch || ctx.Err() != nil {
			break
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sync payments: %w", err)
	}
	return nil
}

func (s *Service) syncBatchOf(ctx context.Context, due []state.Payment) []error {
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	work := make(chan state.Payment)
	for range min(s.syncWorkers, len(due)) {
		wg.Go(func() {
			for p := range work {
				if err := s.syncOne(ctx, p); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, p := range due {
		if ctx.Err() != nil {
			break
		}
		work <- p
	}
	close(work)
	wg.Wait()
	return errs
}

// syncOne asks about one payment and reschedules it unless it settled. Only
// store failures are returned; provider failures are logged and retried on
// the backoff.
func (s *Service) syncOne(ctx context.Context, p state.Payment) error {
	now := s.now().UTC()
	log := s.log.With("payment_id", p.ID, "provider", p.Provider, "reference", p.Reference)
	attempts := p.SyncAttempts + 1
	if now.Sub(p.CreatedAt) >= syncGiveUp {
		s.m.syncs.WithLabelValues(p.Provider, "gave_up").Inc()
		log.Warn("payment sync gave up: still not settled 24h after creation; status left as is", "status", p.Status, "attempts", p.SyncAttempts)
		return s.reschedule(ctx, p.ID, never(), attempts)
	}
	next := now.Add(syncDelay(attempts))
	if s.interrupted(p, now) {
		// The daemon stopped between writing the payment and recording the
		// provider's answer: whether the provider started it is unknown.
		res, err := s.settler.Apply(ctx, settle.Statement{ProviderID: p.Provider, Source: state.SourceInitiation, Status: providers.PaymentStatus{
			Status: providers.StatusUnknown, Reference: p.Reference,
			Message: "outcome unknown: finconnectd stopped while starting the payment",
		}})
		if err != nil {
			return fmt.Errorf("mark interrupted payment %s unknown: %w", p.ID, err)
		}
		log.Warn("payment sync: initiation was interrupted; payment is unknown until the provider says otherwise")
		p = res.Payment
	}
	payer, ok := s.payer(p.Provider)
	if !ok {
		s.m.syncs.WithLabelValues(p.Provider, "skipped").Inc()
		log.Warn("payment sync: no client for the provider (removed from the configuration?)")
		return s.reschedule(ctx, p.ID, next, attempts)
	}
	if !canQuery(p) {
		// PesaPal and AzamPay are asked by their own reference, which we
		// never got (crash or timeout before the answer): their
		// notification, which carries our reference, settles it.
		s.m.syncs.WithLabelValues(p.Provider, "skipped").Inc()
		log.Info("payment sync: no provider reference to ask with; waiting for the provider's notification", "status", p.Status)
		return s.reschedule(ctx, p.ID, next, attempts)
	}
	out, err := s.query(ctx, payer, p, state.SourceStatusQuery)
	if err != nil {
		if s.neverStarted(p, err, now) {
			return s.markNeverStarted(ctx, p, log)
		}
		log.Warn("payment sync: status query failed; will retry", "next_sync_at", next, "error", err)
		return s.reschedule(ctx, p.ID, next, attempts)
	}
	if !out.Status.Open() {
		return nil
	}
	return s.reschedule(ctx, p.ID, next, attempts)
}

// interrupted reports whether p is still pending without a provider
// reference long after its initiation must have ended: the process died
// between the payment row and the provider's answer.
func (s *Service) interrupted(p state.Payment, now time.Time) bool {
	return p.Status == state.StatusPending && p.ProviderReference == "" &&
		now.Sub(p.CreatedAt) > s.initTimeout+time.Minute
}

// neverStarted reports whether the provider says it has no such payment
// about one whose initiation outcome was unknown, long enough ago.
func (s *Service) neverStarted(p state.Payment, err error, now time.Time) bool {
	var pe *providers.Error
	return p.Status == state.StatusUnknown &&
		errors.As(err, &pe) && pe.Kind == providers.Permanent && (pe.HTTPStatus == http.StatusNotFound || pe.Code == "not_found") &&
		now.Sub(p.CreatedAt) >= notFoundGrace
}

func (s *Service) markNeverStarted(ctx context.Context, p state.Payment, log *slog.Logger) error {
	res, err := s.settler.Apply(ctx, settle.Statement{ProviderID: p.Provider, Source: state.SourceStatusQuery, Status: providers.PaymentStatus{
		Status:            providers.StatusFailed,
		Reference:         p.Reference,
		ProviderReference: p.ProviderReference,
		Message:           "the provider has no record of this payment: it was never started",
	}})
	if err != nil {
		return fmt.Errorf("mark payment %s failed: %w", p.ID, err)
	}
	if !res.Changed {
		s.m.syncs.WithLabelValues(p.Provider, "unchanged").Inc()
		log.Info("payment sync: provider has no record of the unknown payment, but it has settled meanwhile; left as is", "status", res.Payment.Status)
		return nil
	}
	s.m.syncs.WithLabelValues(p.Provider, "changed").Inc()
	log.Info("payment sync: provider has no record of the unknown payment; marked failed", "event_id", res.EventID)
	return nil
}

func (s *Service) reschedule(ctx context.Context, id string, next time.Time, attempts int) error {
	if err := s.store.ScheduleSync(ctx, id, next, attempts); err != nil {
		return fmt.Errorf("schedule sync of payment %s: %w", id, err)
	}
	return nil
}

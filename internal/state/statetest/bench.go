package statetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// Bench runs the store benchmarks, each against a fresh store from open:
// ApplyStatus (one webhook's transaction: notification, new payment, event,
// two deliveries), ApplyStatusParallel (the same from many goroutines),
// SettleParallel (the common webhook: a pending payment the store holds
// settles, with its notification, event and one delivery; from many
// goroutines, so on SQLite it measures the one writer's work per webhook) and
// ClaimAndRecord (per delivery, a worker's share of claiming a batch of 10
// and recording each attempt as delivered) and RecordBatch (per delivery,
// recording the attempts of 32 deliveries in one RecordAttempts call, as a
// busy worker does; its cpu-µs/record is the process's CPU for that call
// alone, while its time also holds SQLite's wait of a deferrable write for
// company after the webhooks that made the deliveries).
func Bench(b *testing.B, open func(b *testing.B) state.Store) {
	b.Run("ApplyStatus", func(b *testing.B) { benchApplyStatus(b, open(b)) })
	b.Run("ApplyStatusParallel", func(b *testing.B) { benchApplyStatusParallel(b, open(b)) })
	b.Run("SettleParallel", func(b *testing.B) { benchSettleParallel(b, open(b)) })
	b.Run("ClaimAndRecord", func(b *testing.B) { benchClaimAndRecord(b, open(b)) })
	b.Run("RecordBatch", func(b *testing.B) { benchRecordBatch(b, open(b)) })
}

func benchRecordBatch(b *testing.B, s state.Store) {
	ctx := context.Background()
	const batch = 32
	now := time.Now()
	seq := 0
	var (
		cpu     time.Duration
		records int
	)
	for records < b.N {
		b.StopTimer()
		queueDeliveries(b, s, &seq, batch, now)
		ds, err := s.ClaimDeliveries(ctx, "erp", "w1", now, time.Minute, batch)
		if err != nil || len(ds) != batch {
			b.Fatalf("claimed %d: %v", len(ds), err)
		}
		rs := make([]state.AttemptResult, len(ds))
		for i, d := range ds {
			rs[i] = state.AttemptResult{DeliveryID: d.ID, Owner: "w1", Status: state.DeliveryDelivered,
				Attempt: state.Attempt{At: now, Duration: time.Millisecond, StatusCode: 200}}
		}
		cpu0 := processCPU()
		b.StartTimer()
		errs, _, err := s.RecordAttempts(ctx, rs, state.Claim{})
		b.StopTimer()
		cpu += processCPU() - cpu0
		if err != nil {
			b.Fatal(err)
		}
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
		records += batch
	}
	b.ReportMetric(float64(cpu.Microseconds())/float64(records), "cpu-µs/record")
}

func benchChange(i int) state.StatusChange {
	ref := fmt.Sprintf("R%09d", i)
	return state.StatusChange{
		Provider: "clickpesa.tz", Reference: ref, ProviderReference: "CP" + ref, Status: "succeeded",
		Amount: "1500.00", Currency: "TZS", Phone: "255700000000", CreateIfMissing: true,
		Raw:          []byte(`{"status":"SUCCESS","orderReference":"` + ref + `"}`),
		Notification: &state.Notification{Route: "clickpesa", DedupKey: ref + ":succeeded", Body: []byte(`{"event":"PAYMENT RECEIVED"}`)},
		EventType:    "payment.succeeded", Routes: []string{"erp", "crm"},
		EventPayload: func(p state.Payment, id string, at time.Time) ([]byte, error) {
			return []byte(`{"type":"payment.succeeded","data":{"event_id":"` + id + `","payment_id":"` + p.ID + `"}}`), nil
		},
	}
}

func benchApplyStatus(b *testing.B, s state.Store) {
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := s.ApplyStatus(ctx, benchChange(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func benchApplyStatusParallel(b *testing.B, s state.Store) {
	ctx := context.Background()
	var n atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.ApplyStatus(ctx, benchChange(int(n.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// queueDeliveries settles n payments, numbered from *seq on, whose events
// each have one delivery to route erp, due at now.
func queueDeliveries(b *testing.B, s state.Store, seq *int, n int, now time.Time) {
	b.Helper()
	for range n {
		c := benchChange(*seq)
		c.Routes, c.Now = []string{"erp"}, now
		if _, err := s.ApplyStatus(context.Background(), c); err != nil {
			b.Fatal(err)
		}
		*seq++
	}
}

func benchClaimAndRecord(b *testing.B, s state.Store) {
	ctx := context.Background()
	const batch = 10
	now := time.Now()
	seq := 0
	var pending []state.Delivery
	b.ResetTimer()
	for done := range b.N {
		if done%batch == 0 {
			b.StopTimer()
			queueDeliveries(b, s, &seq, batch, now)
			b.StartTimer()
			ds, err := s.ClaimDeliveries(ctx, "erp", "w1", now, time.Minute, batch)
			if err != nil || len(ds) != batch {
				b.Fatalf("claimed %d: %v", len(ds), err)
			}
			pending = ds
		}
		d := pending[done%batch]
		if err := s.RecordAttempt(ctx, state.AttemptResult{DeliveryID: d.ID, Owner: "w1", Status: state.DeliveryDelivered,
			Attempt: state.Attempt{At: now, Duration: time.Millisecond, StatusCode: 200}}); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSettleParallel(b *testing.B, s state.Store) {
	ctx := context.Background()
	// The payments the webhooks settle, written before the timer starts
	// (in parallel, so SQLite's writer batches them).
	n := b.N
	var made atomic.Int64
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			for {
				i := int(made.Add(1)) - 1
				if i >= n {
					errs <- nil
					return
				}
				c := benchChange(i)
				p := state.Payment{ID: fmt.Sprintf("pay_%09d", i), Provider: c.Provider, Reference: c.Reference, Status: state.StatusPending,
					Amount: c.Amount, Currency: c.Currency, Phone: c.Phone, ProviderReference: c.ProviderReference,
					CreatedAt: time.Now(), UpdatedAt: time.Now(), NextSyncAt: time.Now().Add(time.Minute)}
				if err := s.CreatePayment(ctx, p); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.SetParallelism(16) // webhooks in flight, as under load
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c := benchChange(int(next.Add(1)) - 1)
			c.CreateIfMissing, c.Routes = false, []string{"erp"}
			if _, err := s.ApplyStatus(ctx, c); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	// The process's CPU per webhook: steadier than the time per webhook on
	// a shared machine, and (with the database in this process, as
	// SQLite's is) what the writer spends.
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

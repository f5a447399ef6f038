// Package teststore gives tests of the packages above the store the real
// SQLite store, in the test's temporary directory, plus what tests need and
// the state.Store interface does not offer: fault injection (an outage of
// writes or of Ping, a failing resource write) and read-only inspection of
// the events and notifications a test caused.
//
// It exists so that no package tests against an in-memory imitation of the
// store: every test runs the SQL, the transactions and the constraints that
// production runs. Only tests import it.
package teststore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
)

// ErrOutage is the error injected by SetOutage(true).
var ErrOutage = errors.New("injected store outage")

// Store is a *sqlite.Store with fault injection and inspection helpers.
type Store struct {
	*sqlite.Store
	ins *sql.DB // read-only connection for inspection queries

	mu     sync.Mutex
	outage bool
	// writeOutage fails writes only, as a full disk would.
	writeOutage bool
	pingErr     error
	failPut     func(address string) error
	// failRecords is how many RecordAttempt calls still fail.
	failRecords int
	closed      bool
}

var _ state.Store = (*Store)(nil)

// New opens a fresh store in tb's temporary directory and closes it when
// the test ends.
func New(tb testing.TB) *Store {
	tb.Helper()
	return Open(tb, filepath.Join(tb.TempDir(), "state.db"))
}

// Open opens the store at path (created if missing) and closes it when the
// test ends.
func Open(tb testing.TB, path string) *Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
	if err != nil {
		tb.Fatalf("open test store: %v", err)
	}
	ins, err := sql.Open("sqlite", sqlite.FileURI(path)+"?_pragma=busy_timeout(10000)&_query_only=1")
	if err != nil {
		_ = st.Close()
		tb.Fatalf("open test store inspection connection: %v", err)
	}
	s := &Store{Store: st, ins: ins}
	tb.Cleanup(func() {
		_ = s.ins.Close()
		_ = s.Store.Close()
	})
	return s
}

// SetOutage makes every write and read of payments, statuses and the
// outbox fail with ErrOutage until SetOutage(false).
func (s *Store) SetOutage(on bool) {
	s.mu.Lock()
	s.outage = on
	s.mu.Unlock()
}

// SetWriteOutage makes every write of payments, statuses and the outbox
// fail with ErrOutage, while reads and Ping work, until
// SetWriteOutage(false): a full disk.
func (s *Store) SetWriteOutage(on bool) {
	s.mu.Lock()
	s.writeOutage = on
	s.mu.Unlock()
}

// SetPingErr makes Ping return err (nil: the real Ping).
func (s *Store) SetPingErr(err error) {
	s.mu.Lock()
	s.pingErr = err
	s.mu.Unlock()
}

// FailPutResource makes PutResource return fn(address) when it is not nil.
func (s *Store) FailPutResource(fn func(address string) error) {
	s.mu.Lock()
	s.failPut = fn
	s.mu.Unlock()
}

// Closed reports whether Close was called.
func (s *Store) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

func (s *Store) down() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outage
}

func (s *Store) writesDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outage || s.writeOutage
}

// Close records the call and closes the store.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return s.Store.Close()
}

// Ping returns the injected error, if any.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.Lock()
	err := s.pingErr
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

// PutResource fails as FailPutResource says.
func (s *Store) PutResource(ctx context.Context, r state.Resource) (state.Meta, error) {
	s.mu.Lock()
	fail := s.failPut
	s.mu.Unlock()
	if fail != nil {
		if err := fail(r.Address); err != nil {
			return state.Meta{}, err
		}
	}
	return s.Store.PutResource(ctx, r)
}

// ApplyStatus fails during an outage.
func (s *Store) ApplyStatus(ctx context.Context, c state.StatusChange) (state.StatusResult, error) {
	if s.writesDown() {
		return state.StatusResult{}, ErrOutage
	}
	return s.Store.ApplyStatus(ctx, c)
}

// CreatePayment fails during an outage.
func (s *Store) CreatePayment(ctx context.Context, p state.Payment) error {
	if s.writesDown() {
		return ErrOutage
	}
	return s.Store.CreatePayment(ctx, p)
}

// ClaimKeyAndCreatePayment fails during an outage.
func (s *Store) ClaimKeyAndCreatePayment(ctx context.Context, key, requestHash string, now time.Time, p state.Payment) (state.IdempotencyRecord, bool, error) {
	if s.writesDown() {
		return state.IdempotencyRecord{}, false, ErrOutage
	}
	return s.Store.ClaimKeyAndCreatePayment(ctx, key, requestHash, now, p)
}

// Payment fails during an outage.
func (s *Store) Payment(ctx context.Context, id string) (state.Payment, error) {
	if s.down() {
		return state.Payment{}, ErrOutage
	}
	return s.Store.Payment(ctx, id)
}

// PaymentByReference fails during an outage.
func (s *Store) PaymentByReference(ctx context.Context, provider, reference string) (state.Payment, error) {
	if s.down() {
		return state.Payment{}, ErrOutage
	}
	return s.Store.PaymentByReference(ctx, provider, reference)
}

// RecordInitiation fails during an outage.
func (s *Store) RecordInitiation(ctx context.Context, id string, in state.PaymentInitiation, now time.Time) (state.Payment, error) {
	if s.writesDown() {
		return state.Payment{}, ErrOutage
	}
	return s.Store.RecordInitiation(ctx, id, in, now)
}

// FailRecordAttempts makes the next n RecordAttempt or RecordAttempts
// calls fail with ErrOutage (a blip of the store after a POST was
// answered).
func (s *Store) FailRecordAttempts(n int) {
	s.mu.Lock()
	s.failRecords = n
	s.mu.Unlock()
}

// recordFails reports whether this RecordAttempt(s) call fails.
func (s *Store) recordFails() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := s.outage || s.writeOutage || s.failRecords > 0
	if s.failRecords > 0 {
		s.failRecords--
	}
	return fail
}

// RecordAttempt fails during an outage and as FailRecordAttempts says.
func (s *Store) RecordAttempt(ctx context.Context, r state.AttemptResult) error {
	if s.recordFails() {
		return ErrOutage
	}
	return s.Store.RecordAttempt(ctx, r)
}

// RecordAttempts fails, storing and claiming nothing, during an outage
// and, when it has attempts to record, as FailRecordAttempts says.
func (s *Store) RecordAttempts(ctx context.Context, rs []state.AttemptResult, claim state.Claim) ([]error, []state.Delivery, error) {
	if s.writesDown() || (len(rs) > 0 && s.recordFails()) {
		return nil, nil, ErrOutage
	}
	return s.Store.RecordAttempts(ctx, rs, claim)
}

// ClaimDeliveries fails during an outage.
func (s *Store) ClaimDeliveries(ctx context.Context, route, owner string, now time.Time, lease time.Duration, limit int) ([]state.Delivery, error) {
	if s.writesDown() {
		return nil, ErrOutage
	}
	return s.Store.ClaimDeliveries(ctx, route, owner, now, lease, limit)
}

// ReleaseLeases fails during an outage.
func (s *Store) ReleaseLeases(ctx context.Context, now time.Time, dead func(owner string) bool) (map[string]int, error) {
	if s.writesDown() {
		return nil, ErrOutage
	}
	return s.Store.ReleaseLeases(ctx, now, dead)
}

// Put stores p as it is (a payment a test starts from), giving it an ID
// and timestamps when it has none, and returns it.
func (s *Store) Put(p state.Payment) state.Payment {
	now := time.Now().UTC()
	if p.ID == "" {
		p.ID = "pay_" + strings.ToLower(strings.ReplaceAll(p.Provider+"_"+p.Reference, ".", "_"))
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = now
	}
	if p.UpdatedAt.IsZero() {
		p.UpdatedAt = p.CreatedAt
	}
	if err := s.Store.CreatePayment(context.Background(), p); err != nil {
		panic(fmt.Sprintf("teststore: put payment %s/%s: %v", p.Provider, p.Reference, err))
	}
	return p
}

// ByRef returns the payment of provider with reference, and whether it exists.
func (s *Store) ByRef(provider, reference string) (state.Payment, bool) {
	p, err := s.Store.PaymentByReference(context.Background(), provider, reference)
	if errors.Is(err, state.ErrNotFound) {
		return state.Payment{}, false
	}
	if err != nil {
		panic(fmt.Sprintf("teststore: payment %s/%s: %v", provider, reference, err))
	}
	return p, true
}

// Events returns every event, oldest first.
func (s *Store) Events() []state.Event {
	return s.events("", "")
}

// EventsOf returns the events of one payment, oldest first.
func (s *Store) EventsOf(paymentID string) []state.Event {
	return s.events(paymentID, "")
}

// EventsFor returns the events of the payments with this merchant
// reference (any provider), oldest first. It works after the store was
// closed (a stopped daemon closes it).
func (s *Store) EventsFor(reference string) []state.Event {
	return s.events("", reference)
}

// EventCount is len(Events()).
func (s *Store) EventCount() int {
	return len(s.Events())
}

func (s *Store) events(paymentID, reference string) []state.Event {
	q := "SELECT e.id, e.type, e.payment_id, e.provider, e.payload, e.created_at FROM events e"
	var args []any
	switch {
	case paymentID != "":
		q += " WHERE e.payment_id = ?"
		args = append(args, paymentID)
	case reference != "":
		q += " JOIN payments p ON p.id = e.payment_id WHERE p.reference = ?"
		args = append(args, reference)
	}
	return inspect(s, "event", q+" ORDER BY e.created_at, e.rowid", args, func(rows *sql.Rows) (state.Event, error) {
		var (
			e  state.Event
			at int64
		)
		err := rows.Scan(&e.ID, &e.Type, &e.PaymentID, &e.Provider, &e.Payload, &at)
		e.CreatedAt = time.Unix(0, at).UTC()
		return e, err
	})
}

// inspect runs query on the inspection connection and scans every row; it
// panics, naming what it lists, on any error.
func inspect[T any](s *Store, what, query string, args []any, scan func(*sql.Rows) (T, error)) []T {
	rows, err := s.ins.QueryContext(context.Background(), query, args...)
	if err != nil {
		panic(fmt.Sprintf("teststore: list %ss: %v", what, err))
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			panic(fmt.Sprintf("teststore: scan %s: %v", what, err))
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		panic(fmt.Sprintf("teststore: list %ss: %v", what, err))
	}
	return out
}

// Routes returns the routes that got a delivery of the event.
func (s *Store) Routes(eventID string) []string {
	_, ds, _, err := s.Store.EventDetail(context.Background(), eventID)
	if err != nil {
		panic(fmt.Sprintf("teststore: event %s: %v", eventID, err))
	}
	out := make([]string, 0, len(ds))
	for _, d := range ds {
		out = append(out, d.Route)
	}
	return out
}

// Notifications returns every stored notification, oldest first.
func (s *Store) Notifications() []state.Notification {
	const q = "SELECT id, route, provider, COALESCE(dedup_key, ''), body, received_at FROM notifications ORDER BY received_at, rowid"
	return inspect(s, "notification", q, nil, func(rows *sql.Rows) (state.Notification, error) {
		var (
			n  state.Notification
			at int64
		)
		err := rows.Scan(&n.ID, &n.Route, &n.Provider, &n.DedupKey, &n.Body, &at)
		n.ReceivedAt = time.Unix(0, at).UTC()
		return n, err
	})
}

// StorageFailure counts ErrOutage as a failure of the storage, as the
// real store counts a full disk.
func (s *Store) StorageFailure(err error) (string, bool) {
	if errors.Is(err, ErrOutage) {
		return "outage", true
	}
	return s.Store.StorageFailure(err)
}

// ProbeWrite fails during an outage of writes.
func (s *Store) ProbeWrite(ctx context.Context) error {
	if s.writesDown() {
		return ErrOutage
	}
	return s.Store.ProbeWrite(ctx)
}

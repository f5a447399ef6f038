package daemon

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// memStore is a hand-written in-memory state.Store for the daemon's
// in-process tests (the crash test runs the binary with the real store).
type memStore struct {
	mu        sync.Mutex
	resources map[string]state.Resource
	serial    int64
	lock      *state.LockInfo
	payments  map[string]state.Payment
	keys      map[string]state.IdempotencyRecord
	dedup     map[string]bool
	events    []state.Event
	deliv     []state.Delivery
	n         int
	closed    bool
	pingErr   error
}

func newMemStore() *memStore {
	return &memStore{resources: map[string]state.Resource{}, payments: map[string]state.Payment{},
		keys: map[string]state.IdempotencyRecord{}, dedup: map[string]bool{}}
}

func (m *memStore) id(prefix string) string { m.n++; return fmt.Sprintf("%s%d", prefix, m.n) }

func (m *memStore) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("closed")
	}
	return m.pingErr
}

func (m *memStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}

func (m *memStore) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

func (m *memStore) Meta(context.Context) (state.Meta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return state.Meta{Lineage: "test", Serial: m.serial}, nil
}

func (m *memStore) Resources(context.Context) ([]state.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.Resource
	for _, r := range m.resources {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out, nil
}

func (m *memStore) Resource(_ context.Context, addr string) (state.Resource, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.resources[addr]
	if !ok {
		return r, fmt.Errorf("resource %s: %w", addr, state.ErrNotFound)
	}
	return r, nil
}

func (m *memStore) PutResource(_ context.Context, r state.Resource) (state.Meta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.resources[r.Address] = r
	m.serial++
	return state.Meta{Lineage: "test", Serial: m.serial}, nil
}

func (m *memStore) DeleteResource(_ context.Context, addr string) (state.Meta, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.resources[addr]; !ok {
		return state.Meta{}, state.ErrNotFound
	}
	delete(m.resources, addr)
	m.serial++
	return state.Meta{Lineage: "test", Serial: m.serial}, nil
}

func (m *memStore) Lock(_ context.Context, info state.LockInfo) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lock != nil {
		return &state.LockedError{Holder: *m.lock}
	}
	m.lock = &info
	return nil
}

func (m *memStore) Unlock(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lock != nil && m.lock.ID == id {
		m.lock = nil
	}
	return nil
}

func (m *memStore) ForceUnlock(_ context.Context, id string) error {
	return m.Unlock(context.Background(), id)
}

func (m *memStore) LockHolder(context.Context) (state.LockInfo, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lock == nil {
		return state.LockInfo{}, false, nil
	}
	return *m.lock, true, nil
}

func (m *memStore) CreatePayment(_ context.Context, p state.Payment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range m.payments {
		if q.Provider == p.Provider && q.Reference == p.Reference {
			return state.ErrConflict
		}
	}
	m.payments[p.ID] = p
	return nil
}

func (m *memStore) Payment(_ context.Context, id string) (state.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.payments[id]
	if !ok {
		return p, state.ErrNotFound
	}
	return p, nil
}

func (m *memStore) PaymentByReference(_ context.Context, provider, ref string) (state.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.payments {
		if p.Provider == provider && p.Reference == ref {
			return p, nil
		}
	}
	return state.Payment{}, fmt.Errorf("payment %s/%s: %w", provider, ref, state.ErrNotFound)
}

func (m *memStore) ListPayments(_ context.Context, f state.PaymentFilter) ([]state.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.Payment
	for _, p := range m.payments {
		if (f.Provider == "" || p.Provider == f.Provider) && (f.Reference == "" || p.Reference == f.Reference) && (f.Status == "" || p.Status == f.Status) {
			out = append(out, p)
		}
	}
	return out, nil
}

func (m *memStore) RecordInitiation(_ context.Context, id string, in state.PaymentInitiation, now time.Time) (state.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.payments[id]
	if !ok {
		return p, state.ErrNotFound
	}
	p.Status, p.ProviderReference, p.RedirectURL, p.Message, p.NextSyncAt, p.UpdatedAt = in.Status, in.ProviderReference, in.RedirectURL, in.Message, in.NextSyncAt, now
	m.payments[id] = p
	return p, nil
}

func (m *memStore) DuePayments(_ context.Context, now time.Time, limit int) ([]state.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.Payment
	for _, p := range m.payments {
		if (p.Status == "pending" || p.Status == "unknown") && !p.NextSyncAt.After(now) && len(out) < limit {
			out = append(out, p)
		}
	}
	return out, nil
}

func (m *memStore) ScheduleSync(_ context.Context, id string, next time.Time, attempts int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.payments[id]
	if !ok {
		return state.ErrNotFound
	}
	p.NextSyncAt, p.SyncAttempts = next, attempts
	m.payments[id] = p
	return nil
}

func (m *memStore) ApplyStatus(_ context.Context, c state.StatusChange) (state.StatusResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return state.StatusResult{}, errors.New("store closed")
	}
	if c.Notification != nil && m.dedup[c.Provider+"|"+c.Notification.DedupKey] {
		return state.StatusResult{Duplicate: true}, nil
	}
	var p state.Payment
	found := false
	for _, q := range m.payments {
		if q.Provider == c.Provider && ((c.Reference != "" && q.Reference == c.Reference) || (c.Reference == "" && q.ProviderReference == c.ProviderReference)) {
			p, found = q, true
			break
		}
	}
	if !found {
		if !c.CreateIfMissing {
			return state.StatusResult{}, state.ErrNotFound
		}
		p = state.Payment{ID: m.id("pay_"), Provider: c.Provider, Reference: c.Reference, Amount: c.Amount, Currency: c.Currency, CreatedAt: c.Now}
	}
	if c.Notification != nil {
		m.dedup[c.Provider+"|"+c.Notification.DedupKey] = true
	}
	changed := p.Status != c.Status
	p.Status, p.UpdatedAt = c.Status, c.Now
	if c.ProviderReference != "" {
		p.ProviderReference = c.ProviderReference
	}
	m.payments[p.ID] = p
	res := state.StatusResult{Payment: p, Changed: changed}
	if changed && c.EventType != "" {
		id := m.id("evt_")
		body, err := c.EventPayload(p, id, c.Now)
		if err != nil {
			return state.StatusResult{}, err
		}
		ev := state.Event{ID: id, Type: c.EventType, PaymentID: p.ID, Provider: p.Provider, Payload: body, CreatedAt: c.Now}
		m.events = append(m.events, ev)
		for _, r := range c.Routes {
			m.deliv = append(m.deliv, state.Delivery{ID: m.id("dlv_"), EventID: id, Route: r, Status: state.DeliveryPending, Event: ev, CreatedAt: c.Now})
		}
		res.EventID = id
	}
	return res, nil
}

func (m *memStore) ClaimIdempotencyKey(_ context.Context, key, hash string, now time.Time) (state.IdempotencyRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.keys[key]; ok {
		return r, false, nil
	}
	r := state.IdempotencyRecord{Key: key, RequestHash: hash, CreatedAt: now}
	m.keys[key] = r
	return r, true, nil
}

func (m *memStore) CompleteIdempotencyKey(_ context.Context, key string, code int, body []byte, pid string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.keys[key]
	r.Done, r.StatusCode, r.Body, r.PaymentID = true, code, body, pid
	m.keys[key] = r
	return nil
}

func (m *memStore) ReleaseIdempotencyKey(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, key)
	return nil
}

func (m *memStore) ClaimDeliveries(context.Context, string, string, time.Time, time.Duration, int) ([]state.Delivery, error) {
	return nil, nil
}
func (m *memStore) RecordAttempt(context.Context, state.AttemptResult) error { return nil }
func (m *memStore) ListDeliveries(_ context.Context, f state.EventFilter) ([]state.Delivery, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.Delivery
	for _, d := range m.deliv {
		if (f.Route == "" || d.Route == f.Route) && (f.Status == "" || d.Status == f.Status) {
			out = append(out, d)
		}
	}
	return out, nil
}
func (m *memStore) EventDetail(context.Context, string) (state.Event, []state.Delivery, []state.Attempt, error) {
	return state.Event{}, nil, nil, state.ErrNotFound
}
func (m *memStore) ReplayEvent(context.Context, string, time.Time) error { return state.ErrNotFound }
func (m *memStore) NextDue(context.Context, string) (time.Time, error)   { return time.Time{}, nil }
func (m *memStore) Stats(context.Context) (state.QueueStats, error)      { return state.QueueStats{}, nil }

func (m *memStore) eventsFor(reference string) []state.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.Event
	for _, e := range m.events {
		if p := m.payments[e.PaymentID]; p.Reference == reference {
			out = append(out, e)
		}
	}
	return out
}

func (m *memStore) eventCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}

var _ state.Store = (*memStore)(nil)

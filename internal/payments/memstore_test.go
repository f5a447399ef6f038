package payments

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// memStore is a hand-written in-memory store for the unit tests: payments,
// idempotency keys, resources and the events ApplyStatus emits. The end to
// end tests use the real SQLite store.
type memStore struct {
	mu        sync.Mutex
	resources map[string]state.Resource
	payments  map[string]state.Payment
	keys      map[string]state.IdempotencyRecord
	events    []state.Event
	routes    map[string][]string // event ID -> the routes it got a delivery for
	dedup     map[string]bool
	n         int
}

func newMemStore() *memStore {
	return &memStore{
		resources: map[string]state.Resource{},
		payments:  map[string]state.Payment{},
		keys:      map[string]state.IdempotencyRecord{},
		dedup:     map[string]bool{},
		routes:    map[string][]string{},
	}
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

func (m *memStore) CreatePayment(_ context.Context, p state.Payment) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, q := range m.payments {
		if q.Provider == p.Provider && q.Reference == p.Reference {
			return fmt.Errorf("create payment: %w", state.ErrConflict)
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
		return p, fmt.Errorf("payment %s: %w", id, state.ErrNotFound)
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
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedAt.After(out[j].CreatedAt) })
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
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
	p.Status, p.ProviderReference, p.RedirectURL, p.Message, p.Raw = in.Status, in.ProviderReference, in.RedirectURL, in.Message, in.Raw
	p.NextSyncAt, p.UpdatedAt = in.NextSyncAt, now
	m.payments[id] = p
	return p, nil
}

func (m *memStore) DuePayments(_ context.Context, now time.Time, limit int) ([]state.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.Payment
	for _, p := range m.payments {
		if (p.Status == "pending" || p.Status == "unknown") && !p.NextSyncAt.After(now) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NextSyncAt.Before(out[j].NextSyncAt) })
	if len(out) > limit {
		out = out[:limit]
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
	if c.Notification != nil {
		k := c.Provider + "|" + c.Notification.DedupKey
		if m.dedup[k] {
			return state.StatusResult{Duplicate: true}, nil
		}
		m.dedup[k] = true
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
		return state.StatusResult{}, state.ErrNotFound
	}
	changed := p.Status != c.Status
	p.Status = c.Status
	if c.ProviderReference != "" {
		p.ProviderReference = c.ProviderReference
	}
	if c.ConfirmationCode != "" {
		p.ConfirmationCode = c.ConfirmationCode
	}
	if c.Message != "" {
		p.Message = c.Message
	}
	p.UpdatedAt = c.Now
	m.payments[p.ID] = p
	res := state.StatusResult{Payment: p, Changed: changed}
	if changed && c.EventType != "" {
		m.n++
		id := fmt.Sprintf("evt_%d", m.n)
		body, err := c.EventPayload(p, id, c.Now)
		if err != nil {
			return state.StatusResult{}, err
		}
		m.events = append(m.events, state.Event{ID: id, Type: c.EventType, PaymentID: p.ID, Provider: p.Provider, Payload: body, CreatedAt: c.Now})
		m.routes[id] = append([]string(nil), c.Routes...)
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

func (m *memStore) eventsOf(paymentID string) []state.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []state.Event
	for _, e := range m.events {
		if e.PaymentID == paymentID {
			out = append(out, e)
		}
	}
	return out
}

// deliveries returns the routes an event was queued for.
func (m *memStore) deliveries(eventID string) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.routes[eventID]
}

package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/finconnectd/finconnectd/internal/state"
)

// memStore is a hand-written in-memory store: payments, the dedup keys of
// recorded notifications and the events ApplyStatus emits. fail makes
// every call fail (a store outage).
type memStore struct {
	mu       sync.Mutex
	payments map[string]state.Payment // by ID
	dedup    map[string]bool
	ntfs     []state.Notification
	events   []state.Event
	routes   map[string][]string
	fail     bool
	n        int
}

func newMemStore() *memStore {
	return &memStore{payments: map[string]state.Payment{}, dedup: map[string]bool{}, routes: map[string][]string{}}
}

var errOutage = errors.New("store outage")

func (m *memStore) setFail(v bool) {
	m.mu.Lock()
	m.fail = v
	m.mu.Unlock()
}

func (m *memStore) put(p state.Payment) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if p.ID == "" {
		m.n++
		p.ID = fmt.Sprintf("pay_%d", m.n)
	}
	m.payments[p.ID] = p
}

func (m *memStore) PaymentByReference(_ context.Context, provider, ref string) (state.Payment, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return state.Payment{}, errOutage
	}
	for _, p := range m.payments {
		if p.Provider == provider && p.Reference == ref {
			return p, nil
		}
	}
	return state.Payment{}, fmt.Errorf("payment %s/%s: %w", provider, ref, state.ErrNotFound)
}

func (m *memStore) byRef(provider, ref string) (state.Payment, bool) {
	p, err := m.PaymentByReference(context.Background(), provider, ref)
	return p, err == nil
}

func (m *memStore) ApplyStatus(_ context.Context, c state.StatusChange) (state.StatusResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return state.StatusResult{}, errOutage
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
			return state.StatusResult{}, fmt.Errorf("apply status: %w", state.ErrNotFound)
		}
		m.n++
		p = state.Payment{ID: fmt.Sprintf("pay_%d", m.n), Provider: c.Provider, Reference: c.Reference, Status: "", CreatedAt: c.Now}
	}
	if c.Notification != nil {
		m.dedup[c.Provider+"|"+c.Notification.DedupKey] = true
		m.ntfs = append(m.ntfs, *c.Notification)
	}
	changed := p.Status != c.Status
	p.Status = c.Status
	if p.Amount == "" {
		p.Amount = c.Amount
	}
	if p.Currency == "" {
		p.Currency = c.Currency
	}
	if c.ProviderReference != "" {
		p.ProviderReference = c.ProviderReference
	}
	if c.ConfirmationCode != "" {
		p.ConfirmationCode = c.ConfirmationCode
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

func (m *memStore) eventCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}

func (m *memStore) notifications() []state.Notification {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]state.Notification(nil), m.ntfs...)
}

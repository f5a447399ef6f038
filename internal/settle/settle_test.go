package settle

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
)

// recordingStore captures the change and plays the store's part of building
// the event, so the test sees exactly what a real store would persist.
type recordingStore struct {
	got state.StatusChange
}

func (r *recordingStore) ApplyStatus(_ context.Context, c state.StatusChange) (state.StatusResult, error) {
	r.got = c
	p := state.Payment{ID: "pay_1", Provider: c.Provider, Reference: c.Reference, Status: c.Status,
		Amount: "1500.00", Currency: "KES", Phone: "254712345678", ProviderReference: c.ProviderReference,
		ConfirmationCode: c.ConfirmationCode}
	res := state.StatusResult{Payment: p, Changed: true}
	if c.EventType != "" {
		if _, err := c.EventPayload(p, "evt_1", c.Now); err != nil {
			return res, err
		}
		res.EventID = "evt_1"
	}
	return res, nil
}

func TestApplyFansOutToMatchingRoutes(t *testing.T) {
	routes := []*config.Route{
		{Name: "a", Provider: "pesapal.ke", Events: config.EventTypes()},
		{Name: "b", Provider: "pesapal.ke", Events: []string{"payment.failed"}},
		{Name: "c", Provider: "clickpesa.tz", Events: config.EventTypes()},
	}
	tests := []struct {
		status     providers.Status
		wantType   string
		wantRoutes []string
	}{
		{providers.StatusSucceeded, "payment.succeeded", []string{"a"}},
		{providers.StatusFailed, "payment.failed", []string{"a", "b"}},
		{providers.StatusPending, "payment.pending", []string{"a"}},
		{providers.StatusUnknown, "", nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.status), func(t *testing.T) {
			st := &recordingStore{}
			notified := 0
			s := New(Options{Store: st, Routes: func() []*config.Route { return routes }, Notify: func() { notified++ },
				Now: func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }})
			res, err := s.Apply(context.Background(), Statement{ProviderID: "pesapal.ke",
				Status: providers.PaymentStatus{Status: tt.status, Reference: "ORDER-001"}})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if st.got.EventType != tt.wantType {
				t.Errorf("event type = %q, want %q", st.got.EventType, tt.wantType)
			}
			if !reflect.DeepEqual(st.got.Routes, tt.wantRoutes) {
				t.Errorf("routes = %#v, want %#v", st.got.Routes, tt.wantRoutes)
			}
			wantNotified := 0
			if tt.wantType != "" {
				wantNotified = 1
				if res.EventID != "evt_1" {
					t.Errorf("event ID = %q, want %q", res.EventID, "evt_1")
				}
			}
			if notified != wantNotified {
				t.Errorf("Notify called %d times, want %d", notified, wantNotified)
			}
		})
	}
}

func TestEventPayloadShape(t *testing.T) {
	p := state.Payment{ID: "pay_x", Provider: "pesapal.ke", Reference: "ORDER-001",
		ProviderReference: "b945e4af", Status: "succeeded", Amount: "1500.00", Currency: "KES",
		Phone: "254712345678", ConfirmationCode: "QK12ABC"}
	at := time.Date(2026, 11, 22, 10, 0, 0, 123, time.UTC)
	b, err := EventPayload(p, "evt_y", "payment.succeeded", at, json.RawMessage(`{"status_code":1}`))
	if err != nil {
		t.Fatalf("EventPayload: %v", err)
	}
	want := `{"type":"payment.succeeded","timestamp":"2026-11-22T10:00:00Z","data":{"event_id":"evt_y","payment_id":"pay_x","provider":"pesapal.ke","reference":"ORDER-001","provider_reference":"b945e4af","status":"succeeded","amount":"1500.00","currency":"KES","phone":"254712345678","confirmation_code":"QK12ABC","raw":{"status_code":1}}}`
	var gotV, wantV any
	if err := json.Unmarshal([]byte(want), &wantV); err != nil {
		t.Fatalf("the wanted payload is not JSON: %v", err)
	}
	if err := json.Unmarshal(b, &gotV); err != nil {
		t.Errorf("payload is not JSON (%v): %s", err, b)
	} else if !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("payload\n got %s\nwant %s", b, want)
	}

	b, err = EventPayload(p, "evt_y", "payment.succeeded", at, json.RawMessage(`not json`))
	if err != nil {
		t.Fatalf("EventPayload with a raw body that is not JSON: %v", err)
	}
	if !strings.Contains(string(b), `"raw":{}`) {
		t.Errorf("payload with a raw body that is not JSON = %s, want it to contain %s", b, `"raw":{}`)
	}
}

// recordingHandoff reserves room for the routes in room and records what
// the Settler hands back.
type recordingHandoff struct {
	room     map[string]bool
	reserved []string
	leases   map[string]state.Lease
	calls    int              // done's calls
	handed   []state.Delivery // what done got
	gotNil   bool             // done was called with nil
}

func (h *recordingHandoff) Reserve(routes []string) (map[string]state.Lease, func([]state.Delivery)) {
	h.reserved = append([]string(nil), routes...)
	h.leases = map[string]state.Lease{}
	for _, r := range routes {
		if h.room[r] {
			h.leases[r] = state.Lease{Owner: "me", Until: time.Date(2026, 11, 22, 10, 2, 0, 0, time.UTC)}
		}
	}
	return h.leases, func(ds []state.Delivery) {
		h.calls++
		h.handed, h.gotNil = ds, ds == nil
	}
}

// TestApplyHandsOff: the Settler reserves room for the routes an event
// goes to before storing it, the store inserts those routes' deliveries
// under the leases, and what it inserted is handed back; the workers are
// woken only for a delivery left to be claimed, and a failed store hands
// nothing back.
func TestApplyHandsOff(t *testing.T) {
	routes := []*config.Route{
		{Name: "a", Provider: "clickpesa.tz", Events: config.EventTypes()},
		{Name: "b", Provider: "clickpesa.tz", Events: config.EventTypes()},
	}
	tests := []struct {
		name       string
		room       map[string]bool
		wantNotify int
	}{
		{"room for every route", map[string]bool{"a": true, "b": true}, 0},
		{"room for one", map[string]bool{"b": true}, 1},
		{"no room", nil, 1},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			h := &recordingHandoff{room: tt.room}
			notified := 0
			s := New(Options{Store: st, Routes: func() []*config.Route { return routes }, Notify: func() { notified++ }, Handoff: h})
			ref := fmt.Sprintf("ORDER-%d", i)
			res, err := s.Apply(context.Background(), Statement{ProviderID: "clickpesa.tz", CreateIfMissing: true,
				Status: providers.PaymentStatus{Status: providers.StatusSucceeded, Reference: ref, Amount: "1000", Currency: "TZS"}})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !reflect.DeepEqual(h.reserved, []string{"a", "b"}) {
				t.Errorf("room asked for %v, want [a b]", h.reserved)
			}
			if h.calls != 1 || len(h.handed) != 2 {
				t.Fatalf("done called %d times with %d deliveries; want once with both", h.calls, len(h.handed))
			}
			for _, d := range h.handed {
				if d.EventID != res.EventID || d.Event.ID != res.EventID || len(d.Event.Payload) == 0 || d.Lease != h.leases[d.Route] {
					t.Errorf("handed %+v; want a delivery of event %s with its payload, under lease %+v", d, res.EventID, h.leases[d.Route])
				}
			}
			if notified != tt.wantNotify {
				t.Errorf("Notify called %d times, want %d", notified, tt.wantNotify)
			}

			// The same statement again changes nothing: nothing to hand back.
			h.calls = 0
			if _, err := s.Apply(context.Background(), Statement{ProviderID: "clickpesa.tz",
				Status: providers.PaymentStatus{Status: providers.StatusSucceeded, Reference: ref, Amount: "1000", Currency: "TZS"}}); err != nil {
				t.Fatalf("Apply again: %v", err)
			}
			if h.calls != 1 || len(h.handed) != 0 {
				t.Errorf("repeated statement: done called %d times with %d deliveries; want once with none", h.calls, len(h.handed))
			}

			// A statement the store refuses (another amount) hands back nil.
			h.calls = 0
			if _, err := s.Apply(context.Background(), Statement{ProviderID: "clickpesa.tz",
				Status: providers.PaymentStatus{Status: providers.StatusReversed, Reference: ref, Amount: "999", Currency: "TZS"}}); err == nil {
				t.Fatal("Apply of a mismatched amount succeeded")
			}
			if h.calls != 1 || !h.gotNil {
				t.Errorf("refused statement: done called %d times (with nil: %v); want once with nil", h.calls, h.gotNil)
			}
		})
	}
}

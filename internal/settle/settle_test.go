package settle

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/state"
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
			s := New(Options{Store: st, Routes: routes, Notify: func() { notified++ },
				Now: func() time.Time { return time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC) }})
			res, err := s.Apply(context.Background(), Statement{ProviderID: "pesapal.ke",
				Status: providers.PaymentStatus{Status: tt.status, Reference: "ORDER-001"}})
			require.NoError(t, err)
			assert.Equal(t, tt.wantType, st.got.EventType)
			assert.Equal(t, tt.wantRoutes, st.got.Routes)
			if tt.wantType != "" {
				assert.Equal(t, 1, notified)
				assert.Equal(t, "evt_1", res.EventID)
			} else {
				assert.Equal(t, 0, notified)
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
	require.NoError(t, err)
	want := `{"type":"payment.succeeded","timestamp":"2026-11-22T10:00:00Z","data":{"event_id":"evt_y","payment_id":"pay_x","provider":"pesapal.ke","reference":"ORDER-001","provider_reference":"b945e4af","status":"succeeded","amount":"1500.00","currency":"KES","phone":"254712345678","confirmation_code":"QK12ABC","raw":{"status_code":1}}}`
	assert.JSONEq(t, want, string(b))

	b, err = EventPayload(p, "evt_y", "payment.succeeded", at, json.RawMessage(`not json`))
	require.NoError(t, err)
	assert.Contains(t, string(b), `"raw":{}`)
}

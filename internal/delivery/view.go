package delivery

import (
	"encoding/json"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// DeliveryView is one delivery (an event on its way to one route) as the
// events API and `finconnectd events list -json` show it.
type DeliveryView struct {
	ID        string `json:"id"`
	EventID   string `json:"event_id"`
	EventType string `json:"event_type"`
	PaymentID string `json:"payment_id"`
	Provider  string `json:"provider"`
	Route     string `json:"route"`
	Status    string `json:"status"` // pending | delivered | dead
	Attempts  int    `json:"attempts"`
	// NextAttemptAt is set while the delivery is pending.
	NextAttemptAt  *time.Time `json:"next_attempt_at,omitempty"`
	LastStatusCode int        `json:"last_status_code,omitempty"`
	LastError      string     `json:"last_error,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
}

// AttemptView is one delivery attempt.
type AttemptView struct {
	DeliveryID string    `json:"delivery_id"`
	Route      string    `json:"route"`
	N          int       `json:"n"`
	At         time.Time `json:"at"`
	DurationMS int64     `json:"duration_ms"`
	StatusCode int       `json:"status_code,omitempty"` // absent: no response
	Error      string    `json:"error,omitempty"`
}

// EventView is one event with its deliveries and every attempt made, as
// GET /v1/events/{id} and `finconnectd events show -json` show it.
type EventView struct {
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	PaymentID string    `json:"payment_id"`
	Provider  string    `json:"provider"`
	CreatedAt time.Time `json:"created_at"`
	// Payload is the body delivered, as JSON.
	Payload    json.RawMessage `json:"payload"`
	Deliveries []DeliveryView  `json:"deliveries"`
	Attempts   []AttemptView   `json:"attempts"`
}

// ViewDeliveries converts a list of stored deliveries to the body of
// GET /v1/events (also what `finconnectd events list -json` prints).
func ViewDeliveries(list []state.Delivery) DeliveryList {
	out := DeliveryList{Deliveries: make([]DeliveryView, 0, len(list))}
	for _, d := range list {
		out.Deliveries = append(out.Deliveries, ViewDelivery(d))
	}
	return out
}

// ViewDelivery converts a stored delivery (with its event) to its API form.
func ViewDelivery(d state.Delivery) DeliveryView {
	v := DeliveryView{
		ID:             d.ID,
		EventID:        d.EventID,
		EventType:      d.Event.Type,
		PaymentID:      d.Event.PaymentID,
		Provider:       d.Event.Provider,
		Route:          d.Route,
		Status:         d.Status,
		Attempts:       d.Attempts,
		LastStatusCode: d.LastStatusCode,
		LastError:      d.LastError,
		CreatedAt:      d.CreatedAt.UTC(),
		UpdatedAt:      d.UpdatedAt.UTC(),
	}
	if v.EventID == "" {
		v.EventID = d.Event.ID
	}
	if d.Status == state.DeliveryPending && !d.NextAttemptAt.IsZero() {
		t := d.NextAttemptAt.UTC()
		v.NextAttemptAt = &t
	}
	return v
}

// ViewEvent converts an event, its deliveries and their attempts.
func ViewEvent(ev state.Event, dels []state.Delivery, atts []state.Attempt) EventView {
	v := EventView{
		ID:         ev.ID,
		Type:       ev.Type,
		PaymentID:  ev.PaymentID,
		Provider:   ev.Provider,
		CreatedAt:  ev.CreatedAt.UTC(),
		Payload:    payloadJSON(ev.Payload),
		Deliveries: make([]DeliveryView, 0, len(dels)),
		Attempts:   make([]AttemptView, 0, len(atts)),
	}
	routes := make(map[string]string, len(dels))
	for _, d := range dels {
		if d.Event.ID == "" {
			d.Event = ev
		}
		v.Deliveries = append(v.Deliveries, ViewDelivery(d))
		routes[d.ID] = d.Route
	}
	for _, a := range atts {
		v.Attempts = append(v.Attempts, AttemptView{
			DeliveryID: a.DeliveryID,
			Route:      routes[a.DeliveryID],
			N:          a.N,
			At:         a.At.UTC(),
			DurationMS: a.Duration.Milliseconds(),
			StatusCode: a.StatusCode,
			Error:      a.Error,
		})
	}
	return v
}

// payloadJSON is the stored body as JSON; a body that is not JSON (it
// always is: settle builds it) is shown as a string rather than failing.
func payloadJSON(b []byte) json.RawMessage {
	if len(b) > 0 && json.Valid(b) {
		return json.RawMessage(b)
	}
	s, _ := json.Marshal(string(b))
	return s
}

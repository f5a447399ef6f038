package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/state"
)

// MaxListLimit bounds GET /v1/events?limit=.
const MaxListLimit = 1000

// RegisterAPI adds the events API to mux (which the daemon puts behind the
// bearer tokens); its routes need the events scope:
//
//	GET  /v1/events?status=&route=&limit=&cursor=   deliveries, newest first
//	GET  /v1/events/{id}                    an event, its deliveries and attempts
//	POST /v1/events/{id}/replay             deliver again (202)
//
// notify wakes the delivery workers after a replay (nil: they find it
// within their poll interval).
func RegisterAPI(mux httpapi.Router, st state.OutboxStore, now func() time.Time, notify func()) {
	if now == nil {
		now = time.Now
	}
	if notify == nil {
		notify = func() {}
	}
	a := &api{st: st, now: now, notify: notify}
	scoped := func(h httpapi.HandlerFunc) http.Handler {
		return httpapi.RequireScope(config.ScopeEvents, httpapi.Handle(h))
	}
	mux.Handle("GET /v1/events", scoped(a.list))
	mux.Handle("GET /v1/events/{id}", scoped(a.show))
	mux.Handle("POST /v1/events/{id}/replay", scoped(a.replay))
}

type api struct {
	st     state.OutboxStore
	now    func() time.Time
	notify func()
}

// DeliveryList is the answer of GET /v1/events: a page of deliveries,
// newest first, and when more follow, the cursor of the next page.
type DeliveryList struct {
	Deliveries []DeliveryView `json:"deliveries"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// ParseStatus checks a delivery status filter ("" = any).
func ParseStatus(s string) error {
	switch s {
	case "", state.DeliveryPending, state.DeliveryDelivered, state.DeliveryDead:
		return nil
	}
	return fmt.Errorf("must be %s, %s or %s", state.DeliveryPending, state.DeliveryDelivered, state.DeliveryDead)
}

func (a *api) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := state.EventFilter{Status: q.Get("status"), Route: q.Get("route"), Limit: 100}
	var errs []httpapi.FieldError
	if err := ParseStatus(f.Status); err != nil {
		errs = append(errs, httpapi.FieldError{Field: "status", Message: err.Error()})
	}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > MaxListLimit {
			errs = append(errs, httpapi.FieldError{Field: "limit", Message: fmt.Sprintf("must be a number from 1 to %d", MaxListLimit)})
		}
		f.Limit = n
	}
	if c := q.Get("cursor"); c != "" {
		id, err := httpapi.DecodeCursor(c)
		if err != nil {
			errs = append(errs, httpapi.FieldError{Field: "cursor", Message: err.Error()})
		}
		f.After = id
	}
	if len(errs) > 0 {
		return httpapi.QueryProblem(errs)
	}
	out, err := ListPage(r.Context(), a.st, f)
	if errors.Is(err, state.ErrNotFound) && f.After != "" {
		return httpapi.QueryProblem([]httpapi.FieldError{{Field: "cursor", Message: "names no delivery; list again without it"}})
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// ListPage lists one page of deliveries (f.Limit of them, after f.After)
// and, when more follow, the cursor of the next page in NextCursor. The
// events API and the CLI page the same way.
func ListPage(ctx context.Context, st state.OutboxStore, f state.EventFilter) (DeliveryList, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	f.Limit = limit + 1 // one more says whether there is a next page
	list, err := st.ListDeliveries(ctx, f)
	if err != nil {
		return DeliveryList{}, fmt.Errorf("list deliveries: %w", err)
	}
	next := ""
	if len(list) > limit {
		list = list[:limit]
		next = httpapi.EncodeCursor(list[len(list)-1].ID)
	}
	out := ViewDeliveries(list)
	out.NextCursor = next
	return out, nil
}

func (a *api) detail(r *http.Request, id string) (EventView, error) {
	ev, dels, atts, err := a.st.EventDetail(r.Context(), id)
	if errors.Is(err, state.ErrNotFound) {
		return EventView{}, notFound(id)
	}
	if err != nil {
		return EventView{}, fmt.Errorf("read event: %w", err)
	}
	return ViewEvent(ev, dels, atts), nil
}

func (a *api) show(w http.ResponseWriter, r *http.Request) error {
	v, err := a.detail(r, r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, v)
	return nil
}

func (a *api) replay(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if err := a.st.ReplayEvent(r.Context(), id, a.now()); err != nil {
		if errors.Is(err, state.ErrNotFound) {
			return notFound(id)
		}
		return fmt.Errorf("replay event: %w", err)
	}
	a.notify()
	v, err := a.detail(r, id)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusAccepted, v)
	return nil
}

func notFound(id string) *httpapi.Problem {
	return httpapi.NewProblem(http.StatusNotFound, "event-not-found", "Event not found",
		fmt.Sprintf("No event %q; GET /v1/events lists them.", clip(id, 64)))
}

// clip shortens caller-supplied text echoed in a problem.
func clip(s string, n int) string {
	out := cleanText([]byte(s), n)
	if len(s) > n {
		out += "..."
	}
	return out
}

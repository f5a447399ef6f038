package console

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/state"
)

func urlEscape(s string) string { return url.QueryEscape(s) }

var funcs = template.FuncMap{
	"phone":   MaskPhone,
	"account": MaskAccount,
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"iso": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"ms":  func(d time.Duration) int64 { return d.Milliseconds() },
	// hasPrefix tells payouts' events (their subject is a po_ ID) from payments'.
	"hasPrefix": strings.HasPrefix,
	"classText": classText,
	"span":      span,
	"took":      func(from, to time.Time) string { return to.Sub(from).Round(time.Millisecond).String() },
}

// MaskPhone keeps the first four and last two digits of a phone number:
// enough to recognise a customer, not enough to call them.
func MaskPhone(p string) string {
	if len(p) <= 6 {
		return strings.Repeat("•", len(p))
	}
	return p[:4] + strings.Repeat("•", len(p)-6) + p[len(p)-2:]
}

// PaymentQuery is the search form of the payments page.
type PaymentQuery struct {
	Reference, Provider, Status, Phone, Date string
}

func (q PaymentQuery) memoryFilters() bool { return q.Phone != "" || q.Date != "" }

type paymentsData struct {
	Q         PaymentQuery
	Providers []string
	Statuses  []string
	Payments  []state.Payment
	Scanned   int
	Limited   bool
	Error     string
}

func (c *Console) payments(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	q := PaymentQuery{Reference: strings.TrimSpace(qs.Get("reference")), Provider: qs.Get("provider"),
		Status: qs.Get("status"), Phone: digits(qs.Get("phone")), Date: strings.TrimSpace(qs.Get("date"))}
	d, err := c.findPayments(r.Context(), q)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "payments", sessionFrom(r), view{Title: "Payments", Nav: "payments", Data: d})
	return nil
}

// findPayments runs a payments search. Reference, provider and status are
// the store's filters; phone and date narrow the newest scanLimit matches.
func (c *Console) findPayments(ctx context.Context, q PaymentQuery) (paymentsData, error) {
	d := paymentsData{Q: q, Statuses: []string{"pending", "succeeded", "failed", "reversed", "unknown"}}
	if cfg := c.o.Config(); cfg != nil {
		for _, p := range cfg.Providers {
			d.Providers = append(d.Providers, p.ID())
		}
	}
	var day time.Time
	if q.Date != "" {
		t, err := time.Parse("2006-01-02", q.Date)
		if err != nil {
			d.Error = "The date must be written YYYY-MM-DD."
			return d, nil
		}
		day = t
	}
	if q.Status != "" && !contains(d.Statuses, q.Status) {
		d.Error = "Unknown status."
		return d, nil
	}
	f := state.PaymentFilter{Reference: q.Reference, Provider: q.Provider, Status: state.PaymentStatus(q.Status), Limit: pageSize}
	if q.memoryFilters() {
		f.Limit = scanLimit
	}
	list, err := c.o.Store.ListPayments(ctx, f)
	if err != nil {
		return d, fmt.Errorf("list payments: %w", err)
	}
	d.Scanned = len(list)
	d.Limited = q.memoryFilters() && len(list) == scanLimit
	for _, p := range list {
		if q.Phone != "" && !strings.Contains(digits(p.Phone), q.Phone) {
			continue
		}
		if !day.IsZero() {
			c := p.CreatedAt.UTC()
			if c.Before(day) || !c.Before(day.AddDate(0, 0, 1)) {
				continue
			}
		}
		d.Payments = append(d.Payments, p)
		if len(d.Payments) == pageSize {
			break
		}
	}
	return d, nil
}

func digits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// eventDetail is one event of a payment with its deliveries and attempts.
type eventDetail struct {
	Event      state.Event
	Deliveries []state.Delivery
	Attempts   []attemptRow
}

type attemptRow struct {
	state.Attempt
	Route string
}

type paymentData struct {
	P             state.Payment
	History       []historyRow
	Notifications []notificationRow
	Refunds       []state.Payout
	Events        []eventDetail
}

// historyRow is one line of a payment's status history.
type historyRow struct {
	At             time.Time
	From, To       string
	Source         string
	NotificationID string
}

// history is the payment's creation followed by each status change. A
// payment created by a statement has its first change as its creation.
func history(p state.Payment, entries []state.StatusEntry) []historyRow {
	rows := make([]historyRow, 0, len(entries)+1)
	if len(entries) == 0 || entries[0].From != "" {
		first := p.Status
		if len(entries) > 0 {
			first = entries[0].From
		}
		rows = append(rows, historyRow{At: p.CreatedAt, To: string(first), Source: "created through the pay API"})
	}
	for _, e := range entries {
		rows = append(rows, historyRow{At: e.At, From: string(e.From), To: string(e.To), Source: sourceText(e.Source), NotificationID: e.NotificationID})
	}
	return rows
}

func sourceText(s state.Source) string {
	switch s {
	case state.SourceInitiation:
		return "the provider's answer to the initiation"
	case state.SourceNotification:
		return "a provider notification"
	case state.SourceStatusQuery:
		return "sync (a status query)"
	case state.SourceRefresh:
		return "a refresh (GET ?refresh=true)"
	case state.SourceReconciliation:
		return "reconciliation with the provider's records"
	case state.SourceRefund:
		return "a refund or cancellation"
	}
	return string(s)
}

// notificationRow is a provider notification as the console shows it.
type notificationRow struct {
	state.Notification
	Excerpt string
}

var (
	longDigits  = regexp.MustCompile(`\d{9,}`)
	signedValue = regexp.MustCompile(`(?i)("?(?:checksum|signature|secret|token|password|hash)"?\s*[:=]\s*)("[^"]*"|[^&,}\s]*)`)
)

// excerpt is a notification body fit for the page: phone-like numbers
// masked, checksums and anything named like a secret hidden, at most 600
// bytes.
func excerpt(body []byte) string {
	s := string(body)
	if len(s) > 4096 {
		s = s[:4096]
	}
	s = signedValue.ReplaceAllString(s, `${1}"(hidden)"`)
	s = longDigits.ReplaceAllStringFunc(s, MaskPhone)
	if len(s) > 600 {
		s = strings.ToValidUTF8(s[:600], "") + "…"
	}
	return s
}

func (c *Console) payment(w http.ResponseWriter, r *http.Request) error {
	p, err := c.o.Store.Payment(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d := paymentData{P: p}
	entries, err := c.o.Store.PaymentHistory(r.Context(), p.ID)
	if err != nil {
		return fmt.Errorf("read the status history: %w", err)
	}
	d.History = history(p, entries)
	ntfs, err := c.o.Store.PaymentNotifications(r.Context(), p.ID)
	if err != nil {
		return fmt.Errorf("read the notifications: %w", err)
	}
	for _, n := range ntfs {
		d.Notifications = append(d.Notifications, notificationRow{Notification: n, Excerpt: excerpt(n.Body)})
	}
	if d.Refunds, err = c.o.Store.ListPayouts(r.Context(), state.PayoutFilter{PaymentID: p.ID, Limit: pageSize}); err != nil {
		return fmt.Errorf("list the refunds: %w", err)
	}
	if d.Events, err = c.eventsOf(r.Context(), p.ID); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "payment", sessionFrom(r), view{Title: "Payment " + p.Reference, Nav: "payments", Data: d})
	return nil
}

// eventsOf returns the events of a payment or payout, newest first, with
// their deliveries and attempts: the store finds them by the payment's ID.
func (c *Console) eventsOf(ctx context.Context, subjectID string) ([]eventDetail, error) {
	evs, err := c.o.Store.PaymentEvents(ctx, subjectID, pageSize)
	if err != nil {
		return nil, fmt.Errorf("list the events of %s: %w", subjectID, err)
	}
	out := make([]eventDetail, 0, len(evs))
	for _, ev := range evs {
		ed, err := c.eventDetail(ctx, ev.ID)
		if err != nil {
			return nil, err
		}
		out = append(out, ed)
	}
	return out, nil
}

func (c *Console) eventDetail(ctx context.Context, id string) (eventDetail, error) {
	ev, dels, atts, err := c.o.Store.EventDetail(ctx, id)
	if err != nil {
		return eventDetail{}, err
	}
	routes := map[string]string{}
	for _, d := range dels {
		routes[d.ID] = d.Route
	}
	ed := eventDetail{Event: ev, Deliveries: dels}
	for _, a := range atts {
		ed.Attempts = append(ed.Attempts, attemptRow{Attempt: a, Route: routes[a.DeliveryID]})
	}
	return ed, nil
}

type eventsData struct {
	Status     string
	Route      string
	Routes     []string
	Deliveries []state.Delivery
	Error      string
}

func (c *Console) events(w http.ResponseWriter, r *http.Request) error {
	d := eventsData{Status: r.URL.Query().Get("status"), Route: r.URL.Query().Get("route")}
	if cfg := c.o.Config(); cfg != nil {
		for _, rt := range cfg.Routes {
			d.Routes = append(d.Routes, rt.Name)
		}
	}
	switch d.Status {
	case "", state.DeliveryPending, state.DeliveryDelivered, state.DeliveryDead:
		list, err := c.o.Store.ListDeliveries(r.Context(), state.EventFilter{Status: d.Status, Route: d.Route, Limit: pageSize})
		if err != nil {
			return fmt.Errorf("list deliveries: %w", err)
		}
		d.Deliveries = list
	default:
		d.Error = "Unknown status."
	}
	title, nav := "Events", "events"
	if d.Status == state.DeliveryDead {
		title, nav = "Dead letters", "dead"
	}
	c.render(w, r, http.StatusOK, "events", sessionFrom(r), view{Title: title, Nav: nav, Data: d})
	return nil
}

func (c *Console) event(w http.ResponseWriter, r *http.Request) error {
	ed, err := c.eventDetail(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "event", sessionFrom(r), view{Title: "Event " + ed.Event.ID, Nav: "events",
		Message: r.URL.Query().Get("done"), Data: ed})
	return nil
}

func (c *Console) replay(w http.ResponseWriter, r *http.Request) error {
	s := sessionFrom(r)
	id := r.PathValue("id")
	if err := c.o.Store.ReplayEvent(r.Context(), id, c.o.Now()); err != nil {
		return err
	}
	c.o.Notify()
	c.o.Logger.Info("console: event replayed", "who", s.who.Name, "event_id", id)
	http.Redirect(w, r, "/console/events/"+url.PathEscape(id)+"?done=replayed", http.StatusSeeOther)
	return nil
}

type resourceRow struct {
	Address, Type, Updated string
	Attributes             []attr
}

type attr struct{ Key, Value string }

// secretish names attributes never shown, whatever a resource holds.
func secretish(k string) bool {
	k = strings.ToLower(k)
	for _, s := range []string{"secret", "token", "password", "key_material", "private"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

type stateData struct {
	Resources []resourceRow
	Schedules []scheduleRow
	// Runs are the newest schedule runs, every schedule together.
	Runs []state.ScheduleRun
}

// scheduleRow is a schedule with its latest run and its latest success
// among the runs the store keeps.
type scheduleRow struct {
	Name, Cron   string
	Last, LastOK *state.ScheduleRun
}

func (c *Console) stateResources(w http.ResponseWriter, r *http.Request) error {
	rs, err := c.o.Store.Resources(r.Context())
	if err != nil {
		return fmt.Errorf("read resources: %w", err)
	}
	d := stateData{}
	for _, res := range rs {
		row := resourceRow{Address: res.Address, Type: res.Type, Updated: funcs["when"].(func(time.Time) string)(res.UpdatedAt)}
		var m map[string]any
		if json.Unmarshal(res.Attributes, &m) == nil {
			for _, k := range sortedKeys(m) {
				v := fmt.Sprint(m[k])
				if secretish(k) {
					v = "(hidden)"
				}
				if len(v) > 120 {
					v = v[:120] + "…"
				}
				row.Attributes = append(row.Attributes, attr{k, v})
			}
		}
		d.Resources = append(d.Resources, row)
	}
	if cfg := c.o.Config(); cfg != nil {
		for _, sc := range []attr{{config.ScheduleReconcile, cfg.Schedules.Reconcile}, {config.ScheduleRefreshKeys, cfg.Schedules.RefreshKeys},
			{config.ScheduleSyncPayments, cfg.Schedules.SyncPayments}, {config.ScheduleReconcilePayments, cfg.Schedules.ReconcilePayments}} {
			row := scheduleRow{Name: sc.Key, Cron: sc.Value}
			runs, err := c.o.Store.ListScheduleRuns(r.Context(), state.ScheduleRunFilter{Schedule: sc.Key, Limit: state.ScheduleRunsKept})
			if err != nil {
				return fmt.Errorf("list the runs of schedule %s: %w", sc.Key, err)
			}
			for i := range runs {
				if row.Last == nil {
					row.Last = &runs[i]
				}
				if row.LastOK == nil && runs[i].Outcome == state.ScheduleOK {
					row.LastOK = &runs[i]
				}
			}
			d.Schedules = append(d.Schedules, row)
		}
	}
	if d.Runs, err = c.o.Store.ListScheduleRuns(r.Context(), state.ScheduleRunFilter{Limit: 20}); err != nil {
		return fmt.Errorf("list schedule runs: %w", err)
	}
	c.render(w, r, http.StatusOK, "state", sessionFrom(r), view{Title: "State and schedules", Nav: "state", Data: d})
	return nil
}

type healthData struct {
	Store, Config string
	Pending       int
	Oldest        time.Time
	Dead          int
}

func (c *Console) health(w http.ResponseWriter, r *http.Request) error {
	d := healthData{Store: "ok", Config: "loaded"}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := c.o.Store.Ping(ctx); err != nil {
		d.Store = "unreachable"
	}
	if c.o.Config() == nil {
		d.Config = "not loaded"
	}
	if st, err := c.o.Store.Stats(ctx); err == nil {
		d.Pending, d.Oldest = st.Pending, st.OldestPending
	}
	if dead, err := c.o.Store.ListDeliveries(ctx, state.EventFilter{Status: state.DeliveryDead, Limit: scanLimit}); err == nil {
		d.Dead = len(dead)
	}
	c.render(w, r, http.StatusOK, "health", sessionFrom(r), view{Title: "Health", Nav: "health", Data: d})
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

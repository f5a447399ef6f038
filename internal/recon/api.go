package recon

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Page sizes and bounds of the reconciliation API.
const (
	defaultListLimit = 100
	maxListLimit     = 1000
	// MaxNoteLen bounds the note of a resolve or acknowledge (bytes).
	MaxNoteLen = 1000
)

// APIOptions wire the reconciliation API.
type APIOptions struct {
	Store  state.ReconStore
	Now    func() time.Time
	Logger *slog.Logger
}

// RegisterAPI mounts the reconciliation API on mux, every route behind the
// reconciliation scope. Authentication is the caller's: mux serves
// requests that carry an httpapi.Principal, whose token name is recorded
// as who resolved or acknowledged a difference.
//
//	GET  /v1/reconciliation/differences?provider=&class=&state=&run=&limit=&cursor=
//	GET  /v1/reconciliation/differences/{id}
//	POST /v1/reconciliation/differences/{id}/resolve      {"note": "..."}
//	POST /v1/reconciliation/differences/{id}/acknowledge  {"note": "..."}
//	GET  /v1/reconciliation/runs?provider=&limit=&cursor=
//	GET  /v1/reconciliation/runs/{id}
func RegisterAPI(mux httpapi.Router, o APIOptions) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &api{o: o}
	r := httpapi.Scoped(mux, config.ScopeReconciliation)
	r.Handle("GET /v1/reconciliation/differences", httpapi.Handle(a.listDifferences))
	r.Handle("GET /v1/reconciliation/differences/{id}", httpapi.Handle(a.showDifference))
	r.Handle("POST /v1/reconciliation/differences/{id}/resolve", httpapi.Handle(a.settle(state.DiffResolved)))
	r.Handle("POST /v1/reconciliation/differences/{id}/acknowledge", httpapi.Handle(a.settle(state.DiffAcknowledged)))
	r.Handle("GET /v1/reconciliation/runs", httpapi.Handle(a.listRuns))
	r.Handle("GET /v1/reconciliation/runs/{id}", httpapi.Handle(a.showRun))
}

type api struct{ o APIOptions }

// DifferenceList is the answer of GET /v1/reconciliation/differences: a
// page of differences, newest first, and when more follow, the cursor of
// the next page.
type DifferenceList struct {
	Differences []DifferenceData `json:"differences"`
	NextCursor  string           `json:"next_cursor,omitempty"`
}

// RunView is a reconciliation run as the API and `recon` -json show it.
type RunView struct {
	ID         string              `json:"id"`
	Provider   string              `json:"provider"`
	From       time.Time           `json:"from"`
	To         time.Time           `json:"to"`
	Status     string              `json:"status"`
	Phase      string              `json:"phase,omitempty"`
	Counters   state.ReconCounters `json:"counters"`
	Error      string              `json:"error,omitempty"`
	StartedAt  time.Time           `json:"started_at"`
	UpdatedAt  time.Time           `json:"updated_at"`
	FinishedAt *time.Time          `json:"finished_at,omitempty"`
}

// ViewRun is r as the API shows it (the lease owner, a process name, is
// left out).
func ViewRun(r state.ReconRun) RunView {
	v := RunView{ID: r.ID, Provider: r.Provider, From: r.From.UTC(), To: r.To.UTC(), Status: r.Status, Phase: r.Phase,
		Counters: r.Counters, Error: r.Error, StartedAt: r.StartedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
	if !r.FinishedAt.IsZero() {
		t := r.FinishedAt.UTC()
		v.FinishedAt = &t
	}
	return v
}

// RunList is the answer of GET /v1/reconciliation/runs.
type RunList struct {
	Runs       []RunView `json:"runs"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// pageParams reads limit and cursor, appending to errs.
func pageParams(q map[string][]string, errs *[]httpapi.FieldError) (limit int, after string) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	limit = defaultListLimit
	if l := get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > maxListLimit {
			*errs = append(*errs, httpapi.FieldError{Field: "limit", Message: fmt.Sprintf("must be a number from 1 to %d", maxListLimit)})
		}
		limit = n
	}
	if c := get("cursor"); c != "" {
		id, err := httpapi.DecodeCursor(c)
		if err != nil {
			*errs = append(*errs, httpapi.FieldError{Field: "cursor", Message: err.Error()})
		}
		after = id
	}
	return limit, after
}

// ParseState checks a difference state filter ("" = any).
func ParseState(s string) error {
	switch s {
	case "", state.DiffOpen, state.DiffHealed, state.DiffResolved, state.DiffAcknowledged:
		return nil
	}
	return fmt.Errorf("must be %s, %s, %s or %s", state.DiffOpen, state.DiffHealed, state.DiffResolved, state.DiffAcknowledged)
}

// ParseClass checks a difference class filter ("" = any).
func ParseClass(s string) error {
	if s == "" || state.DiffClass(s).Valid() {
		return nil
	}
	names := make([]string, 0, len(state.DiffClasses()))
	for _, c := range state.DiffClasses() {
		names = append(names, string(c))
	}
	return fmt.Errorf("must be one of %s", strings.Join(names, ", "))
}

func (a *api) listDifferences(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	f := state.DifferenceFilter{Provider: q.Get("provider"), Class: state.DiffClass(q.Get("class")), State: q.Get("state"), RunID: q.Get("run")}
	var errs []httpapi.FieldError
	if err := ParseClass(string(f.Class)); err != nil {
		errs = append(errs, httpapi.FieldError{Field: "class", Message: err.Error()})
	}
	if err := ParseState(f.State); err != nil {
		errs = append(errs, httpapi.FieldError{Field: "state", Message: err.Error()})
	}
	limit, after := pageParams(q, &errs)
	if len(errs) > 0 {
		return httpapi.QueryProblem(errs)
	}
	f.After, f.Limit = after, limit+1 // one more says whether there is a next page
	ds, err := a.o.Store.ListDifferences(r.Context(), f)
	if errors.Is(err, state.ErrNotFound) && f.After != "" {
		return httpapi.QueryProblem([]httpapi.FieldError{{Field: "cursor", Message: "names no difference; list again without it"}})
	}
	if err != nil {
		return fmt.Errorf("list differences: %w", err)
	}
	out := DifferenceList{Differences: make([]DifferenceData, 0, len(ds))}
	if len(ds) > limit {
		ds = ds[:limit]
		out.NextCursor = httpapi.EncodeCursor(ds[len(ds)-1].ID)
	}
	for _, d := range ds {
		out.Differences = append(out.Differences, Data(d))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) showDifference(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	d, err := a.o.Store.Difference(r.Context(), id)
	if errors.Is(err, state.ErrNotFound) {
		return differenceNotFound(id)
	}
	if err != nil {
		return fmt.Errorf("read difference: %w", err)
	}
	httpapi.WriteJSON(w, http.StatusOK, Data(d))
	return nil
}

// SettleRequest is the body of resolve and acknowledge (optional).
type SettleRequest struct {
	Note string `json:"note"`
}

// settle resolves or acknowledges a difference in the name of the
// request's token.
func (a *api) settle(newState string) httpapi.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id := r.PathValue("id")
		var req SettleRequest
		if r.ContentLength != 0 {
			if err := httpapi.DecodeJSON(w, r, &req); err != nil {
				return err
			}
		}
		if msg := checkNote(req.Note); msg != "" {
			return httpapi.ValidationProblem([]httpapi.FieldError{{Field: "note", Message: msg}})
		}
		p, _ := httpapi.PrincipalFrom(r.Context())
		by := p.Name
		if by == "" {
			by = "api"
		}
		d, err := a.o.Store.SetDifferenceState(r.Context(), id, newState, by, req.Note, a.o.Now().UTC())
		switch {
		case errors.Is(err, state.ErrNotFound):
			return differenceNotFound(id)
		case errors.Is(err, state.ErrConflict):
			cur, rerr := a.o.Store.Difference(r.Context(), id)
			if rerr != nil {
				return fmt.Errorf("read difference: %w", rerr)
			}
			detail := fmt.Sprintf("The difference is %s already.", cur.State)
			if cur.State == state.DiffHealed {
				detail = "The difference was healed by the run that found it; there is nothing to " + verb(newState) + "."
			}
			return httpapi.NewProblem(http.StatusConflict, "difference-state", "Difference not changed", detail)
		case err != nil:
			return fmt.Errorf("%s difference: %w", verb(newState), err)
		}
		a.o.Logger.Info("reconciliation difference "+newState, "difference_id", d.ID, "class", d.Class,
			"provider", d.Provider, "reference", d.Reference, "by", by)
		httpapi.WriteJSON(w, http.StatusOK, Data(d))
		return nil
	}
}

func verb(newState string) string {
	if newState == state.DiffAcknowledged {
		return "acknowledge"
	}
	return "resolve"
}

// checkNote says what is wrong with a note, "" when nothing.
func checkNote(s string) string {
	if len(s) > MaxNoteLen {
		return fmt.Sprintf("must be at most %d bytes", MaxNoteLen)
	}
	if !utf8.ValidString(s) {
		return "must be UTF-8 text"
	}
	for _, c := range s {
		if unicode.IsControl(c) && c != '\n' && c != '\t' {
			return "must not hold control characters"
		}
	}
	return ""
}

func (a *api) listRuns(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	var errs []httpapi.FieldError
	limit, after := pageParams(q, &errs)
	if len(errs) > 0 {
		return httpapi.QueryProblem(errs)
	}
	runs, err := a.o.Store.ListReconRuns(r.Context(), state.ReconRunFilter{Provider: q.Get("provider"), After: after, Limit: limit + 1})
	if errors.Is(err, state.ErrNotFound) && after != "" {
		return httpapi.QueryProblem([]httpapi.FieldError{{Field: "cursor", Message: "names no run; list again without it"}})
	}
	if err != nil {
		return fmt.Errorf("list reconciliation runs: %w", err)
	}
	out := RunList{Runs: make([]RunView, 0, len(runs))}
	if len(runs) > limit {
		runs = runs[:limit]
		out.NextCursor = httpapi.EncodeCursor(runs[len(runs)-1].ID)
	}
	for _, run := range runs {
		out.Runs = append(out.Runs, ViewRun(run))
	}
	httpapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (a *api) showRun(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	run, err := a.o.Store.ReconRun(r.Context(), id)
	if errors.Is(err, state.ErrNotFound) {
		return httpapi.NewProblem(http.StatusNotFound, "reconciliation-run-not-found", "Run not found",
			fmt.Sprintf("No reconciliation run %q; GET /v1/reconciliation/runs lists them.", clip(id)))
	}
	if err != nil {
		return fmt.Errorf("read reconciliation run: %w", err)
	}
	httpapi.WriteJSON(w, http.StatusOK, ViewRun(run))
	return nil
}

func differenceNotFound(id string) *httpapi.Problem {
	return httpapi.NewProblem(http.StatusNotFound, "difference-not-found", "Difference not found",
		fmt.Sprintf("No difference %q; GET /v1/reconciliation/differences lists them.", clip(id)))
}

// clip shortens and cleans caller-supplied text echoed in a problem.
func clip(s string) string {
	const n = 64
	var b strings.Builder
	for i, c := range s {
		if i >= n {
			b.WriteString("...")
			break
		}
		if c < 0x20 || c == 0x7f || c == utf8.RuneError {
			c = '?'
		}
		b.WriteRune(c)
	}
	return b.String()
}

package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/finconnectd/finconnectd/internal/state"
)

// DifferenceQuery is the search form of the differences page.
type DifferenceQuery struct {
	Class, State, Provider string
	// From and To (YYYY-MM-DD, UTC) keep the differences found by runs
	// over windows overlapping [From, To+1 day).
	From, To string
	// Run keeps the differences one run found (last opened).
	Run   string
	After string
}

type differencesData struct {
	Q         DifferenceQuery
	Classes   []state.DiffClass
	States    []string
	Providers []string
	Diffs     []state.Difference
	Next      string // the query of the next page, "" on the last
	Runs      []state.ReconRun
	Error     string
	ErrorIn   string // the id of the field the error is about
}

var diffStates = []string{state.DiffOpen, state.DiffHealed, state.DiffResolved, state.DiffAcknowledged}

// differences lists reconciliation differences, newest first, with the
// latest runs.
func (c *Console) differences(w http.ResponseWriter, r *http.Request) error {
	qs := r.URL.Query()
	q := DifferenceQuery{Class: qs.Get("class"), State: qs.Get("state"), Provider: qs.Get("provider"),
		From: strings.TrimSpace(qs.Get("from")), To: strings.TrimSpace(qs.Get("to")), Run: qs.Get("run"), After: qs.Get("after")}
	d := differencesData{Q: q, Classes: state.DiffClasses(), States: diffStates}
	if cfg := c.o.Config(); cfg != nil {
		for _, p := range cfg.Providers {
			d.Providers = append(d.Providers, p.ID())
		}
	}
	f := state.DifferenceFilter{Provider: q.Provider, Class: state.DiffClass(q.Class), State: q.State, RunID: q.Run, After: q.After, Limit: pageSize}
	var err error
	switch {
	case q.Class != "" && !f.Class.Valid():
		d.Error, d.ErrorIn = "Unknown class.", "class"
	case q.State != "" && !contains(diffStates, q.State):
		d.Error, d.ErrorIn = "Unknown state.", "state"
	default:
		if f.From, f.To, err = window(q.From, q.To); err != nil {
			d.Error, d.ErrorIn = err.Error(), "from"
		}
	}
	if d.Error == "" {
		d.Diffs, err = c.o.Store.ListDifferences(r.Context(), f)
		if errors.Is(err, state.ErrNotFound) && q.After != "" {
			d.Error, d.ErrorIn = "The page to continue from is gone; start again from the first page.", ""
		} else if err != nil {
			return fmt.Errorf("list differences: %w", err)
		}
		if len(d.Diffs) == pageSize {
			next := r.URL.Query()
			next.Set("after", d.Diffs[len(d.Diffs)-1].ID)
			d.Next = next.Encode()
		}
	}
	if d.Runs, err = c.o.Store.ListReconRuns(r.Context(), state.ReconRunFilter{Provider: q.Provider, Limit: 10}); err != nil {
		return fmt.Errorf("list reconciliation runs: %w", err)
	}
	c.render(w, r, http.StatusOK, "differences", sessionFrom(r), view{Title: "Reconciliation differences", Nav: "differences", Data: d})
	return nil
}

// window parses the From and To dates of the differences search: both or
// neither; To is inclusive.
func window(from, to string) (time.Time, time.Time, error) {
	if from == "" && to == "" {
		return time.Time{}, time.Time{}, nil
	}
	if from == "" {
		from = to
	}
	if to == "" {
		to = from
	}
	f, err1 := time.Parse("2006-01-02", from)
	t, err2 := time.Parse("2006-01-02", to)
	if err1 != nil || err2 != nil {
		return time.Time{}, time.Time{}, errors.New("The dates must be written YYYY-MM-DD.")
	}
	if t.Before(f) {
		return time.Time{}, time.Time{}, errors.New("The window ends before it starts.")
	}
	return f, t.AddDate(0, 0, 1), nil
}

type differenceData struct {
	D               state.Difference
	Run             state.ReconRun
	HasRun          bool
	Ours, Theirs    string
	Done            string
	Error           string
	Closable        bool // open or acknowledged: may be resolved
	Acknowledgeable bool
}

func (c *Console) difference(w http.ResponseWriter, r *http.Request) error {
	d, err := c.o.Store.Difference(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c.showDifference(w, r, http.StatusOK, d, r.URL.Query().Get("done"), "")
	return nil
}

func (c *Console) showDifference(w http.ResponseWriter, r *http.Request, status int, d state.Difference, done, errText string) {
	v := differenceData{D: d, Ours: evidence(d.Ours), Theirs: evidence(d.Theirs), Error: errText,
		Closable: d.State == state.DiffOpen || d.State == state.DiffAcknowledged, Acknowledgeable: d.State == state.DiffOpen}
	switch done {
	case state.DiffResolved, state.DiffAcknowledged:
		v.Done = done
	}
	if run, err := c.o.Store.ReconRun(r.Context(), d.RunID); err == nil {
		v.Run, v.HasRun = run, true
	}
	c.render(w, r, status, "difference", sessionFrom(r), view{Title: "Difference " + string(d.Class), Nav: "differences", Data: v})
}

// setDifference is the resolve and acknowledge forms: the difference
// records who did it (the token's name) and the note.
func (c *Console) setDifference(newState string) func(http.ResponseWriter, *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		s := sessionFrom(r)
		id := r.PathValue("id")
		note := strings.TrimSpace(r.PostFormValue("note"))
		if len(note) > 1000 || !utf8.ValidString(note) {
			d, err := c.o.Store.Difference(r.Context(), id)
			if err != nil {
				return err
			}
			c.showDifference(w, r, http.StatusBadRequest, d, "", "The note must be valid text of at most 1,000 bytes.")
			return nil
		}
		d, err := c.o.Store.SetDifferenceState(r.Context(), id, newState, s.who.Name, note, c.o.Now().UTC())
		if errors.Is(err, state.ErrConflict) {
			cur, err := c.o.Store.Difference(r.Context(), id)
			if err != nil {
				return err
			}
			c.showDifference(w, r, http.StatusConflict, cur, "", fmt.Sprintf("This difference is %s: it cannot become %s.", cur.State, newState))
			return nil
		}
		if err != nil {
			return fmt.Errorf("set difference %s %s: %w", id, newState, err)
		}
		c.o.Logger.Info("console: difference "+newState, "who", s.who.Name, "difference_id", d.ID, "class", string(d.Class), "provider", d.Provider)
		http.Redirect(w, r, "/console/differences/"+url.PathEscape(d.ID)+"?done="+newState, http.StatusSeeOther)
		return nil
	}
}

// span writes a run's window [from, to): whole UTC days as dates (the
// last day included), anything else as times.
func span(from, to time.Time) string {
	from, to = from.UTC(), to.UTC()
	midnight := func(t time.Time) bool { return t.Equal(t.Truncate(24 * time.Hour)) }
	if midnight(from) && midnight(to) && to.After(from) {
		last := to.AddDate(0, 0, -1)
		if last.Equal(from) {
			return from.Format("2006-01-02")
		}
		return from.Format("2006-01-02") + " – " + last.Format("2006-01-02")
	}
	return from.Format("2006-01-02 15:04:05Z") + " – " + to.Format("2006-01-02 15:04:05Z")
}

// classText says what a difference class means.
func classText(c state.DiffClass) string {
	switch c {
	case state.DiffMissingAtProvider:
		return "missing at the provider"
	case state.DiffUnknownToUs:
		return "unknown to us"
	case state.DiffStatusDiffers:
		return "status differs"
	case state.DiffAmountDiffers:
		return "amount differs"
	case state.DiffReversedAfterSuccess:
		return "reversed after success"
	case state.DiffDuplicateAtProvider:
		return "duplicate at the provider"
	case state.DiffStuckUnknown:
		return "stuck unknown"
	}
	return string(c)
}

// credentialKey names the JSON fields evidence never shows.
var credentialKey = regexp.MustCompile(`(?i)checksum|signature|secret|token|password|hash|api_?key|client_?id|consumer_?key|^user(name)?$|authorization`)

// evidence is one side's record of a difference, fit for the page:
// indented JSON with fields named like a credential hidden and phone-like
// numbers masked (as notification bodies are), at most 16 KiB.
func evidence(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return excerpt(raw)
	}
	v = scrub(v)
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return excerpt(raw)
	}
	s := strings.TrimSpace(buf.String())
	// Masking again covers what the encoder may have joined.
	s = longDigits.ReplaceAllStringFunc(s, MaskPhone)
	if len(s) > 16<<10 {
		s = strings.ToValidUTF8(s[:16<<10], "") + "\n…"
	}
	return s
}

func scrub(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if credentialKey.MatchString(k) {
				t[k] = "(hidden)"
				continue
			}
			t[k] = scrub(x)
		}
		return t
	case []any:
		for i, x := range t {
			t[i] = scrub(x)
		}
		return t
	case string:
		return longDigits.ReplaceAllStringFunc(t, MaskPhone)
	case json.Number:
		if longDigits.MatchString(string(t)) {
			return longDigits.ReplaceAllStringFunc(string(t), MaskPhone)
		}
		return t
	}
	return v
}

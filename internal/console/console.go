// Package console is the operator console served at /console/ on the API
// listener: server-rendered HTML (html/template) over the store, with its
// stylesheet embedded, nothing loaded from elsewhere and no JavaScript.
// Staff sign in with an API token that has console:read (look) or
// console:operate (look, replay events, resolve and acknowledge
// reconciliation differences); the session lives in an HttpOnly,
// SameSite=Strict cookie, and every form that changes something carries a
// CSRF token. Every action is logged with the name of the token behind it.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/httpapi"
	"github.com/finconnectd/finconnectd/internal/state"
)

//go:embed assets
var assets embed.FS

// Prefix is where the console is mounted.
const Prefix = "/console/"

const (
	cookieName    = "finconnectd_console"
	preCookieName = "finconnectd_console_signin"
	// SessionTTL is how long a sign-in lasts.
	SessionTTL = 8 * time.Hour
	// scanLimit bounds the rows read for a page that filters in memory.
	scanLimit = 1000
	// pageSize is the number of rows a list page shows.
	pageSize = 100
)

// Store is what the console reads and changes.
type Store interface {
	Ping(ctx context.Context) error
	Resources(ctx context.Context) ([]state.Resource, error)
	Payment(ctx context.Context, id string) (state.Payment, error)
	ListPayments(ctx context.Context, f state.PaymentFilter) ([]state.Payment, error)
	ListDeliveries(ctx context.Context, f state.EventFilter) ([]state.Delivery, error)
	EventDetail(ctx context.Context, id string) (state.Event, []state.Delivery, []state.Attempt, error)
	PaymentEvents(ctx context.Context, paymentID string, limit int) ([]state.Event, error)
	ReplayEvent(ctx context.Context, id string, now time.Time) error
	Stats(ctx context.Context) (state.QueueStats, error)
	PaymentHistory(ctx context.Context, id string) ([]state.StatusEntry, error)
	PaymentNotifications(ctx context.Context, id string) ([]state.Notification, error)
	Payout(ctx context.Context, id string) (state.Payout, error)
	ListPayouts(ctx context.Context, f state.PayoutFilter) ([]state.Payout, error)
	ListAudit(ctx context.Context, f state.AuditFilter) ([]state.AuditEntry, error)
	ListDifferences(ctx context.Context, f state.DifferenceFilter) ([]state.Difference, error)
	Difference(ctx context.Context, id string) (state.Difference, error)
	SetDifferenceState(ctx context.Context, id, newState, by, note string, now time.Time) (state.Difference, error)
	ReconRun(ctx context.Context, id string) (state.ReconRun, error)
	ListReconRuns(ctx context.Context, f state.ReconRunFilter) ([]state.ReconRun, error)
	ListScheduleRuns(ctx context.Context, f state.ScheduleRunFilter) ([]state.ScheduleRun, error)
}

// Options configure the console.
type Options struct {
	Store Store
	// Auth resolves a token to its name and scopes (the API's tokens).
	Auth func() *httpapi.Authenticator
	// Config is the configuration in effect (schedules, routes).
	Config func() *config.Config
	// Notify wakes the delivery workers after a replay (may be nil).
	Notify func()
	Now    func() time.Time
	Logger *slog.Logger
}

// Console serves the pages.
type Console struct {
	o    Options
	tmpl map[string]*template.Template
	sess *sessions
}

// New parses the embedded templates.
func New(o Options) (*Console, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Notify == nil {
		o.Notify = func() {}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Console{o: o, tmpl: map[string]*template.Template{}, sess: newSessions(SessionTTL)}
	pages, err := fs.Glob(assets, "assets/*.html")
	if err != nil {
		return nil, fmt.Errorf("console: list templates: %w", err)
	}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "assets/"), ".html")
		if name == "layout" || name == "partials" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(assets, "assets/layout.html", "assets/partials.html", p)
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", p, err)
		}
		c.tmpl[name] = t
	}
	return c, nil
}

// Register mounts the console on mux.
func (c *Console) Register(mux *http.ServeMux) {
	static, _ := fs.Sub(assets, "assets/static")
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /console/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/payments", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /console/signin", c.signinForm)
	mux.HandleFunc("POST /console/signin", c.signin)
	mux.Handle("POST /console/signout", c.form(c.signout))
	mux.Handle("GET /console/payments", c.page(c.payments))
	mux.Handle("GET /console/payments/{id}", c.page(c.payment))
	mux.Handle("GET /console/payouts", c.page(c.payouts))
	mux.Handle("GET /console/payouts/{id}", c.page(c.payout))
	mux.Handle("GET /console/events", c.page(c.events))
	mux.Handle("GET /console/events/{id}", c.page(c.event))
	mux.Handle("POST /console/events/{id}/replay", c.operate(c.replay))
	mux.Handle("GET /console/differences", c.page(c.differences))
	mux.Handle("GET /console/differences/{id}", c.page(c.difference))
	mux.Handle("POST /console/differences/{id}/resolve", c.operate(c.setDifference(state.DiffResolved)))
	mux.Handle("POST /console/differences/{id}/acknowledge", c.operate(c.setDifference(state.DiffAcknowledged)))
	mux.Handle("GET /console/state", c.page(c.stateResources))
	mux.Handle("GET /console/health", c.page(c.health))
	mux.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		c.render(w, r, http.StatusNotFound, "message", nil, view{Title: "Not found", Message: "There is no such page."})
	})
}

type ctxKey struct{}

func sessionFrom(r *http.Request) *session {
	s, _ := r.Context().Value(ctxKey{}).(*session)
	return s
}

func canRead(p httpapi.Principal) bool {
	return p.Has(config.ScopeConsoleRead) || p.Has(config.ScopeConsoleOperate)
}

// page requires a signed-in session.
func (c *Console) page(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ck, err := r.Cookie(cookieName)
		var s *session
		if err == nil {
			s, _ = c.sess.get(ck.Value, c.o.Now())
		}
		if s == nil {
			http.Redirect(w, r, "/console/signin?next="+urlEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, s))
		if err := h(w, r); err != nil {
			c.fail(w, r, err)
		}
	})
}

// form is a page that changes something: it needs the session's CSRF token.
func (c *Console) form(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return c.page(func(w http.ResponseWriter, r *http.Request) error {
		s := sessionFrom(r)
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if !sameToken(r.PostFormValue("csrf"), s.csrf) {
			c.o.Logger.Warn("console: form refused without its CSRF token", "who", s.who.Name, "path", r.URL.Path)
			c.render(w, r, http.StatusForbidden, "message", s, view{Title: "Refused",
				Message: "This form was refused: its security token is missing or stale. Reload the page and try again."})
			return nil
		}
		return h(w, r)
	})
}

// operate is a form that needs console:operate.
func (c *Console) operate(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return c.form(func(w http.ResponseWriter, r *http.Request) error {
		s := sessionFrom(r)
		if !s.who.Has(config.ScopeConsoleOperate) {
			c.o.Logger.Warn("console: action refused, token lacks console:operate", "who", s.who.Name, "path", r.URL.Path)
			c.render(w, r, http.StatusForbidden, "message", s, view{Title: "Refused",
				Message: fmt.Sprintf("The token %q may look but not act: it needs the console:operate scope.", s.who.Name)})
			return nil
		}
		return h(w, r)
	})
}

var errNotFound = errors.New("not found")

func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errNotFound) || errors.Is(err, state.ErrNotFound) {
		c.render(w, r, http.StatusNotFound, "message", sessionFrom(r), view{Title: "Not found", Message: "There is no such item."})
		return
	}
	c.o.Logger.Error("console: page failed", "path", r.URL.Path, "err", err)
	c.render(w, r, http.StatusInternalServerError, "message", sessionFrom(r), view{Title: "Error",
		Message: "The page could not be built; the daemon's log has the details."})
}

// view is what every template gets.
type view struct {
	Title   string
	Nav     string
	Who     string
	Operate bool
	CSRF    string
	Message string
	Data    any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, s *session, v view) {
	if s != nil {
		v.Who, v.CSRF, v.Operate = s.who.Name, s.csrf, s.who.Has(config.ScopeConsoleOperate)
	}
	var buf bytes.Buffer
	if err := c.tmpl[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		// A half-rendered page must not pass for a whole one.
		c.o.Logger.Error("console: render", "page", name, "err", err)
		buf.Reset()
		status = http.StatusInternalServerError
		buf.WriteString("<!doctype html><title>Error</title><p>The page could not be built; the daemon's log has the details.</p>")
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// secure reports whether the browser reached us over TLS (directly or
// through a proxy that says so).
func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: Prefix, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: secure(r)})
}

func (c *Console) signinForm(w http.ResponseWriter, r *http.Request) {
	pre := randomToken()
	c.setCookie(w, r, preCookieName, pre, 600)
	c.render(w, r, http.StatusOK, "signin", nil, view{Title: "Sign in", CSRF: pre, Data: safeNext(r.URL.Query().Get("next"))})
}

func (c *Console) signin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ck, err := r.Cookie(preCookieName)
	if err != nil || !sameToken(r.PostFormValue("csrf"), ck.Value) {
		c.render(w, r, http.StatusForbidden, "message", nil, view{Title: "Refused",
			Message: "The sign-in form was refused: its security token is missing or stale. Open the sign-in page again."})
		return
	}
	token := strings.TrimSpace(r.PostFormValue("token"))
	p, ok := c.o.Auth().Lookup(token)
	next := safeNext(r.PostFormValue("next"))
	if !ok || !canRead(p) {
		if ok {
			c.o.Logger.Warn("console: sign-in refused, token lacks a console scope", "who", p.Name)
		} else {
			c.o.Logger.Warn("console: sign-in refused, unknown token", "remote", r.RemoteAddr)
		}
		pre := randomToken()
		c.setCookie(w, r, preCookieName, pre, 600)
		c.render(w, r, http.StatusUnauthorized, "signin", nil, view{Title: "Sign in", CSRF: pre, Data: next,
			Message: "That token cannot sign in here: it must be one of the api block's tokens with the console:read or console:operate scope."})
		return
	}
	s := c.sess.create(p, c.o.Now())
	c.setCookie(w, r, preCookieName, "", -1)
	c.setCookie(w, r, cookieName, s.id, int(SessionTTL/time.Second))
	c.o.Logger.Info("console: signed in", "who", p.Name, "operate", p.Has(config.ScopeConsoleOperate))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) signout(w http.ResponseWriter, r *http.Request) error {
	s := sessionFrom(r)
	c.sess.delete(s.id)
	c.setCookie(w, r, cookieName, "", -1)
	c.o.Logger.Info("console: signed out", "who", s.who.Name)
	http.Redirect(w, r, "/console/signin", http.StatusSeeOther)
	return nil
}

// safeNext keeps a redirect target inside the console.
func safeNext(next string) string {
	if strings.HasPrefix(next, Prefix) && !strings.HasPrefix(next, "//") && !strings.Contains(next, "\\") {
		return next
	}
	return "/console/payments"
}

package rules

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func clock() time.Time { return t0 }

func TestLimit(t *testing.T) {
	for _, tt := range []struct{ in, want int }{{-1, 100}, {0, 100}, {1, 1}, {500, 500}} {
		if got := Limit(tt.in); got != tt.want {
			t.Errorf("Limit(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestNewLineage(t *testing.T) {
	if l := NewLineage(); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(l) {
		t.Errorf("NewLineage: %q", l)
	}
}

func TestSQLArgs(t *testing.T) {
	if Blob(nil) != nil || NullIfEmpty("") != nil {
		t.Error("nil and empty must be NULL")
	}
	if b, ok := Blob([]byte{}).([]byte); !ok || b == nil {
		t.Error("an empty, non-nil slice must stay a slice")
	}
	if NullIfEmpty("k") != "k" {
		t.Error("NullIfEmpty(k)")
	}
}

func TestNewPayment(t *testing.T) {
	if _, err := NewPayment(state.Payment{Provider: "p", Reference: "r"}, clock); err == nil ||
		err.Error() != "create payment p/r: ID, provider and reference are required" {
		t.Errorf("no ID: %v", err)
	}
	p, err := NewPayment(state.Payment{ID: "pay_1", Provider: "p", Reference: "r"}, clock)
	if err != nil || !p.CreatedAt.Equal(t0) || !p.UpdatedAt.Equal(t0) || p.Status != "pending" {
		t.Errorf("defaults: %+v, %v", p, err)
	}
	given := state.Payment{ID: "pay_1", Provider: "p", Reference: "r", Status: "unknown", CreatedAt: t0.Add(-time.Hour)}
	p, _ = NewPayment(given, clock)
	if !p.UpdatedAt.Equal(given.CreatedAt) || p.Status != "unknown" {
		t.Errorf("given values: %+v", p)
	}
	if err := PaymentExists(p); !errors.Is(err, state.ErrConflict) {
		t.Errorf("PaymentExists: %v", err)
	}
}

func TestChange(t *testing.T) {
	later := t0.Add(time.Hour)
	stored := state.Payment{
		ID: "pay_1", Status: "pending", Amount: "10", Currency: "TZS", ProviderReference: "PR",
		ConfirmationCode: "old", Message: "old", Raw: []byte(`{"old":1}`), NextSyncAt: later,
	}
	ntf := state.SourceNotification
	tests := []struct {
		name  string
		p     state.Payment
		found bool
		c     state.StatusChange
		want  state.Outcome
		check func(t *testing.T, p state.Payment)
	}{
		{
			name: "fills only empty fields, replaces given texts", p: stored, found: true,
			c:    state.StatusChange{Status: "succeeded", Source: ntf, Amount: "99", Currency: "KES", Phone: "255", ProviderReference: "X", ConfirmationCode: "new", Raw: []byte(`{"new":1}`), Now: t0},
			want: state.Moved,
			check: func(t *testing.T, p state.Payment) {
				if p.Amount != "10" || p.Currency != "TZS" || p.ProviderReference != "PR" || p.Phone != "255" {
					t.Errorf("filled: %+v", p)
				}
				if p.ConfirmationCode != "new" || p.Message != "old" || string(p.Raw) != `{"new":1}` {
					t.Errorf("replaced: %+v", p)
				}
				if !p.NextSyncAt.IsZero() || !p.UpdatedAt.Equal(t0) || p.Status != "succeeded" {
					t.Errorf("terminal: %+v", p)
				}
			},
		},
		{
			name: "same status keeps the schedule", p: stored, found: true,
			c: state.StatusChange{Status: "pending", Source: ntf, Now: t0}, want: state.Same,
			check: func(t *testing.T, p state.Payment) {
				if !p.NextSyncAt.Equal(later) || !p.UpdatedAt.IsZero() {
					t.Errorf("NextSyncAt = %v, UpdatedAt = %v (nothing changed)", p.NextSyncAt, p.UpdatedAt)
				}
			},
		},
		{
			name: "open change keeps an existing schedule", p: stored, found: true,
			c: state.StatusChange{Status: "unknown", Source: state.SourceInitiation, Now: t0}, want: state.Moved,
			check: func(t *testing.T, p state.Payment) {
				if !p.NextSyncAt.Equal(later) || p.Status != "unknown" {
					t.Errorf("NextSyncAt = %v, status %s", p.NextSyncAt, p.Status)
				}
			},
		},
		{
			name: "backward statement fills but keeps status, texts and schedule",
			p:    state.Payment{Status: "succeeded", Message: "paid", Raw: []byte(`{"a":1}`)}, found: true,
			c: state.StatusChange{Status: "pending", Source: state.SourceStatusQuery, ProviderReference: "PR2", ConfirmationCode: "C1",
				Message: "waiting", Raw: []byte(`{"b":1}`), Now: t0},
			want: state.Refused,
			check: func(t *testing.T, p state.Payment) {
				if p.Status != "succeeded" || p.Message != "paid" || string(p.Raw) != `{"a":1}` || !p.NextSyncAt.IsZero() {
					t.Errorf("kept: %+v", p)
				}
				if p.ProviderReference != "PR2" || p.ConfirmationCode != "C1" || !p.UpdatedAt.Equal(t0) {
					t.Errorf("filled: %+v", p)
				}
			},
		},
		{
			name: "failed to succeeded on a notification is refused", p: state.Payment{Status: "failed", ConfirmationCode: "X"}, found: true,
			c: state.StatusChange{Status: "succeeded", Source: ntf, ConfirmationCode: "Y", Now: t0}, want: state.Refused,
			check: func(t *testing.T, p state.Payment) {
				if p.Status != "failed" || p.ConfirmationCode != "X" || !p.UpdatedAt.IsZero() {
					t.Errorf("%+v", p)
				}
			},
		},
		{
			name: "failed to succeeded on a status query", p: state.Payment{Status: "failed"}, found: true,
			c: state.StatusChange{Status: "succeeded", Source: state.SourceStatusQuery, Now: t0}, want: state.Moved,
			check: func(t *testing.T, p state.Payment) {
				if p.Status != "succeeded" || !p.NextSyncAt.IsZero() {
					t.Errorf("%+v", p)
				}
			},
		},
		{
			name: "created changes from nothing and is due", p: state.Payment{NextSyncAt: later}, found: false,
			c: state.StatusChange{Status: "pending", Source: ntf, Now: t0}, want: state.Moved,
			check: func(t *testing.T, p state.Payment) {
				if !p.NextSyncAt.Equal(t0) || p.Status != "pending" {
					t.Errorf("NextSyncAt = %v", p.NextSyncAt)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := append([]byte(nil), tt.c.Raw...)
			p, got := Change(tt.p, tt.found, tt.c)
			if got != tt.want {
				t.Errorf("outcome = %v, want %v", got, tt.want)
			}
			tt.check(t, p)
			if len(raw) > 0 && got != state.Refused {
				tt.c.Raw[0] = 'X' // the payment keeps its own copy
				if !bytes.Equal(p.Raw, raw) {
					t.Errorf("Raw aliases the change's")
				}
			}
		})
	}
}

func TestInitiation(t *testing.T) {
	next := t0.Add(time.Minute)
	in := func(status state.PaymentStatus) state.PaymentInitiation {
		return state.PaymentInitiation{Status: status, ProviderReference: "PR", RedirectURL: "https://r", Message: "m", Raw: []byte(`{"i":1}`), NextSyncAt: next}
	}
	tests := []struct {
		name string
		p    state.Payment
		in   state.PaymentInitiation
		want state.Outcome
		p2   state.Payment // fields checked: Status, ProviderReference, RedirectURL, Message, NextSyncAt
	}{
		{"accepted", state.Payment{Status: "pending"}, in("pending"), state.Same,
			state.Payment{Status: "pending", ProviderReference: "PR", RedirectURL: "https://r", Message: "m", NextSyncAt: next}},
		{"timed out", state.Payment{Status: "pending"}, in("unknown"), state.Moved,
			state.Payment{Status: "unknown", ProviderReference: "PR", RedirectURL: "https://r", Message: "m", NextSyncAt: next}},
		{"rejected", state.Payment{Status: "pending", NextSyncAt: next}, in("failed"), state.Moved,
			state.Payment{Status: "failed", ProviderReference: "PR", RedirectURL: "https://r", Message: "m"}},
		{"late answer after the notification settled it", state.Payment{Status: "succeeded", Message: "paid", ProviderReference: "PR0"},
			in("unknown"), state.Refused,
			state.Payment{Status: "succeeded", ProviderReference: "PR0", RedirectURL: "https://r", Message: "paid"}},
		{"late acceptance after failure", state.Payment{Status: "failed", Message: "declined"}, in("pending"), state.Refused,
			state.Payment{Status: "failed", ProviderReference: "PR", RedirectURL: "https://r", Message: "declined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, got := Initiation(tt.p, tt.in, t0)
			if got != tt.want {
				t.Errorf("outcome = %v, want %v", got, tt.want)
			}
			if p.Status != tt.p2.Status || p.ProviderReference != tt.p2.ProviderReference || p.RedirectURL != tt.p2.RedirectURL ||
				p.Message != tt.p2.Message || !p.NextSyncAt.Equal(tt.p2.NextSyncAt) || !p.UpdatedAt.Equal(t0) {
				t.Errorf("payment = %+v, want %+v", p, tt.p2)
			}
		})
	}
	if err := CheckInitiation("pay_1", state.PaymentInitiation{Status: "succeeded"}); !errors.Is(err, state.ErrInvalid) {
		t.Errorf("an initiation answering succeeded: %v", err)
	}
}

func TestCheckClaims(t *testing.T) {
	p := state.Payment{Amount: "5000", Currency: "TZS"}
	tests := []struct {
		name   string
		found  bool
		c      state.StatusChange
		target error
	}{
		{"equal", true, state.StatusChange{Status: "succeeded", Amount: "5000.00", Currency: "tzs"}, nil},
		{"no claims", true, state.StatusChange{Status: "succeeded"}, nil},
		{"exponent", true, state.StatusChange{Status: "succeeded", Amount: "5e3", Currency: "TZS"}, state.ErrInvalid},
		{"letters", true, state.StatusChange{Status: "succeeded", Amount: "abc"}, state.ErrInvalid},
		{"too many decimals", true, state.StatusChange{Status: "succeeded", Amount: "5000.001"}, state.ErrInvalid},
		{"negative", false, state.StatusChange{Status: "succeeded", Amount: "-1000", Currency: "TZS"}, state.ErrInvalid},
		{"31 digits", false, state.StatusChange{Status: "succeeded", Amount: strings.Repeat("9", 31), Currency: "TZS"}, state.ErrInvalid},
		{"amount without currency", false, state.StatusChange{Status: "succeeded", Amount: "1"}, state.ErrInvalid},
		{"unknown currency", true, state.StatusChange{Status: "succeeded", Currency: "XXX"}, state.ErrInvalid},
		{"malformed on a failure", true, state.StatusChange{Status: "failed", Amount: "5e3"}, state.ErrInvalid},
		{"other amount", true, state.StatusChange{Status: "succeeded", Amount: "50"}, state.ErrMismatch},
		{"other currency", true, state.StatusChange{Status: "reversed", Amount: "5000", Currency: "KES"}, state.ErrMismatch},
		{"other amount on a failure is not compared", true, state.StatusChange{Status: "failed", Amount: "0"}, nil},
	}
	for _, tt := range tests {
		err := CheckClaims(p, tt.found, tt.c)
		if tt.target == nil && err != nil || tt.target != nil && !errors.Is(err, tt.target) {
			t.Errorf("%s: CheckClaims = %v, want %v", tt.name, err, tt.target)
		}
	}
}

func TestCheckStatusChange(t *testing.T) {
	for _, c := range []state.StatusChange{
		{Provider: "p", Source: state.SourceNotification},
		{Provider: "p", Status: "paid", Source: state.SourceNotification},
		{Provider: "p", Status: "pending", Source: "rumour"},
	} {
		if _, err := CheckStatusChange(c, clock); !errors.Is(err, state.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", c, err)
		}
	}
	c, err := CheckStatusChange(state.StatusChange{Provider: "p", Status: "pending"}, clock)
	if err != nil || !c.Now.Equal(t0) || c.Source != state.SourceNotification {
		t.Errorf("Now = %v, %v", c.Now, err)
	}
	for c, want := range map[*state.StatusChange]string{
		{Provider: "p", Reference: "r"}:          "p/r",
		{Provider: "p", ProviderReference: "PR"}: "p/provider-reference PR",
	} {
		if got := StatusSubject(*c); got != want {
			t.Errorf("StatusSubject = %q, want %q", got, want)
		}
	}
}

func TestNotification(t *testing.T) {
	n := Notification("p", state.Notification{DedupKey: "k"}, t0)
	if !strings.HasPrefix(n.ID, "ntf_") || n.Provider != "p" || !n.ReceivedAt.Equal(t0) {
		t.Errorf("defaults: %+v", n)
	}
	given := state.Notification{ID: "ntf_x", Provider: "q", ReceivedAt: t0.Add(-time.Minute)}
	if n := Notification("p", given, t0); n.ID != given.ID || n.Provider != "q" || !n.ReceivedAt.Equal(given.ReceivedAt) {
		t.Errorf("given: %+v", n)
	}
}

func TestNewEvent(t *testing.T) {
	p := state.Payment{ID: "pay_1", Provider: "p"}
	c := state.StatusChange{EventType: "payment.succeeded", Routes: []string{"a", "b"}, Now: t0,
		EventPayload: func(p state.Payment, id string, at time.Time) ([]byte, error) {
			return []byte(p.ID + " " + id + " " + at.Format(time.RFC3339)), nil
		}}
	ev, ds, err := NewEvent(c, p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ev.ID, "evt_") || ev.Type != c.EventType || ev.PaymentID != "pay_1" || ev.Provider != "p" ||
		!ev.CreatedAt.Equal(t0) || string(ev.Payload) != "pay_1 "+ev.ID+" 2030-01-02T03:04:05Z" {
		t.Errorf("event: %+v", ev)
	}
	if len(ds) != 2 {
		t.Fatalf("%d deliveries", len(ds))
	}
	for i, d := range ds {
		if !strings.HasPrefix(d.ID, "dlv_") || d.EventID != ev.ID || d.Route != c.Routes[i] || d.Status != state.DeliveryPending ||
			d.Attempts != 0 || !d.NextAttemptAt.Equal(t0) || !d.CreatedAt.Equal(t0) || !d.UpdatedAt.Equal(t0) {
			t.Errorf("delivery %d: %+v", i, d)
		}
	}
	c.EventPayload = nil
	if ev, _, _ := NewEvent(c, p); ev.Payload != nil {
		t.Errorf("payload without a builder: %q", ev.Payload)
	}
	boom := errors.New("boom")
	c.EventPayload = func(state.Payment, string, time.Time) ([]byte, error) { return nil, boom }
	if _, _, err := NewEvent(c, p); !errors.Is(err, boom) {
		t.Errorf("payload error: %v", err)
	}
}

// fakeTx is a StatusTx over maps, recording what was written.
type fakeTx struct {
	dedup      map[string]bool
	payments   []state.Payment
	events     []state.Event
	deliveries []state.Delivery
	locks      []bool
	// raceInsert makes the next InsertPayment lose to a concurrent creator.
	raceInsert *state.Payment
	updates    int
	links      map[string]string // notification -> payment
	history    []state.StatusEntry
}

func (f *fakeTx) LinkNotification(_ context.Context, id, paymentID string) error {
	if f.links == nil {
		f.links = map[string]string{}
	}
	f.links[id] = paymentID
	return nil
}

func (f *fakeTx) InsertStatusEntry(_ context.Context, e state.StatusEntry) error {
	f.history = append(f.history, e)
	return nil
}

func (f *fakeTx) InsertNotification(ctx context.Context, n state.Notification) (bool, error) {
	if n.DedupKey != "" {
		k := n.Provider + "\x00" + n.DedupKey
		if f.dedup[k] {
			return true, nil
		}
		f.dedup[k] = true
	}
	if n.PaymentID != "" {
		return false, f.LinkNotification(ctx, n.ID, n.PaymentID) // stored linked
	}
	return false, nil
}

func (f *fakeTx) find(lock bool, match func(p state.Payment) bool) (state.Payment, bool, error) {
	f.locks = append(f.locks, lock)
	for _, p := range f.payments {
		if match(p) {
			return p, true, nil
		}
	}
	return state.Payment{}, false, nil
}

func (f *fakeTx) PaymentByReference(_ context.Context, provider, reference string, lock bool) (state.Payment, bool, error) {
	return f.find(lock, func(p state.Payment) bool { return p.Provider == provider && p.Reference == reference })
}

func (f *fakeTx) PaymentByProviderReference(_ context.Context, provider, pr string, lock bool) (state.Payment, bool, error) {
	return f.find(lock, func(p state.Payment) bool { return p.Provider == provider && p.ProviderReference == pr })
}

func (f *fakeTx) InsertPayment(_ context.Context, p state.Payment) (bool, error) {
	if f.raceInsert != nil {
		f.payments = append(f.payments, *f.raceInsert)
		f.raceInsert = nil
		return false, nil
	}
	f.payments = append(f.payments, p)
	return true, nil
}

func (f *fakeTx) UpdatePayment(_ context.Context, p state.Payment) error {
	f.updates++
	for i := range f.payments {
		if f.payments[i].ID == p.ID {
			f.payments[i] = p
			return nil
		}
	}
	return errors.New("no such payment")
}

func (f *fakeTx) PaymentByID(_ context.Context, id string) (state.Payment, bool, error) {
	return f.find(true, func(p state.Payment) bool { return p.ID == id })
}

func (f *fakeTx) InsertFirstEvent(ctx context.Context, e state.Event) (bool, error) {
	for _, had := range f.events {
		if had.PaymentID == e.PaymentID && had.Type == e.Type {
			return false, nil
		}
	}
	return true, f.InsertEvent(ctx, e)
}

func (f *fakeTx) InsertEvent(_ context.Context, e state.Event) error {
	f.events = append(f.events, e)
	return nil
}

func (f *fakeTx) InsertDelivery(_ context.Context, d state.Delivery) error {
	f.deliveries = append(f.deliveries, d)
	return nil
}

func TestApplyStatus(t *testing.T) {
	ctx := t.Context()
	change := func(mod func(c *state.StatusChange)) state.StatusChange {
		c := state.StatusChange{Provider: "p", Reference: "r", ProviderReference: "PR", Status: "succeeded", Source: state.SourceNotification, Now: t0,
			CreateIfMissing: true, EventType: "payment.succeeded", Routes: []string{"a", "b"},
			Notification: &state.Notification{DedupKey: "r:succeeded"}}
		if mod != nil {
			mod(&c)
		}
		return c
	}

	t.Run("create, then duplicate", func(t *testing.T) {
		f := &fakeTx{dedup: map[string]bool{}}
		res, err := ApplyStatus(ctx, f, change(nil))
		if err != nil || !res.Changed || res.Duplicate || res.EventID == "" || len(f.payments) != 1 || len(f.deliveries) != 2 {
			t.Fatalf("create: %+v, %v, %+v", res, err, f)
		}
		if p := res.Payment; !strings.HasPrefix(p.ID, "pay_") || p.Status != "succeeded" || !p.CreatedAt.Equal(t0) {
			t.Errorf("created: %+v", p)
		}
		res, err = ApplyStatus(ctx, f, change(nil))
		if err != nil || !res.Duplicate || res.Changed || res.EventID != "" || res.Payment.ID != f.payments[0].ID || f.updates != 0 {
			t.Errorf("duplicate: %+v, %v", res, err)
		}
		// One lookup each, locked, before the notification is stored (so
		// it is stored linked to its payment).
		if want := []bool{true, true}; len(f.locks) != 2 || f.locks[0] != want[0] || f.locks[1] != want[1] {
			t.Errorf("locks = %v, want %v (one locked lookup per statement)", f.locks, want)
		}
	})
	t.Run("update without change emits nothing", func(t *testing.T) {
		f := &fakeTx{dedup: map[string]bool{}, payments: []state.Payment{{ID: "pay_1", Provider: "p", Reference: "r", Status: "succeeded"}}}
		res, err := ApplyStatus(ctx, f, change(func(c *state.StatusChange) { c.Notification = nil; c.Message = "again" }))
		if err != nil || res.Changed || res.EventID != "" || len(f.events) != 0 || f.payments[0].Message != "again" {
			t.Errorf("%+v, %v", res, err)
		}
	})
	t.Run("by provider reference", func(t *testing.T) {
		f := &fakeTx{dedup: map[string]bool{}, payments: []state.Payment{{ID: "pay_1", Provider: "p", Reference: "r", ProviderReference: "PR", Status: "pending"}}}
		res, err := ApplyStatus(ctx, f, change(func(c *state.StatusChange) { c.Reference = "" }))
		if err != nil || !res.Changed || res.Payment.ID != "pay_1" {
			t.Errorf("%+v, %v", res, err)
		}
	})
	t.Run("not found", func(t *testing.T) {
		for name, mod := range map[string]func(c *state.StatusChange){
			"not asked to create": func(c *state.StatusChange) { c.CreateIfMissing = false },
			"no reference":        func(c *state.StatusChange) { c.Reference = "" },
		} {
			f := &fakeTx{dedup: map[string]bool{}}
			if _, err := ApplyStatus(ctx, f, change(mod)); !errors.Is(err, state.ErrNotFound) || len(f.payments) != 0 {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
	t.Run("created concurrently", func(t *testing.T) {
		other := state.Payment{ID: "pay_other", Provider: "p", Reference: "r", Status: "pending"}
		f := &fakeTx{dedup: map[string]bool{}, raceInsert: &other}
		res, err := ApplyStatus(ctx, f, change(nil))
		if err != nil || res.Payment.ID != "pay_other" || !res.Changed || f.updates != 1 || len(f.payments) != 1 || len(f.events) != 1 {
			t.Errorf("%+v, %v, %+v", res, err, f)
		}
	})
	t.Run("payload error", func(t *testing.T) {
		boom := errors.New("boom")
		f := &fakeTx{dedup: map[string]bool{}}
		_, err := ApplyStatus(ctx, f, change(func(c *state.StatusChange) {
			c.EventPayload = func(state.Payment, string, time.Time) ([]byte, error) { return nil, boom }
		}))
		if !errors.Is(err, boom) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestNewResource(t *testing.T) {
	if _, err := NewResource(state.Resource{}, clock); err == nil || err.Error() != "put resource: no address" {
		t.Errorf("no address: %v", err)
	}
	if _, err := NewResource(state.Resource{Address: "ipn.a", Attributes: []byte("{")}, clock); err == nil ||
		err.Error() != "put resource ipn.a: attributes are not valid JSON" {
		t.Errorf("bad JSON: %v", err)
	}
	r, err := NewResource(state.Resource{Address: "ipn.a"}, clock)
	if err != nil || string(r.Attributes) != "{}" || !r.UpdatedAt.Equal(t0) {
		t.Errorf("defaults: %+v, %v", r, err)
	}
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestLockDecisions(t *testing.T) {
	if _, err := NewLock(state.LockInfo{}, clock); err == nil {
		t.Error("no ID: no error")
	}
	if info, err := NewLock(state.LockInfo{ID: "a"}, clock); err != nil || !info.Since.Equal(t0) {
		t.Errorf("NewLock: %+v, %v", info, err)
	}
	var logged bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logged, nil))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	me := state.LockInfo{ID: "me"}
	alive := state.LockInfo{ID: "other", Host: "h", Scope: "s1", PID: os.Getpid()}

	var locked *state.LockedError
	if err := Takeover(state.LockInfo{}, false, me, "h", "s1", quiet); err != nil {
		t.Errorf("free: %v", err)
	}
	if err := Takeover(state.LockInfo{ID: "me"}, true, me, "h", "s1", quiet); err != nil {
		t.Errorf("own: %v", err)
	}
	if err := Takeover(alive, true, me, "h", "s1", quiet); !errors.As(err, &locked) || locked.Holder != alive {
		t.Errorf("alive holder: %v", err)
	}
	if runtime.GOOS != "windows" && runtime.GOOS != "plan9" {
		dead := state.LockInfo{ID: "other", Host: "h", Scope: "s1", PID: deadPID(t)}
		for _, tt := range []struct {
			name            string
			holder          state.LockInfo
			hostname, scope string
			gone            bool
		}{
			{"same host and scope", dead, "h", "s1", true},
			{"our host unknown", dead, "", "s1", false},
			{"another host", dead, "elsewhere", "s1", false},
			{"our scope unknown", dead, "h", "", false},
			{"another scope (PID namespace, boot)", dead, "h", "s2", false},
			{"holder's scope unknown (older lock row)", withScope(dead, ""), "h", "", false},
			{"holder's scope unknown, ours known", withScope(dead, ""), "h", "s1", false},
		} {
			if got := HolderGone(tt.hostname, tt.scope, tt.holder); got != tt.gone {
				t.Errorf("HolderGone(%q, %q, %+v) (%s) = %v, want %v", tt.hostname, tt.scope, tt.holder, tt.name, got, tt.gone)
			}
			err := Takeover(tt.holder, true, me, tt.hostname, tt.scope, quiet)
			if tt.gone != (err == nil) || !tt.gone && !errors.As(err, &locked) {
				t.Errorf("Takeover of a dead holder (%s): %v", tt.name, err)
			}
		}
		if err := Takeover(dead, true, me, "h", "s1", log); err != nil || !strings.Contains(logged.String(), "taking over") {
			t.Errorf("dead holder: %v, log %q", err, logged.String())
		}
	}

	if release, err := Unlock(state.LockInfo{}, false, "me"); release || err != nil {
		t.Errorf("Unlock free: %v, %v", release, err)
	}
	if release, err := Unlock(me, true, "me"); !release || err != nil {
		t.Errorf("Unlock own: %v, %v", release, err)
	}
	if release, err := Unlock(alive, true, "me"); release || !errors.As(err, &locked) {
		t.Errorf("Unlock other: %v, %v", release, err)
	}
	if release, err := ForceUnlock(state.LockInfo{}, false, "me"); release || err == nil {
		t.Errorf("ForceUnlock free: %v, %v", release, err)
	}
	if release, err := ForceUnlock(alive, true, "me"); release || err == nil || !strings.Contains(err.Error(), "the lock's ID is other, not me") {
		t.Errorf("ForceUnlock wrong ID: %v, %v", release, err)
	}
	if release, err := ForceUnlock(alive, true, "other"); !release || err != nil {
		t.Errorf("ForceUnlock: %v, %v", release, err)
	}
}

func TestOutboxDecisions(t *testing.T) {
	for _, tt := range []struct {
		owner string
		lease time.Duration
		ok    bool
	}{{"w", time.Second, true}, {"", time.Second, false}, {"w", 0, false}, {"w", -1, false}} {
		if err := CheckClaim("erp", tt.owner, tt.lease); (err == nil) != tt.ok {
			t.Errorf("CheckClaim(%q, %v) = %v", tt.owner, tt.lease, err)
		}
	}
	for s, ok := range map[string]bool{state.DeliveryPending: true, state.DeliveryDelivered: true, state.DeliveryDead: true, "": false, "lost": false} {
		if err := CheckAttempt(state.AttemptResult{Status: s}); (err == nil) != ok {
			t.Errorf("CheckAttempt(%q) = %v", s, err)
		}
	}

	stored := t0.Add(time.Hour)
	r := state.AttemptResult{DeliveryID: "dlv_1", Owner: "w", Status: state.DeliveryPending, NextAt: t0.Add(time.Minute),
		Attempt: state.Attempt{N: 99, Duration: time.Second, StatusCode: 503, Error: "busy"}}
	a, next, err := Attempt(r, "w", 2, stored, t0)
	if err != nil || a.N != 3 || a.DeliveryID != "dlv_1" || !a.At.Equal(t0) || a.StatusCode != 503 || a.Error != "busy" || !next.Equal(r.NextAt) {
		t.Errorf("pending: %+v, %v, %v", a, next, err)
	}
	r.Status, r.Attempt.At = state.DeliveryDelivered, t0.Add(-time.Second)
	if a, next, _ := Attempt(r, "w", 0, stored, t0); a.N != 1 || !a.At.Equal(r.Attempt.At) || !next.Equal(stored) {
		t.Errorf("delivered: %+v, %v", a, next)
	}
	for _, owner := range []string{"", "other"} {
		if _, _, err := Attempt(r, owner, 0, stored, t0); !errors.Is(err, state.ErrConflict) {
			t.Errorf("lease held by %q: %v", owner, err)
		}
	}

	if err := CheckRelease(nil); err == nil {
		t.Error("CheckRelease(nil) accepted")
	}
	if err := CheckRelease(func(string) bool { return false }); err != nil {
		t.Errorf("CheckRelease: %v", err)
	}
	var asked []string
	dead := func(o string) bool { asked = append(asked, o); return strings.HasPrefix(o, "dead") }
	got := DeadOwners([]string{"live", "dead-a", "", "dead-b", "dead-a", "live"}, dead)
	if strings.Join(got, ",") != "dead-a,dead-b" || strings.Join(asked, ",") != "live,dead-a,dead-b" {
		t.Errorf("DeadOwners = %q after asking about %q; want dead-a,dead-b after live,dead-a,dead-b", got, asked)
	}

	if got := NextDue(time.Time{}); !got.Equal(time.Unix(0, 1)) {
		t.Errorf("NextDue(zero) = %v", got)
	}
	if got := NextDue(t0); !got.Equal(t0) {
		t.Errorf("NextDue(t0) = %v", got)
	}
}

// fakeMigration records what Migrate asked for.
type fakeMigration struct {
	version int
	ran     []string
	lineage string
	fail    string
}

func (f *fakeMigration) CreateVersionTable(context.Context) error     { return nil }
func (f *fakeMigration) Version(context.Context) (int, error)         { return f.version, nil }
func (f *fakeMigration) InsertMeta(_ context.Context, l string) error { f.lineage = l; return nil }

func (f *fakeMigration) Exec(_ context.Context, ddl string) error {
	if ddl == f.fail {
		return errors.New("bad ddl")
	}
	f.ran = append(f.ran, ddl)
	return nil
}

func (f *fakeMigration) RecordVersion(_ context.Context, v int, at time.Time) error {
	if !at.Equal(t0) {
		return errors.New("wrong time")
	}
	f.version = v
	return nil
}

func TestMigrate(t *testing.T) {
	ms := []string{"", "one", "two"}
	f := &fakeMigration{}
	if err := Migrate(t.Context(), f, ms, clock); err != nil || f.version != 2 || len(f.ran) != 2 || f.lineage == "" {
		t.Fatalf("fresh: %v, %+v", err, f)
	}
	f = &fakeMigration{version: 1}
	if err := Migrate(t.Context(), f, ms, clock); err != nil || f.version != 2 || len(f.ran) != 1 || f.ran[0] != "two" || f.lineage != "" {
		t.Errorf("from 1: %v, %+v", err, f)
	}
	if err := Migrate(t.Context(), &fakeMigration{version: 3}, ms, clock); err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Errorf("newer: %v", err)
	}
	f = &fakeMigration{fail: "two"}
	if err := Migrate(t.Context(), f, ms, clock); err == nil || !strings.Contains(err.Error(), "version 2") || f.version != 1 {
		t.Errorf("failing migration: %v, %+v", err, f)
	}
}

func withScope(li state.LockInfo, scope string) state.LockInfo {
	li.Scope = scope
	return li
}

// TestStatusHistory: ApplyStatus links each recorded notification to its
// payment and appends a history entry exactly when the status moves.
func TestStatusHistory(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	f := &fakeTx{dedup: map[string]bool{}}
	change := func(id, dedup string, st state.PaymentStatus, src state.Source) state.StatusChange {
		return state.StatusChange{Provider: "p", Reference: "r", Status: st, Source: src, CreateIfMissing: true, Now: now,
			Amount: "1000", Currency: "TZS", Notification: &state.Notification{ID: id, DedupKey: dedup, Route: "orders"}}
	}
	steps := []struct {
		c    state.StatusChange
		want int // history length after the step
	}{
		{change("ntf_1", "k1", state.StatusPending, state.SourceNotification), 1},   // created pending
		{change("ntf_2", "k2", state.StatusPending, state.SourceNotification), 1},   // same status: linked, no entry
		{change("ntf_3", "k3", state.StatusSucceeded, state.SourceNotification), 2}, // moved
		{change("ntf_4", "k3", state.StatusSucceeded, state.SourceNotification), 2}, // duplicate: nothing
		{change("ntf_5", "k5", state.StatusPending, state.SourceStatusQuery), 2},    // refused by Transition
	}
	for i, st := range steps {
		if _, err := ApplyStatus(ctx, f, st.c); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if len(f.history) != st.want {
			t.Fatalf("step %d: %d history entries, want %d: %+v", i, len(f.history), st.want, f.history)
		}
	}
	first, second := f.history[0], f.history[1]
	if first.From != "" || first.To != state.StatusPending || first.Source != state.SourceNotification || first.NotificationID != "ntf_1" {
		t.Errorf("creation entry %+v", first)
	}
	if second.From != state.StatusPending || second.To != state.StatusSucceeded || second.NotificationID != "ntf_3" || !second.At.Equal(now) {
		t.Errorf("move entry %+v", second)
	}
	for _, id := range []string{"ntf_1", "ntf_2", "ntf_3", "ntf_5"} {
		if f.links[id] != first.PaymentID {
			t.Errorf("notification %s linked to %q, want %q", id, f.links[id], first.PaymentID)
		}
	}
	if _, ok := f.links["ntf_4"]; ok {
		t.Error("a duplicate notification was linked")
	}
}

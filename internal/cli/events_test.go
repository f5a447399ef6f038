package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/delivery"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
)

func TestParseEventsArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args    []string
		want    eventsArgs
		wantErr bool
		help    bool
	}{
		{args: []string{"list"}, want: eventsArgs{Sub: "list", Limit: 100}},
		{args: []string{"list", "-status", "dead", "-route", "orders", "-json", "-limit", "5"},
			want: eventsArgs{Sub: "list", Status: "dead", Route: "orders", JSON: true, Limit: 5}},
		{args: []string{"show", "evt_a", "-json"}, want: eventsArgs{Sub: "show", IDs: []string{"evt_a"}, JSON: true, Limit: 100}},
		{args: []string{"replay", "evt_a", "-config", "x.hcl", "evt_b"},
			want: eventsArgs{Sub: "replay", IDs: []string{"evt_a", "evt_b"}, Config: "x.hcl", Limit: 100}},
		{args: []string{"show"}, wantErr: true},
		{args: []string{"show", "a", "b"}, wantErr: true},
		{args: []string{"replay"}, wantErr: true},
		{args: []string{"list", "extra"}, wantErr: true},
		{args: []string{"list", "-status", "failed"}, wantErr: true},
		{args: []string{"list", "-limit", "0"}, wantErr: true},
		{args: []string{"list", "-limit", "1001"}, wantErr: true},
		{args: []string{"list", "-bogus"}, wantErr: true},
		{args: []string{"delete"}, wantErr: true},
		{args: nil, wantErr: true},
		{args: []string{"-help"}, help: true},
		{args: []string{"list", "-h"}, help: true},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			got, err := parseEventsArgs(c.args, &stdout, &stderr)
			if c.help {
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err %v, want ErrHelp", err)
				}
				if !strings.Contains(stdout.String(), "Examples:") || stderr.Len() != 0 {
					t.Fatalf("help: stdout %q, stderr %q", stdout.String(), stderr.String())
				}
				return
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, wantErr %v", err, c.wantErr)
			}
			if err != nil {
				if stderr.Len() == 0 || stdout.Len() != 0 {
					t.Errorf("an error must explain itself on stderr only; stdout %q", stdout.String())
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

// eventsFixture is a configuration directory whose store holds three
// events: one delivered (route a), one dead (route b), one pending after
// a 500 (route a).
type eventsFixture struct {
	dir                      string
	dbPath                   string
	delivered, dead, pending string
	now                      time.Time
}

func newEventsFixture(t *testing.T) *eventsFixture {
	t.Helper()
	f := &eventsFixture{dir: t.TempDir(), now: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}
	f.dbPath = filepath.Join(f.dir, "finconnect.db")
	if err := os.WriteFile(filepath.Join(f.dir, "main.hcl"), []byte("api {\n  tokens = [env(\"T\", \"x\")]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, f.dbPath, sqlite.Options{Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n := 0
	enqueue := func(route string) string {
		n++
		res, err := st.ApplyStatus(ctx, state.StatusChange{
			Provider: "clickpesa.tz", Reference: fmt.Sprintf("R%d", n), Status: "succeeded", Amount: "1000", Currency: "TZS",
			CreateIfMissing: true, EventType: "payment.succeeded", Routes: []string{route}, Now: f.now,
			EventPayload: func(p state.Payment, id string, at time.Time) ([]byte, error) {
				return fmt.Appendf(nil, `{"type":"payment.succeeded","data":{"payment_id":%q,"reference":%q}}`, p.ID, p.Reference), nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		f.now = f.now.Add(time.Second)
		return res.EventID
	}
	settle := func(route, status string, code int, errText string) {
		ds, err := st.ClaimDeliveries(ctx, route, "t", f.now, time.Minute, 1)
		if err != nil || len(ds) != 1 {
			t.Fatalf("claim: %v %d", err, len(ds))
		}
		r := state.AttemptResult{DeliveryID: ds[0].ID, Owner: "t", Status: status, NextAt: f.now.Add(5 * time.Second),
			Attempt: state.Attempt{At: f.now, Duration: 15 * time.Millisecond, StatusCode: code, Error: errText}}
		if err := st.RecordAttempt(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	f.delivered = enqueue("a")
	settle("a", state.DeliveryDelivered, 204, "")
	f.dead = enqueue("b")
	settle("b", state.DeliveryDead, 410, "HTTP 410 Gone (the receiver asked to stop: no more attempts)")
	f.pending = enqueue("a")
	settle("a", state.DeliveryPending, 500, "HTTP 500 Internal Server Error: \x1b[31mboom")
	return f
}

func (f *eventsFixture) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	io := IO{Stdout: &stdout, Stderr: &stderr, Cwd: f.dir, LookupEnv: func(string) (string, bool) { return "", false }}
	code := runEventsWith(context.Background(), io, args, openStore, func() time.Time { return f.now })
	return code, stdout.String(), stderr.String()
}

func TestRunEvents(t *testing.T) {
	t.Parallel()
	f := newEventsFixture(t)
	cases := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		absent []string
		stderr string
	}{
		{"list", []string{"list"}, ExitOK, []string{"EVENT", "ATTEMPTS", f.delivered, f.dead, f.pending, "410", "500"}, nil, ""},
		{"list dead", []string{"list", "-status", "dead"}, ExitOK, []string{f.dead}, []string{f.pending, f.delivered}, ""},
		{"list route json", []string{"list", "-route", "a", "-json"}, ExitOK,
			[]string{`"deliveries"`, `"event_id": "` + f.pending + `"`, `"event_id": "` + f.delivered + `"`, `"next_attempt_at"`}, []string{f.dead}, ""},
		{"list none", []string{"list", "-route", "zzz"}, ExitOK, []string{"No deliveries."}, nil, ""},
		{"show", []string{"show", f.pending}, ExitOK,
			[]string{"payment.succeeded", "Deliveries:", "Attempts:", "HTTP 500 Internal Server Error", "boom", "15ms", "Payload:", `"reference": "R3"`},
			[]string{"\x1b"}, ""},
		{"show json", []string{"show", "-json", f.dead}, ExitOK, []string{`"status_code": 410`, `"payload": {`, `"status": "dead"`}, nil, ""},
		{"show unknown", []string{"show", "evt_nope"}, ExitError, nil, nil, `no event "evt_nope"`},
		{"unknown flag", []string{"list", "-nope"}, ExitError, nil, []string{"Usage"}, "flag provided but not defined: -nope"},
		{"help", []string{"-help"}, ExitOK, []string{"Usage: finconnectd events list", "Examples:", "-status"}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, stdout, stderr := f.run(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, stderr)
			}
			for _, want := range c.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, no := range c.absent {
				if strings.Contains(stdout, no) {
					t.Errorf("stdout has %q:\n%s", no, stdout)
				}
			}
			if !strings.Contains(stderr, c.stderr) {
				t.Errorf("stderr lacks %q: %s", c.stderr, stderr)
			}
		})
	}
	t.Run("list json decodes", func(t *testing.T) {
		_, stdout, _ := f.run(t, "list", "-json")
		var out delivery.DeliveryList
		if err := json.Unmarshal([]byte(stdout), &out); err != nil || len(out.Deliveries) != 3 {
			t.Fatalf("%v %d\n%s", err, len(out.Deliveries), stdout)
		}
	})
}

func TestRunEventsReplay(t *testing.T) {
	t.Parallel()
	f := newEventsFixture(t)
	code, stdout, stderr := f.run(t, "replay", f.dead, "evt_nope")
	if code != ExitError || !strings.Contains(stderr, `no event "evt_nope"`) || !strings.Contains(stdout, "Replayed "+f.dead+": pending delivery to b.") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	code, stdout, _ = f.run(t, "list", "-status", "pending", "-json")
	if code != ExitOK || !strings.Contains(stdout, f.dead) {
		t.Fatalf("the replayed event is not pending:\n%s", stdout)
	}
}

// TestEventsReplayWhileServing: a dispatcher runs on the store file (as
// serve does) while the CLI, with a store handle of its own, replays a
// dead event; the dispatcher delivers it without being notified.
func TestEventsReplayWhileServing(t *testing.T) {
	t.Parallel()
	f := newEventsFixture(t)
	var got atomic.Value
	rv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("webhook-id"))
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rv.Close)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, f.dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	d, err := delivery.New(delivery.Config{
		Store: st, Owner: "serve", PollInterval: 20 * time.Millisecond, Now: func() time.Time { return f.now },
		Routes: []*config.Route{{Name: "b", Provider: "clickpesa.tz", Path: "/b", Events: config.EventTypes(),
			Forward: config.Forward{URL: rv.URL, Secret: secret.New("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"), Timeout: 5 * time.Second},
			Retry:   config.Retry{MaxAttempts: 15, MaxAge: 72 * time.Hour}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		_ = d.Stop(sctx)
	})
	if code, _, stderr := f.run(t, "replay", f.dead); code != ExitOK {
		t.Fatalf("replay: %s", stderr)
	}
	deadline := time.Now().Add(15 * time.Second)
	for got.Load() != f.dead {
		if time.Now().After(deadline) {
			t.Fatal("the running dispatcher did not deliver the replayed event")
		}
		time.Sleep(5 * time.Millisecond)
	}
	deadline = time.Now().Add(15 * time.Second)
	for {
		_, dels, _, err := st.EventDetail(ctx, f.dead)
		if err == nil && dels[0].Status == state.DeliveryDelivered {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recorded as delivered: %v %+v", err, dels)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

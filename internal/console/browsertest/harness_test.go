package browsertest

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/daemon"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

const (
	readToken    = "browser-test-read-token"
	operateToken = "browser-test-operate-token"
	waitFor      = 90 * time.Second
)

var testEnv = map[string]string{
	"READ_TOKEN":    readToken,
	"OPERATE_TOKEN": operateToken,
	"CP_CLIENT":     "client",
	"CP_KEY":        "key",
	"CP_CHECKSUM":   "checksum",
	"WHSEC":         "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef")),
}

const configTemplate = `
state {
  path = %q
}

server {
  listen = "127.0.0.1:0"
}

api {
  listen = "127.0.0.1:0"

  token "support" {
    value  = env("READ_TOKEN")
    scopes = ["console:read"]
  }

  token "oncall" {
    value  = env("OPERATE_TOKEN")
    scopes = ["console:operate"]
  }
}

provider "clickpesa" "tz" {
  client_id    = env("CP_CLIENT")
  api_key      = env("CP_KEY")
  checksum_key = env("CP_CHECKSUM")
  base_url     = "http://127.0.0.1:1/clickpesa"
}

route "orders" {
  provider = provider.clickpesa.tz
  path     = "/hooks/clickpesa"

  forward {
    url    = %q
    secret = env("WHSEC")
  }
}

schedule "reconcile" {
  cron = "@every 1h"
}

schedule "refresh_keys" {
  cron = "@every 1h"
}

schedule "sync_payments" {
  cron = "@every 1h"
}
`

// receiver is the shop's order system: it answers 410 Gone (which makes a
// delivery dead at once) until accept is set, then 204.
type receiver struct {
	srv      *httptest.Server
	accept   atomic.Bool
	accepted atomic.Int32
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		if !rc.accept.Load() {
			http.Error(w, "order system retired", http.StatusGone)
			return
		}
		rc.accepted.Add(1)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// site is a daemon serving the console, its store and its receiver.
type site struct {
	t    *testing.T
	st   *teststore.Store
	recv *receiver
	logs *testkit.SyncBuffer
	base string // http://127.0.0.1:PORT
	now  time.Time
}

// startSite starts the daemon in-process on 127.0.0.1 with a SQLite store.
func startSite(t *testing.T) *site {
	t.Helper()
	dir := t.TempDir()
	s := &site{t: t, st: teststore.New(t), recv: newReceiver(t), logs: &testkit.SyncBuffer{}, now: time.Now().UTC()}
	path := filepath.Join(dir, "finconnect.hcl")
	src := fmt.Sprintf(configTemplate, filepath.Join(dir, "finconnect.db"), s.recv.srv.URL+"/orders")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	l := config.NewLoader(func(k string) (string, bool) { v, ok := testEnv[k]; return v, ok })
	cfg, diags := l.Load(path)
	if diags.HasErrors() {
		var b bytes.Buffer
		_ = l.WriteDiagnostics(&b, diags, 78, false)
		t.Fatalf("load config:\n%s", b.String())
	}
	d, err := daemon.New(daemon.Options{
		Config:          cfg,
		Logger:          slog.New(slog.NewTextHandler(s.logs, nil)),
		LookupEnv:       func(string) (string, bool) { return "", false },
		OpenStore:       func(context.Context, *config.Config, *slog.Logger) (state.Store, error) { return s.st, nil },
		ShutdownTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("new daemon: %v", err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatalf("start daemon: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := d.Stop(ctx); err != nil {
			t.Errorf("stop daemon: %v", err)
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", s.logs.String())
		}
	})
	s.base = "http://" + d.APIAddr()
	return s
}

// payment records a payment in the given status, as a verified provider
// notification would, and returns its ID and the ID of the event emitted
// for route orders.
func (s *site) payment(ref, phone, amount string, status state.PaymentStatus, at time.Time) (string, string) {
	s.t.Helper()
	res, err := s.st.ApplyStatus(context.Background(), state.StatusChange{
		Provider: "clickpesa.tz", Reference: ref, ProviderReference: "CP" + ref, Status: status,
		Amount: amount, Currency: "TZS", Phone: phone, CreateIfMissing: true, Now: at,
		Notification: &state.Notification{ID: "ntf_" + ref, Route: "orders", Provider: "clickpesa.tz",
			DedupKey: ref + ":" + string(status), Body: fmt.Appendf(nil, `{"orderReference":%q,"status":%q}`, ref, status), ReceivedAt: at},
		EventType: "payment." + string(status), Routes: []string{"orders"},
		EventPayload: func(p state.Payment, id string, at time.Time) ([]byte, error) {
			return fmt.Appendf(nil, `{"type":"payment.%s","data":{"payment_id":%q}}`, status, p.ID), nil
		},
	})
	if err != nil {
		s.t.Fatalf("record payment %s: %v", ref, err)
	}
	return res.Payment.ID, res.EventID
}

// deliveryStatus is the status of the event's one delivery.
func (s *site) deliveryStatus(eventID string) string {
	s.t.Helper()
	_, dels, _, err := s.st.EventDetail(context.Background(), eventID)
	if err != nil || len(dels) != 1 {
		s.t.Fatalf("event %s: %v, %d deliveries", eventID, err, len(dels))
	}
	return dels[0].Status
}

// waitDelivery waits until the event's delivery has the status.
func (s *site) waitDelivery(eventID, status string) {
	s.t.Helper()
	testkit.EventuallyWithin(s.t, waitFor, "event "+eventID+"'s delivery to be "+status, func() bool {
		return s.deliveryStatus(eventID) == status
	})
}

// reconRun records a finished reconciliation run of clickpesa.tz over the
// day from, with the differences given, and returns them as stored.
func (s *site) reconRun(from time.Time, diffs ...state.Difference) []state.Difference {
	s.t.Helper()
	ctx := context.Background()
	run, _, err := s.st.StartReconRun(ctx, state.ReconStart{Provider: "clickpesa.tz", From: from, To: from.AddDate(0, 0, 1),
		Owner: "browsertest", Lease: time.Minute, Now: s.now})
	if err != nil {
		s.t.Fatalf("start a reconciliation run: %v", err)
	}
	var out []state.Difference
	for i, d := range diffs {
		d.RunID, d.Provider, d.CreatedAt = run.ID, "clickpesa.tz", s.now.Add(time.Duration(i)*time.Second)
		got, _, err := s.st.RecordDifference(ctx, d, nil)
		if err != nil {
			s.t.Fatalf("record difference %s: %v", d.Key, err)
		}
		out = append(out, got)
	}
	run.Counters = state.ReconCounters{ProviderCalls: 1, ProviderItems: 6, OurPayments: 6, Matched: 6 - len(diffs), Differences: len(diffs)}
	if err := s.st.CheckpointReconRun(ctx, run, time.Minute, s.now); err != nil {
		s.t.Fatalf("checkpoint the run: %v", err)
	}
	if _, err := s.st.FinishReconRun(ctx, run, state.RunDone, "", s.now.Add(4*time.Second)); err != nil {
		s.t.Fatalf("finish the run: %v", err)
	}
	return out
}

package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

func TestParsePaymentsArgs(t *testing.T) {
	t.Parallel()
	cases := []struct {
		args    []string
		want    paymentsArgs
		wantErr bool
		help    bool
	}{
		{args: []string{"list"}, want: paymentsArgs{Sub: "list", Limit: 100}},
		{args: []string{"list", "-status", "unknown", "-provider", "clickpesa.tz", "-json", "-limit", "5"},
			want: paymentsArgs{Sub: "list", Status: "unknown", Provider: "clickpesa.tz", JSON: true, Limit: 5}},
		{args: []string{"show", "pay_abc", "-json"}, want: paymentsArgs{Sub: "show", ID: "pay_abc", JSON: true, Limit: 100}},
		{args: []string{"show", "-config", "x.hcl", "pay_abc"}, want: paymentsArgs{Sub: "show", ID: "pay_abc", Config: "x.hcl", Limit: 100}},
		{args: []string{"show"}, wantErr: true},
		{args: []string{"show", "a", "b"}, wantErr: true},
		{args: []string{"list", "extra"}, wantErr: true},
		{args: []string{"list", "-status", "paid"}, wantErr: true},
		{args: []string{"list", "-limit", "0"}, wantErr: true},
		{args: []string{"refund", "-reference", "RF1", "-reason", "damaged", "-amount", "400", "-idempotency-key", "k1", "pay_abc"},
			want: paymentsArgs{Sub: "refund", ID: "pay_abc", RefundRef: "RF1", Reason: "damaged", Amount: "400", IdemKey: "k1", Limit: 100}},
		{args: []string{"cancel", "-api", "http://127.0.0.1:8081", "pay_abc"}, want: paymentsArgs{Sub: "cancel", ID: "pay_abc", API: "http://127.0.0.1:8081", Limit: 100}},
		{args: []string{"list", "-reference", "R1"}, want: paymentsArgs{Sub: "list", Reference: "R1", Limit: 100}},
		{args: []string{"refund", "-reference", "RF1", "pay_abc"}, wantErr: true},
		{args: []string{"refund", "-reason", "x", "pay_abc"}, wantErr: true},
		{args: []string{"cancel", "-amount", "1", "pay_abc"}, wantErr: true},
		{args: []string{"list", "-api", "http://x"}, wantErr: true},
		{args: []string{"cancel"}, wantErr: true},
		{args: []string{"delete"}, wantErr: true},
		{args: nil, wantErr: true},
		{args: []string{"-help"}, help: true},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			got, err := parsePaymentsArgs(c.args, &stderr, &stderr)
			if c.help {
				if !errors.Is(err, flag.ErrHelp) {
					t.Fatalf("err %v, want ErrHelp", err)
				}
				return
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, wantErr %v", err, c.wantErr)
			}
			if err == nil && got != c.want {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestWritePayment(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	p := state.Payment{ID: "pay_1", Provider: "clickpesa.tz", Reference: "R1\x1b[2J", Status: "unknown", Amount: "1000", Currency: "TZS",
		CreatedAt: at, UpdatedAt: at, NextSyncAt: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}
	var b bytes.Buffer
	writePayment(&b, p)
	out := b.String()
	for _, want := range []string{"pay_1", "1000 TZS", "never (sync gave up after 24h)", "2026-11-22T10:00:00Z"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("control character printed")
	}
	b.Reset()
	writePaymentList(&b, []state.Payment{p})
	if !strings.Contains(b.String(), "ID") || !strings.Contains(b.String(), "pay_1") {
		t.Errorf("list:\n%s", b.String())
	}
}

func TestRunPayments(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte("api {\n  tokens = [env(\"T\", \"x\")]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	st := teststore.Open(t, filepath.Join(dir, "finconnect.db")) // the default state path beside the config
	st.Put(state.Payment{ID: "pay_a", Provider: "clickpesa.tz", Reference: "R1", Status: "succeeded", Amount: "1000", Currency: "TZS", CreatedAt: at, UpdatedAt: at})
	st.Put(state.Payment{ID: "pay_b", Provider: "pesapal.ke", Reference: "R2", Status: "unknown", Amount: "15.00", Currency: "KES", CreatedAt: at, UpdatedAt: at})
	open := openStore
	cases := []struct {
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{[]string{"list"}, ExitOK, []string{"pay_a", "pay_b", "STATUS"}, ""},
		{[]string{"list", "-status", "unknown", "-json"}, ExitOK, []string{`"id": "pay_b"`}, ""},
		{[]string{"show", "pay_a"}, ExitOK, []string{"reference", "R1", "1000 TZS"}, ""},
		{[]string{"show", "-json", "pay_b"}, ExitOK, []string{`"status": "unknown"`}, ""},
		{[]string{"show", "pay_nope"}, ExitError, nil, "no payment"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			io := IO{Stdout: &stdout, Stderr: &stderr, Cwd: dir, LookupEnv: func(string) (string, bool) { return "", false }}
			if code := runPaymentsWith(context.Background(), io, c.args, open); code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, stderr.String())
			}
			for _, want := range c.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("stderr lacks %q: %s", c.stderr, stderr.String())
			}
		})
	}
}

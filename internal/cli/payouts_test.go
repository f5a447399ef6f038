package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

// TestRunPayoutsAndAudit: payouts list|show and audit read the store of
// the configuration; bad flags exit 1 without opening anything.
func TestRunPayoutsAndAudit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.hcl"), []byte("api {\n  tokens = [env(\"T\", \"x\")]\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	st := teststore.Open(t, filepath.Join(dir, "finconnect.db"))
	ctx := context.Background()
	for _, p := range []state.Payout{
		{ID: "po_a", Provider: "clickpesa.tz", Reference: "SAL1", Status: state.PayoutSucceeded, Amount: "150000", Currency: "TZS", Fee: "7065.00",
			DestinationType: state.DestinationMobileMoney, Phone: "255712345670", ReceiverName: "JANE\x1b[2J DOE", Token: "finance", CreatedAt: at},
		{ID: "po_b", Provider: "clickpesa.tz", Reference: "REF1", Status: state.PayoutUnknown, Amount: "1000", Currency: "TZS",
			DestinationType: state.DestinationMobileMoney, Phone: "255712345671", PaymentID: "pay_x", Token: "finance", CreatedAt: at.Add(time.Minute), NextSyncAt: at.Add(time.Hour)},
	} {
		if err := st.CreatePayout(ctx, p, state.PayoutLimit{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []state.AuditEntry{
		{At: at, Token: "finance", Action: "payout.create", Subject: "po_a", Result: "created", Status: 201, Request: json.RawMessage(`{"amount":"150000"}`)},
		{At: at.Add(time.Second), Token: "shop", Action: "payout.create", Result: "refused", Status: 403, Detail: `the token lacks the scope "payouts"`},
	} {
		if err := st.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		run    func(context.Context, IO, []string, storeOpener) int
		args   []string
		code   int
		stdout []string
		stderr string
	}{
		{runPayoutsWith, []string{"list"}, ExitOK, []string{"po_a", "po_b", "255712345670", "150000 TZS"}, ""},
		{runPayoutsWith, []string{"list", "-payment", "pay_x", "-json"}, ExitOK, []string{`"id": "po_b"`, `"payment_id": "pay_x"`}, ""},
		{runPayoutsWith, []string{"list", "-status", "succeeded"}, ExitOK, []string{"po_a"}, ""},
		{runPayoutsWith, []string{"show", "po_a"}, ExitOK, []string{"receiver_name", "JANE [2J DOE", "7065.00 TZS", "finance"}, ""},
		{runPayoutsWith, []string{"show", "po_b"}, ExitOK, []string{"next_sync_at", "payment_id"}, ""},
		{runPayoutsWith, []string{"show", "po_nope"}, ExitError, nil, "no payout"},
		{runPayoutsWith, []string{"list", "-status", "paid"}, ExitError, nil, "not one of"},
		{runAuditWith, nil, ExitOK, []string{"TOKEN", "shop", "refused", "403", "po_a", "created"}, ""},
		{runAuditWith, []string{"-token", "shop", "-json"}, ExitOK, []string{`"token": "shop"`, `"status": 403`}, ""},
		{runAuditWith, []string{"-action", "delete"}, ExitError, nil, "not one of"},
		{runAuditWith, []string{"extra"}, ExitError, nil, "unexpected argument"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			io := IO{Stdout: &stdout, Stderr: &stderr, Cwd: dir, LookupEnv: func(string) (string, bool) { return "", false }}
			if code := c.run(context.Background(), io, c.args, openStore); code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, c.code, stderr.String())
			}
			for _, want := range c.stdout {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout.String())
				}
			}
			if strings.Contains(stdout.String(), "\x1b") {
				t.Error("a control character was printed")
			}
			if !strings.Contains(stderr.String(), c.stderr) {
				t.Errorf("stderr lacks %q: %s", c.stderr, stderr.String())
			}
		})
	}
}

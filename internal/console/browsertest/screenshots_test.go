package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/finconnectd/finconnectd/internal/state"
)

// TestScreenshots writes PNGs of the console's main pages into the
// directory -screenshots names (make screenshots: docs/console), over a
// small store: payments in each status, delivered events and a dead one,
// payouts, and a reconciliation run with its differences.
// Without the flag it does nothing.
func TestScreenshots(t *testing.T) {
	if *screenshotDir == "" {
		t.Skip("no -screenshots directory")
	}
	needBrowser(t)
	if err := os.MkdirAll(*screenshotDir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startSite(t)
	ctx := context.Background()
	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Minute)
	s.recv.accept.Store(true)
	var delivered []string
	for i, p := range []struct {
		ref, phone, amount string
		status             state.PaymentStatus
	}{
		{"ORDER-2041", "255712345678", "15000", state.StatusSucceeded},
		{"ORDER-2042", "255754110022", "4500", state.StatusFailed},
		{"ORDER-2043", "255689001234", "120000", state.StatusSucceeded},
		{"ORDER-2044", "255713998877", "7800", state.StatusSucceeded},
	} {
		_, ev := s.payment(p.ref, p.phone, p.amount, p.status, base.Add(time.Duration(i)*17*time.Minute))
		delivered = append(delivered, ev)
	}
	for _, ev := range delivered {
		s.waitDelivery(ev, state.DeliveryDelivered)
	}
	s.recv.accept.Store(false)
	deadPay, deadEv := s.payment("ORDER-2045", "255765432109", "32000", state.StatusSucceeded, base.Add(2*time.Hour))
	s.waitDelivery(deadEv, state.DeliveryDead)
	at := base.Add(150 * time.Minute)
	if err := s.st.CreatePayment(ctx, state.Payment{ID: "pay_screenshotpending", Provider: "clickpesa.tz", Reference: "ORDER-2046",
		Status: state.StatusPending, Amount: "9900", Currency: "TZS", Phone: "255744556677", CreatedAt: at, UpdatedAt: at, NextSyncAt: at.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.st.PutResource(ctx, state.Resource{Address: "ipn.orders", Type: "ipn", UpdatedAt: base,
		Attributes: []byte(`{"ipn_id":"9f1c2a77-5d0e-4c55-8a59-3f5e3b2d1c10","url":"https://pay.shop.example/hooks/clickpesa","provider":"clickpesa.tz"}`)}); err != nil {
		t.Fatal(err)
	}

	for i, po := range []state.Payout{
		{ID: "po_screenshot1", Reference: "REFUND2042", Status: state.PayoutSucceeded, Amount: "4500", Fee: "250",
			DestinationType: state.DestinationMobileMoney, Phone: "255754110022", ReceiverName: "ASHA MWINYI", Channel: "MPESA TANZANIA"},
		{ID: "po_screenshot2", Reference: "SUPPLIER77", Status: state.PayoutPending, Amount: "1250000",
			DestinationType: state.DestinationBank, Bank: "CORUTZTZ", AccountNumber: "0152998877665", AccountName: "Duka Supplies Ltd"},
	} {
		po.Provider, po.Currency, po.Token = "clickpesa.tz", "TZS", "finance"
		po.CreatedAt = base.Add(time.Duration(100+i*30) * time.Minute)
		po.UpdatedAt = po.CreatedAt
		if err := s.st.CreatePayout(ctx, po, state.PayoutLimit{}); err != nil {
			t.Fatal(err)
		}
		if err := s.st.AppendAudit(ctx, state.AuditEntry{At: po.CreatedAt, Token: "finance", Action: "payout.create", Subject: po.ID,
			Request: []byte(`{}`), Result: "created", Status: 201}); err != nil {
			t.Fatal(err)
		}
	}

	for i, r := range []state.ScheduleRun{
		{Schedule: "reconcile", Outcome: state.ScheduleOK},
		{Schedule: "refresh_keys", Outcome: state.ScheduleOK},
		{Schedule: "sync_payments", Outcome: state.ScheduleOK},
		{Schedule: "sync_payments", Outcome: state.ScheduleFailed, Detail: `sync: provider "clickpesa" "tz": query ORDER-2046: HTTP 503 Service Unavailable`},
		{Schedule: "reconcile_payments", Outcome: state.ScheduleOK},
		{Schedule: "sync_payments", Outcome: state.ScheduleOK},
	} {
		r.Owner = "shop-1/finconnectd.service/812/k2f9"
		r.StartedAt = base.Add(time.Duration(i*7) * time.Minute)
		r.FinishedAt = r.StartedAt.Add(time.Duration(180+i*97) * time.Millisecond)
		if err := s.st.RecordScheduleRun(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	diffs := s.reconRun(base.Truncate(24*time.Hour).AddDate(0, 0, -1), someDifferences()...)

	tab := newTab(t)
	shot := func(name, path string, wait chromedp.CSS) {
		t.Helper()
		do(t, tab, "open "+path, chromedp.Navigate(s.base+path), chromedp.WaitVisible(wait))
		png := get(t, tab, "screenshot "+path, chromedp.FullScreenshot(100))
		if err := os.WriteFile(filepath.Join(*screenshotDir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	shot("signin", "/console/signin", "#token")
	signIn(t, tab, s, operateToken)
	shot("payments", "/console/payments", "table")
	shot("payment", "/console/payments/"+deadPay, "#events")
	shot("dead-letters", "/console/events?status=dead", "table")
	shot("event", "/console/events/"+deadEv, "form.action")
	shot("payouts", "/console/payouts", "table")
	shot("payout", "/console/payouts/po_screenshot1", "#audit")
	shot("differences", "/console/differences", "table")
	shot("difference", "/console/differences/"+diffs[0].ID, "#evidence")
	shot("state", "/console/state", "table")
	shot("health", "/console/health", "#main")
	do(t, tab, "phone-sized screen", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	shot("payments-phone", "/console/payments", "table")
	shot("payment-phone", "/console/payments/"+deadPay, "#events")
}

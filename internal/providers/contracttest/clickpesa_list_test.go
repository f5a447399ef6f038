package contracttest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/sandbox"
)

// TestClickPesaListPayments: the list streams the window page by page
// (pages of what the provider answers, not of what was asked), keeps only
// the window's payments, resumes from a page's Next, and shows the
// emulator's divergences.
func TestClickPesaListPayments(t *testing.T) {
	e := startEmulator(t, sandbox.Settings{}, nil)
	c := newClickPesa(t, e)
	ctx := context.Background()
	from := time.Date(2030, 3, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	// 250 in the window, 10 just before and 10 just after it.
	bulk := []sandbox.BulkPayments{
		{Count: 10, Prefix: "EARLY", Amount: "500", From: from.Add(-10 * time.Minute), To: from},
		{Count: 250, Prefix: "WIN", Amount: "1000", From: from, To: to},
		{Count: 10, Prefix: "LATE", Amount: "500", From: to, To: to.Add(10 * time.Minute)},
	}
	for _, b := range bulk {
		if err := e.Bulk(b); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name              string
		pageSize, skip    int
		wantPages, wantIn int
	}{
		{"pages of 100", 100, 0, 3, 250},
		{"a page size above the provider's", 1000, 0, 3, 250},
		{"resumed at 200", 100, 200, 1, 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages, in, last := 0, 0, time.Time{}
			seen := map[string]bool{}
			err := c.ListPayments(ctx, clickpesa.ListOptions{From: from, To: to, PageSize: tt.pageSize, Skip: tt.skip}, func(p clickpesa.ListPage) error {
				pages++
				if p.Read > 100 {
					t.Errorf("page of %d items, the emulator's largest is 100", p.Read)
				}
				for _, it := range p.Items {
					at, err := time.Parse(time.RFC3339Nano, it.CreatedAt)
					if err != nil || at.Before(from) || !at.Before(to) || at.Before(last) || seen[it.OrderReference] {
						t.Errorf("item %s created %s: outside the window, out of order or repeated", it.OrderReference, it.CreatedAt)
					}
					last, seen[it.OrderReference] = at, true
				}
				in += len(p.Items)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if pages != tt.wantPages || in != tt.wantIn {
				t.Errorf("pages %d, items in the window %d; want %d, %d", pages, in, tt.wantPages, tt.wantIn)
			}
		})
	}
	stop := errors.New("stop")
	if err := c.ListPayments(ctx, clickpesa.ListOptions{From: from, To: to}, func(clickpesa.ListPage) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("a callback's error: got %v", err)
	}

	// Divergences show in the list and the query.
	at := from.Add(time.Hour)
	for _, d := range []sandbox.Divergence{
		{Kind: "foreign", Reference: "DASH1", Amount: "7000", At: at},
		{Kind: "duplicate", Reference: "WIN5"},
		{Kind: "reverse", Reference: "WIN6"},
		{Kind: "settle_amount", Reference: "WIN7", Amount: "900"},
	} {
		if _, err := e.Diverge(d); err != nil {
			t.Fatalf("%s: %v", d.Kind, err)
		}
	}
	got := map[string][]clickpesa.Payment{}
	err := c.ListPayments(ctx, clickpesa.ListOptions{From: from, To: to}, func(p clickpesa.ListPage) error {
		for _, it := range p.Items {
			got[it.OrderReference] = append(got[it.OrderReference], it)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(ref string, n int, status, amount string) {
		t.Helper()
		ps := got[ref]
		if len(ps) != n || ps[0].Status != status || ps[0].CollectedAmount != amount {
			t.Errorf("%s: %d items %+v, want %d %s %s", ref, len(ps), ps, n, status, amount)
		}
	}
	check("DASH1", 1, "SUCCESS", "7000")
	check("WIN6", 1, "REVERSED", "1000")
	check("WIN7", 1, "SUCCESS", "900")
	// The duplicate is created now, outside the window; the query shows both.
	qs, err := c.QueryPayments(ctx, "WIN5")
	if err != nil || len(qs) != 2 {
		t.Errorf("query WIN5 = %d items (%v), want 2", len(qs), err)
	}
	if _, err := e.Diverge(sandbox.Divergence{Kind: "reverse", Reference: "NOPE"}); !errors.Is(err, sandbox.ErrUnknownPayment) {
		t.Errorf("reverse an unknown payment: %v", err)
	}
	if _, err := e.Diverge(sandbox.Divergence{Kind: "odd"}); err == nil {
		t.Error("an unknown kind was accepted")
	}
}

package contracttest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

// TestClickPesaListPayouts: ClickPesa's list of payouts streams the
// window page by page, oldest first, keeps only the window's payouts
// (the dates sent cover a day more on each side), resumes from a page's
// Next, and shows each payout as its query does.
func TestClickPesaListPayouts(t *testing.T) {
	from := time.Date(2030, 4, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	var (
		mu  sync.Mutex
		now = from.Add(-time.Hour)
	)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	e := startEmulator(t, sandbox.Settings{ClickPesaBalance: "100000000"}, clock)
	c := newClickPesa(t, e)
	ctx := context.Background()
	create := func(ref, phone string) {
		t.Helper()
		if _, err := c.CreateMobileMoneyPayout(ctx, clickpesa.MobileMoneyPayout{Amount: "1000", OrderReference: ref, PhoneNumber: phone}); err != nil {
			t.Fatalf("create %s: %v", ref, err)
		}
	}
	create("POBEFORE", "0712345670") // an hour before the window
	const n = 130
	for i := range n {
		set(from.Add(time.Duration(i) * time.Minute))
		digit := map[int]int{0: 1, 1: 2}[i%10] // one in ten refunded, one in ten reversed later, the rest succeed
		create(fmt.Sprintf("POWIN%03d", i), fmt.Sprintf("071234567%d", digit))
	}
	set(to)
	create("POAFTER", "0712345670")
	set(to.Add(time.Hour))
	testkit.Eventually(t, "every payout settled", func() bool {
		p, err := c.QueryPayout(ctx, fmt.Sprintf("POWIN%03d", 1))
		q, err2 := c.QueryPayout(ctx, fmt.Sprintf("POWIN%03d", n-1))
		return err == nil && err2 == nil && p.Status == "REVERSED" && q.Status == "SUCCESS"
	})

	tests := []struct {
		name              string
		pageSize, skip    int
		wantPages, wantIn int
	}{
		{"pages of 50", 50, 0, 3, n},
		{"a page size above the provider's", 1000, 0, 2, n},
		{"resumed at 100", 100, 100, 1, n - 99}, // POBEFORE is the first item read
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pages, in, last := 0, 0, time.Time{}
			seen := map[string]bool{}
			err := c.ListPayouts(ctx, clickpesa.ListOptions{From: from, To: to, PageSize: tt.pageSize, Skip: tt.skip}, func(p clickpesa.PayoutPage) error {
				pages++
				if p.Read > 100 || p.TotalCount != n+2 {
					t.Errorf("page of %d items, total %d; want at most 100 of %d", p.Read, p.TotalCount, n+2)
				}
				for _, it := range p.Items {
					at, err := time.Parse(time.RFC3339Nano, it.CreatedAt)
					if err != nil || at.Before(from) || !at.Before(to) || at.Before(last) || seen[it.OrderReference] {
						t.Errorf("payout %s created %s: outside the window, out of order or repeated", it.OrderReference, it.CreatedAt)
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
				t.Errorf("pages %d, payouts in the window %d; want %d, %d", pages, in, tt.wantPages, tt.wantIn)
			}
		})
	}

	got := map[string]clickpesa.Payout{}
	if err := c.ListPayouts(ctx, clickpesa.ListOptions{From: from, To: to}, func(p clickpesa.PayoutPage) error {
		for _, it := range p.Items {
			got[it.OrderReference] = it
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{"POWIN000": clickpesa.PayoutFailed, "POWIN001": clickpesa.PayoutReversed, "POWIN002": clickpesa.PayoutSucceeded} {
		listed := got[ref]
		queried, err := c.QueryPayout(ctx, ref)
		if err != nil || clickpesa.MapPayoutStatus(listed.Status) != want || listed.Status != queried.Status ||
			listed.ID != queried.ID || listed.Amount != queried.Amount || listed.Fee != queried.Fee || listed.AccountNumber != queried.AccountNumber {
			t.Errorf("%s listed %+v, queried %+v (%v); want %s and the same fields", ref, listed, queried, err, want)
		}
	}
}

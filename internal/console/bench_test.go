package console

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

// BenchmarkPaymentsPage renders the payments page over a store of 100,000
// payments (SQLite), on the server side: the handler from request to the
// last byte of HTML, without the network.
func BenchmarkPaymentsPage(b *testing.B) {
	st := teststore.New(b)
	ctx := context.Background()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 100_000
	for i := range n {
		at := base.Add(time.Duration(i) * time.Minute)
		if err := st.CreatePayment(ctx, state.Payment{ID: fmt.Sprintf("pay_bench%07d", i), Provider: "clickpesa.tz",
			Reference: fmt.Sprintf("ORDER-%07d", i), Status: "succeeded", Amount: "1000.00", Currency: "TZS",
			Phone: fmt.Sprintf("2557%08d", i), CreatedAt: at, UpdatedAt: at}); err != nil {
			b.Fatal(err)
		}
	}
	h := newHarness(b, st)
	br := h.browser()
	if code, _ := br.signIn(readToken); code != 200 {
		b.Fatal(code)
	}
	u, _ := http.NewRequest("GET", h.srv.URL+"/console/payments", nil)
	cookies := br.c.Jar.Cookies(u.URL)
	handler := h.srv.Config.Handler
	for _, q := range []string{"", "reference=ORDER-0054321", "status=succeeded&phone=12345", "date=2026-02-01"} {
		b.Run("query="+q, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest("GET", "/console/payments?"+q, nil)
				for _, c := range cookies {
					req.AddCookie(c)
				}
				rec := httptest.NewRecorder()
				handler.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("%d", rec.Code)
				}
			}
		})
	}
}

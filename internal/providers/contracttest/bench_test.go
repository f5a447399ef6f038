package contracttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/sandbox"
)

// BenchmarkInitiatePayment measures one payment initiation through a
// client against the emulator over loopback: "reuse" keeps one client (one
// token for the whole run), "no_reuse" builds a client per payment, so each
// payment also pays for a token request.
func BenchmarkInitiatePayment(b *testing.B) {
	e := startEmulator(b, sandbox.Settings{Delay: sandbox.Duration(time.Hour)}, nil)
	ctx := context.Background()
	hc := httpClient(b) // one connection pool: the difference measured is the token request
	reg, err := newPesaPal(b, e, func(o *pesapal.Options) { o.HTTPClient = hc }).RegisterIPN(ctx, "https://merchant.example/ipn", "POST")
	if err != nil {
		b.Fatal(err)
	}
	kinds := []struct {
		name  string
		build func(b *testing.B) providers.Payer
	}{
		{"pesapal", func(b *testing.B) providers.Payer {
			return newPesaPal(b, e, func(o *pesapal.Options) { o.HTTPClient = hc })
		}},
		{"clickpesa", func(b *testing.B) providers.Payer {
			return newClickPesa(b, e, func(o *clickpesa.Options) { o.HTTPClient = hc })
		}},
		{"azampay", func(b *testing.B) providers.Payer {
			return newAzamPay(b, e, func(o *azampay.Options) { o.HTTPClient = hc })
		}},
	}
	n := 0
	for _, k := range kinds {
		for _, reuse := range []bool{true, false} {
			name := k.name + "/reuse"
			if !reuse {
				name = k.name + "/no_reuse"
			}
			b.Run(name, func(b *testing.B) {
				p := k.build(b)
				b.ReportAllocs()
				for b.Loop() {
					if !reuse {
						p = k.build(b)
					}
					n++
					if _, err := p.InitiatePayment(ctx, providers.PaymentRequest{
						Reference: fmt.Sprintf("BENCH%d", n), Amount: "1000", Currency: "TZS", Phone: "255712345670",
						CallbackURL: "https://merchant.example/return", NotificationID: reg.IPNID,
					}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

package contracttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

func TestClickPesaPayouts(t *testing.T) {
	const key = "payout-checksum-key"
	for _, method := range []string{clickpesa.MethodCanonical, clickpesa.MethodLegacy} {
		t.Run(method, func(t *testing.T) {
			rcv := newReceiver(t)
			e := startEmulator(t, sandbox.Settings{
				ClickPesaWebhook: rcv.URL("/clickpesa/hook"), ClickPesaChecksumKey: key, ClickPesaChecksumMethod: method,
				ClickPesaBalance: "100000",
			}, nil)
			c := newClickPesa(t, e, func(o *clickpesa.Options) { o.ChecksumKey = secret.New(key); o.ChecksumMethod = method })
			ctx := context.Background()

			pv, err := c.PreviewMobileMoneyPayout(ctx, clickpesa.MobileMoneyPayout{Amount: "1000.00", OrderReference: "PV1", PhoneNumber: "0712345678"})
			if err != nil {
				t.Fatal(err)
			}
			if pv.Fee != "47.1" || pv.Total != "1047.1" || pv.Balance != "100000" || pv.ReceiverName != "SANDBOX RECEIVER 5678" || pv.ReceiverAccount != "255712345678" {
				t.Errorf("preview = %+v", pv)
			}

			tests := []struct {
				digit int
				want  string
			}{{0, clickpesa.PayoutSucceeded}, {1, clickpesa.PayoutFailed}, {2, clickpesa.PayoutReversed}, {3, clickpesa.PayoutSucceeded}}
			for _, tt := range tests {
				t.Run(fmt.Sprint("digit ", tt.digit), func(t *testing.T) {
					ref := fmt.Sprintf("PO%s%d", method[:3], tt.digit)
					po, err := c.CreateMobileMoneyPayout(ctx, clickpesa.MobileMoneyPayout{Amount: "1000", OrderReference: ref, PhoneNumber: fmt.Sprintf("+255 71234567%d", tt.digit)})
					if err != nil {
						t.Fatal(err)
					}
					if po.Status != "AUTHORIZED" || po.OrderReference != ref || po.Fee != "47.10" || po.Amount != "1047.10" || po.OrderAmount != "1000.00" || po.ID == "" {
						t.Errorf("create = %+v", po)
					}
					testkit.Eventually(t, "final status "+tt.want, func() bool {
						got, err := c.QueryPayout(ctx, ref)
						return err == nil && clickpesa.MapPayoutStatus(got.Status) == tt.want
					})
				})
			}
			// Every payout webhook parses and verifies with the key.
			testkit.Eventually(t, "payout webhooks", func() bool { return len(rcv.notices("/clickpesa/hook")) >= 4 })
			for _, n := range rcv.notices("/clickpesa/hook") {
				if err := clickpesa.VerifyChecksum(n.Body, []byte(key)); err != nil {
					t.Errorf("webhook %s: %v", n.Body, err)
				}
				if _, err := clickpesa.ParsePayoutWebhook(n.Body); err != nil {
					t.Errorf("webhook %s: %v", n.Body, err)
				}
			}
		})
	}
}

func TestClickPesaPayoutErrors(t *testing.T) {
	e := startEmulator(t, sandbox.Settings{ClickPesaBalance: "5000", SlowAnswer: sandbox.Duration(time.Hour)}, nil)
	c := newClickPesa(t, e, func(o *clickpesa.Options) { o.Timeout = 300 * time.Millisecond })
	ctx := context.Background()
	if _, err := c.CreateMobileMoneyPayout(ctx, clickpesa.MobileMoneyPayout{Amount: "100", OrderReference: "USED", PhoneNumber: "255712345670"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		kind providers.ErrorKind
		code string
	}{
		{"balance too low", func() error {
			_, err := c.PreviewMobileMoneyPayout(ctx, clickpesa.MobileMoneyPayout{Amount: "9000", OrderReference: "BIG", PhoneNumber: "255712345670"})
			return err
		}, providers.Permanent, clickpesa.CodeInsufficientBalance},
		{"reference used", func() error {
			_, err := c.CreateMobileMoneyPayout(ctx, clickpesa.MobileMoneyPayout{Amount: "1", OrderReference: "USED", PhoneNumber: "255712345670"})
			return err
		}, providers.Permanent, clickpesa.CodeReferenceUsed},
		{"not a mobile number", func() error {
			_, err := c.CreateMobileMoneyPayout(ctx, clickpesa.MobileMoneyPayout{Amount: "1", OrderReference: "LAND", PhoneNumber: "255222123456"})
			return err
		}, providers.Permanent, "invalid_request"},
		{"server error on create is an unknown outcome", func() error {
			_, err := c.CreateMobileMoneyPayout(ctx, clickpesa.MobileMoneyPayout{Amount: "1", OrderReference: "ERR5", PhoneNumber: "255712345675"})
			return err
		}, providers.UnknownOutcome, ""},
		{"no answer in time is an unknown outcome", func() error {
			_, err := c.CreateMobileMoneyPayout(ctx, clickpesa.MobileMoneyPayout{Amount: "1", OrderReference: "SLOW6", PhoneNumber: "255712345676"})
			return err
		}, providers.UnknownOutcome, ""},
		{"unknown reference", func() error {
			_, err := c.QueryPayout(ctx, "NEVER")
			return err
		}, providers.Permanent, "not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			var pe *providers.Error
			if !asError(err, &pe) || pe.Kind != tt.kind || (tt.code != "" && pe.Code != tt.code) {
				t.Fatalf("err = %v, want kind %v code %q", err, tt.kind, tt.code)
			}
		})
	}
	// The late answer's payout exists at the provider: a query finds it.
	if _, err := c.QueryPayout(ctx, "SLOW6"); err != nil {
		t.Errorf("query the payout whose answer was lost: %v", err)
	}
	bs, err := c.Balances(ctx)
	if err != nil || len(bs) == 0 || bs[0].Currency != "TZS" {
		t.Fatalf("balances = %+v, %v", bs, err)
	}
}

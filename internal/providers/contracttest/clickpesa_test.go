package contracttest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

func newClickPesa(t testing.TB, e *sandbox.Emulator, mut ...func(*clickpesa.Options)) *clickpesa.Client {
	t.Helper()
	o := clickpesa.Options{
		BaseURL:    e.URL() + "/clickpesa",
		ClientID:   secret.New("IDsandbox1234"),
		APIKey:     secret.New("SKsandbox5678"),
		Block:      `provider "clickpesa" "tz"`,
		Timeout:    5 * time.Second,
		HTTPClient: httpClient(t),
	}
	for _, m := range mut {
		m(&o)
	}
	c, err := clickpesa.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestClickPesaOutcomesAndWebhooks(t *testing.T) {
	const key = "checksum-key-for-tests"
	for _, method := range []string{clickpesa.MethodCanonical, clickpesa.MethodLegacy} {
		t.Run(method, func(t *testing.T) {
			rcv := newReceiver(t)
			e := startEmulator(t, sandbox.Settings{
				ClickPesaWebhook:        rcv.URL("/clickpesa/hook"),
				ClickPesaChecksumKey:    key,
				ClickPesaChecksumMethod: method,
			}, nil)
			c := newClickPesa(t, e, func(o *clickpesa.Options) { o.ChecksumKey = secret.New(key); o.ChecksumMethod = method })
			ctx := context.Background()

			pv, err := c.PreviewUSSDPush(ctx, clickpesa.USSDPushRequest{Amount: "1000", Currency: "TZS", OrderReference: "PREVIEW1", PhoneNumber: "0712345678", FetchSenderDetails: true})
			if err != nil {
				t.Fatal(err)
			}
			if len(pv.ActiveMethods) == 0 || pv.Sender == nil || pv.Sender.AccountNumber != "255712345678" {
				t.Fatalf("preview %+v", pv)
			}

			tests := []struct {
				digit    int
				want     providers.Status
				message  string
				webhooks int
			}{
				{0, providers.StatusSucceeded, "success", 1},
				{1, providers.StatusFailed, "Insufficient balance", 1},
				{2, providers.StatusFailed, "Cancelled by user", 1},
				{3, providers.StatusSucceeded, "success", 0},
				{4, providers.StatusSucceeded, "success", 2},
			}
			for _, tt := range tests {
				t.Run(fmt.Sprint("digit ", tt.digit), func(t *testing.T) {
					ref := fmt.Sprintf("ORD%s%d", method[:3], tt.digit)
					res, err := c.InitiatePayment(ctx, providers.PaymentRequest{Reference: ref, Amount: "1000", Currency: "TZS", Phone: fmt.Sprintf("+255 71234567%d", tt.digit)})
					if err != nil {
						t.Fatal(err)
					}
					if res.Status != providers.StatusPending || !strings.HasPrefix(res.ProviderReference, ref) {
						t.Fatalf("result %+v", res)
					}
					var sent sandbox.Request
					for _, r := range requests(e, "/payments/initiate-ussd-push-request") {
						if strings.Contains(r.Body, ref) {
							sent = r
						}
					}
					if jsonField(t, sent.Body, "phoneNumber") != fmt.Sprintf("25571234567%d", tt.digit) || jsonField(t, sent.Body, "amount") != "1000" || jsonField(t, sent.Body, "checksum") == nil {
						t.Fatalf("emulator saw %s", sent.Body)
					}
					st := settle(t, c, providers.PaymentQuery{Reference: ref})
					if st.Status != tt.want || st.Message != tt.message || st.Reference != ref || st.Amount != "1000" || st.ProviderReference != res.ProviderReference {
						t.Fatalf("status %+v", st)
					}
					matching := func() int {
						n := 0
						for _, ntc := range rcv.notices("/clickpesa/hook") {
							if err := clickpesa.VerifyChecksum(ntc.Body, []byte(key)); err != nil {
								t.Fatalf("webhook checksum: %v (%s)", err, ntc.Body)
							}
							w, err := clickpesa.ParseWebhook(ntc.Body)
							if err != nil {
								t.Fatalf("webhook: %v", err)
							}
							if w.Data.OrderReference == ref {
								if clickpesa.MapStatus(w.Data.Status) != tt.want || w.ChecksumMethod != method {
									t.Fatalf("webhook %+v", w)
								}
								n++
							}
						}
						return n
					}
					if tt.webhooks > 0 {
						testkit.Eventually(t, "webhooks", func() bool { return matching() >= tt.webhooks })
					}
					if got := matching(); got != tt.webhooks {
						t.Fatalf("webhooks %d, want %d", got, tt.webhooks)
					}
				})
			}
		})
	}
}

func TestClickPesaRejections(t *testing.T) {
	rcv := newReceiver(t)
	e := startEmulator(t, sandbox.Settings{ClickPesaWebhook: rcv.URL("/clickpesa/hook"), ClickPesaChecksumKey: "k1"}, nil)
	ctx := context.Background()
	good := newClickPesa(t, e, func(o *clickpesa.Options) { o.ChecksumKey = secret.New("k1") })
	tests := []struct {
		name   string
		client *clickpesa.Client
		req    providers.PaymentRequest
		kind   providers.ErrorKind
		code   string
	}{
		{"no checksum when required", newClickPesa(t, e), providers.PaymentRequest{Reference: "NOSUM1", Amount: "1000", Phone: "255712345670"}, providers.Permanent, ""},
		{"wrong checksum key", newClickPesa(t, e, func(o *clickpesa.Options) { o.ChecksumKey = secret.New("k2") }), providers.PaymentRequest{Reference: "BADSUM1", Amount: "1000", Phone: "255712345670"}, providers.Permanent, ""},
		{"500 on initiate", good, providers.PaymentRequest{Reference: "FIVE1", Amount: "1000", Phone: "255712345675"}, providers.UnknownOutcome, ""},
		{"slow answer", newClickPesa(t, e, func(o *clickpesa.Options) { o.ChecksumKey = secret.New("k1"); o.Timeout = 200 * time.Millisecond }), providers.PaymentRequest{Reference: "SIX1", Amount: "1000", Phone: "255712345676"}, providers.UnknownOutcome, ""},
		{"bad credentials", newClickPesa(t, e, func(o *clickpesa.Options) { o.APIKey = secret.New("invalid") }), providers.PaymentRequest{Reference: "AUTH1", Amount: "1000", Phone: "255712345670"}, providers.Auth, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.InitiatePayment(ctx, tt.req)
			var pe *providers.Error
			if !asError(err, &pe) || pe.Kind != tt.kind || pe.Code != tt.code {
				t.Fatalf("err %v, want %v", err, tt.kind)
			}
		})
	}
	// A reused reference is a 409.
	req := providers.PaymentRequest{Reference: "DUP1", Amount: "1000", Phone: "255712345670"}
	if _, err := good.InitiatePayment(ctx, req); err != nil {
		t.Fatal(err)
	}
	_, err := good.InitiatePayment(ctx, req)
	var pe *providers.Error
	if !asError(err, &pe) || pe.Kind != providers.Permanent || pe.HTTPStatus != 409 || pe.Code != "order_reference_used" {
		t.Fatalf("reuse: %v", err)
	}
	// An unknown reference is not found.
	_, err = good.QueryPayment(ctx, providers.PaymentQuery{Reference: "NEVERSEEN"})
	if !asError(err, &pe) || pe.Code != "not_found" {
		t.Fatalf("unknown reference: %v", err)
	}
}

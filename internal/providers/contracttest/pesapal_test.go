package contracttest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

func newPesaPal(t testing.TB, e *sandbox.Emulator, mut ...func(*pesapal.Options)) *pesapal.Client {
	t.Helper()
	o := pesapal.Options{
		BaseURL:        e.URL() + "/pesapal",
		ConsumerKey:    secret.New("qkio1BGGYAXTu2JOfm7XSXNruoZsrqEW"),
		ConsumerSecret: secret.New("osGQ364R49cXKeOYSpaOnT++rHs="),
		Block:          `provider "pesapal" "ke"`,
		Timeout:        5 * time.Second,
		HTTPClient:     httpClient(t),
	}
	for _, m := range mut {
		m(&o)
	}
	c, err := pesapal.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPesaPalIPNRegistration(t *testing.T) {
	e := startEmulator(t, sandbox.Settings{}, nil)
	rcv := newReceiver(t)
	c := newPesaPal(t, e)
	ctx := context.Background()

	reg, err := c.RegisterIPN(ctx, rcv.URL("/pesapal/ipn"), "POST")
	if err != nil {
		t.Fatal(err)
	}
	if reg.Adopted || reg.IPNID == "" || reg.URL != rcv.URL("/pesapal/ipn") || reg.NotificationType != 1 ||
		reg.NotificationTypeDescription != "POST" || reg.IPNStatus != 1 || reg.IPNStatusDescription != "Active" {
		t.Fatalf("registration %+v", reg)
	}
	sent := requests(e, "/api/URLSetup/RegisterIPN")
	if len(sent) != 1 || jsonField(t, sent[0].Body, "url") != rcv.URL("/pesapal/ipn") || jsonField(t, sent[0].Body, "ipn_notification_type") != "POST" {
		t.Fatalf("emulator saw %+v", sent)
	}
	if sent[0].Status != 200 {
		t.Fatalf("emulator answered %d", sent[0].Status)
	}

	list, err := c.GetIPNList(ctx)
	if err != nil || len(list) != 1 || list[0].IPNID != reg.IPNID {
		t.Fatalf("list %+v %v", list, err)
	}
	again, err := c.RegisterIPN(ctx, rcv.URL("/pesapal/ipn"), "POST")
	if err != nil || !again.Adopted || again.IPNID != reg.IPNID {
		t.Fatalf("re-register %+v %v", again, err)
	}
	if n := len(requests(e, "/api/URLSetup/RegisterIPN")); n != 1 {
		t.Fatalf("re-registering sent %d RegisterIPN requests, want the existing one adopted", n)
	}
	if n := len(requests(e, "/api/Auth/RequestToken")); n != 1 {
		t.Fatalf("token requests %d, want 1", n)
	}
}

func TestPesaPalOutcomes(t *testing.T) {
	e := startEmulator(t, sandbox.Settings{}, nil)
	rcv := newReceiver(t)
	c := newPesaPal(t, e)
	ctx := context.Background()
	reg, err := c.RegisterIPN(ctx, rcv.URL("/pesapal/ipn"), "POST")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		digit   int
		want    providers.Status
		message string
		ipns    int
	}{
		{0, providers.StatusSucceeded, "", 1},
		{1, providers.StatusFailed, "Insufficient funds", 1},
		{2, providers.StatusFailed, "Cancelled by user", 1},
		{3, providers.StatusSucceeded, "", 0},
		{4, providers.StatusSucceeded, "", 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("digit ", tt.digit), func(t *testing.T) {
			ref := fmt.Sprintf("INV-%d-%d", tt.digit, time.Now().UnixNano())
			res, err := c.InitiatePayment(ctx, providers.PaymentRequest{
				Reference: ref, Amount: "1500.00", Currency: "KES", Phone: fmt.Sprintf("25471234567%d", tt.digit),
				CallbackURL: "https://merchant.example/return", NotificationID: reg.IPNID, Email: "jane@example.com",
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != providers.StatusPending || res.ProviderReference == "" || !strings.Contains(res.RedirectURL, res.ProviderReference) {
				t.Fatalf("result %+v", res)
			}
			var order sandbox.Request
			for _, r := range requests(e, "/api/Transactions/SubmitOrderRequest") {
				if strings.Contains(r.Body, ref) {
					order = r
				}
			}
			if !strings.Contains(order.Body, `"amount":1500.00`) || jsonField(t, order.Body, "notification_id") != reg.IPNID {
				t.Fatalf("emulator saw order %s", order.Body)
			}
			st := settle(t, c, providers.PaymentQuery{Reference: ref, ProviderReference: res.ProviderReference})
			if st.Status != tt.want || st.Reference != ref || st.Currency != "KES" || st.Amount == "" {
				t.Fatalf("status %+v", st)
			}
			if tt.message != "" && st.Message != tt.message {
				t.Fatalf("message %q, want %q", st.Message, tt.message)
			}
			if tt.want == providers.StatusSucceeded && st.ConfirmationCode == "" {
				t.Fatal("no confirmation code")
			}
			matching := func() int {
				n := 0
				for _, ntc := range rcv.notices("/pesapal/ipn") {
					ipn, err := pesapal.ParseIPN(ntc.Method, nil, ntc.ContentType, ntc.Body)
					if err == nil && ipn.OrderTrackingID == res.ProviderReference {
						if ipn.OrderMerchantReference != ref || ipn.OrderNotificationType != "IPNCHANGE" {
							t.Fatalf("ipn %+v", ipn)
						}
						n++
					}
				}
				return n
			}
			if tt.ipns > 0 {
				testkit.Eventually(t, "IPNs", func() bool { return matching() >= tt.ipns })
			}
			if got := matching(); got != tt.ipns {
				t.Fatalf("IPNs %d, want %d", got, tt.ipns)
			}
		})
	}

	t.Run("digit 5 is an unknown outcome", func(t *testing.T) {
		_, err := c.InitiatePayment(ctx, providers.PaymentRequest{Reference: "INV-5", Amount: "10", Currency: "KES", Phone: "254712345675",
			CallbackURL: "https://merchant.example/return", NotificationID: reg.IPNID})
		if !providers.IsUnknownOutcome(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("digit 6 times out as an unknown outcome", func(t *testing.T) {
		slow := newPesaPal(t, e, func(o *pesapal.Options) { o.Timeout = 200 * time.Millisecond })
		_, err := slow.InitiatePayment(ctx, providers.PaymentRequest{Reference: "INV-6", Amount: "10", Currency: "KES", Phone: "254712345676",
			CallbackURL: "https://merchant.example/return", NotificationID: reg.IPNID})
		if !providers.IsUnknownOutcome(err) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("duplicate reference is permanent", func(t *testing.T) {
		req := providers.PaymentRequest{Reference: "INV-DUP", Amount: "10", Currency: "KES", Phone: "254712345670",
			CallbackURL: "https://merchant.example/return", NotificationID: reg.IPNID}
		if _, err := c.InitiatePayment(ctx, req); err != nil {
			t.Fatal(err)
		}
		_, err := c.InitiatePayment(ctx, req)
		var pe *providers.Error
		if !providers.IsPermanent(err) || !asError(err, &pe) || pe.Code != "duplicate_order_reference" {
			t.Fatalf("err %v", err)
		}
	})
}

func TestPesaPalRefundCancel(t *testing.T) {
	e := startEmulator(t, sandbox.Settings{}, nil)
	rcv := newReceiver(t)
	c := newPesaPal(t, e)
	ctx := context.Background()
	reg, err := c.RegisterIPN(ctx, rcv.URL("/pesapal/ipn"), "GET")
	if err != nil {
		t.Fatal(err)
	}
	paid, err := c.InitiatePayment(ctx, providers.PaymentRequest{Reference: "PAID-1", Amount: "100.00", Currency: "KES", Phone: "254712345670",
		CallbackURL: "https://merchant.example/return", NotificationID: reg.IPNID})
	if err != nil {
		t.Fatal(err)
	}
	st := settle(t, c, providers.PaymentQuery{ProviderReference: paid.ProviderReference})
	testkit.Eventually(t, "GET IPN", func() bool { return len(rcv.notices("/pesapal/ipn")) > 0 })
	if n := rcv.notices("/pesapal/ipn")[0]; n.Method != "GET" || !strings.Contains(n.Query, "OrderTrackingId=") {
		t.Fatalf("GET IPN %+v", n)
	}
	r, err := c.RefundRequest(ctx, pesapal.RefundRequest{ConfirmationCode: st.ConfirmationCode, Amount: "100.00", Username: "ops", Remarks: "customer asked"})
	if err != nil || r.Status != "200" {
		t.Fatalf("refund %+v %v", r, err)
	}
	if body := requests(e, "/api/Transactions/RefundRequest")[0].Body; !strings.Contains(body, `"amount":100.00`) {
		t.Fatalf("refund body %s", body)
	}
	_, err = c.RefundRequest(ctx, pesapal.RefundRequest{ConfirmationCode: st.ConfirmationCode, Amount: "100.00", Username: "ops", Remarks: "again"})
	if !providers.IsPermanent(err) {
		t.Fatalf("second refund: %v", err)
	}

	failed, err := c.InitiatePayment(ctx, providers.PaymentRequest{Reference: "FAIL-1", Amount: "100.00", Currency: "KES", Phone: "254712345671",
		CallbackURL: "https://merchant.example/return", NotificationID: reg.IPNID})
	if err != nil {
		t.Fatal(err)
	}
	settle(t, c, providers.PaymentQuery{ProviderReference: failed.ProviderReference})
	cr, err := c.CancelOrder(ctx, failed.ProviderReference)
	if err != nil || cr.Status != "200" {
		t.Fatalf("cancel %+v %v", cr, err)
	}
	if _, err := c.CancelOrder(ctx, paid.ProviderReference); !providers.IsPermanent(err) {
		t.Fatalf("cancel of a completed order: %v", err)
	}
	if _, err := c.QueryPayment(ctx, providers.PaymentQuery{ProviderReference: "no-such-order"}); !providers.IsPermanent(err) {
		t.Fatalf("unknown order: %v", err)
	}
}

func TestPesaPalBadCredentials(t *testing.T) {
	e := startEmulator(t, sandbox.Settings{}, nil)
	c := newPesaPal(t, e, func(o *pesapal.Options) { o.ConsumerSecret = secret.New("invalid") })
	_, err := c.GetIPNList(context.Background())
	if !providers.IsAuth(err) || !strings.Contains(err.Error(), `provider "pesapal" "ke"`) {
		t.Fatalf("err %v", err)
	}
	if strings.Contains(err.Error(), "qkio1BGG") {
		t.Fatalf("error leaks the key: %v", err)
	}
}

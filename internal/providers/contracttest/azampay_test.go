package contracttest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/azampay"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/testkit"
)

func newAzamPay(t testing.TB, e *sandbox.Emulator, mut ...func(*azampay.Options)) *azampay.Client {
	t.Helper()
	o := azampay.Options{
		AuthURL:      e.URL() + "/azampay-auth",
		BaseURL:      e.URL() + "/azampay",
		AppName:      "myshop",
		ClientID:     secret.New("client-id-sandbox"),
		ClientSecret: secret.New("client-secret-sandbox"),
		APIKey:       secret.New("api-key-sandbox"),
		Block:        `provider "azampay" "tz"`,
		Timeout:      5 * time.Second,
		HTTPClient:   httpClient(t),
	}
	for _, m := range mut {
		m(&o)
	}
	c, err := azampay.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAzamPayOutcomesAndCallbacks(t *testing.T) {
	rcv := newReceiver(t)
	e := startEmulator(t, sandbox.Settings{AzamPayCallback: rcv.URL("/azampay/callback")}, nil)
	c := newAzamPay(t, e)
	ctx := context.Background()

	pemBytes, key, err := c.FetchPublicKey(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(pemBytes), "BEGIN PUBLIC KEY") {
		t.Fatalf("pem %s", pemBytes)
	}
	// The auth-host fallback path serves the same key.
	alt := newAzamPay(t, e, func(o *azampay.Options) { o.PublicKeyURL = e.URL() + "/azampay-auth/api/Token/PublicKey" })
	if _, key2, err := alt.FetchPublicKey(ctx); err != nil || !key2.Equal(key) {
		t.Fatalf("fallback key: %v", err)
	}
	partners, err := c.PaymentPartners(ctx)
	if err != nil || len(partners) == 0 || partners[0].PartnerName == "" {
		t.Fatalf("partners %+v %v", partners, err)
	}

	tests := []struct {
		digit     int
		phone     string
		mno       string
		want      providers.Status
		message   string
		callbacks int
	}{
		{0, "255712345670", "Tigo", providers.StatusSucceeded, "Transaction successful", 1},
		{1, "0741234561", "Mpesa", providers.StatusFailed, "Insufficient balance", 1},
		{2, "0681234562", "Airtel", providers.StatusFailed, "Cancelled by user", 1},
		{3, "0621234563", "Halopesa", providers.StatusSucceeded, "Transaction successful", 0},
		{4, "0611234564", "Halopesa", providers.StatusSucceeded, "Transaction successful", 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint("digit ", tt.digit), func(t *testing.T) {
			ref := fmt.Sprintf("ORDER-2025-%d", tt.digit)
			res, err := c.InitiatePayment(ctx, providers.PaymentRequest{Reference: ref, Amount: "1000", Currency: "TZS", Phone: tt.phone})
			if err != nil {
				t.Fatal(err)
			}
			var sent sandbox.Request
			for _, r := range requests(e, "/azampay/mno/checkout") {
				if strings.Contains(r.Body, ref) {
					sent = r
				}
			}
			local := "0" + strings.TrimPrefix(tt.phone, "255")
			if strings.HasPrefix(tt.phone, "0") {
				local = tt.phone
			}
			if jsonField(t, sent.Body, "provider") != tt.mno || jsonField(t, sent.Body, "accountNumber") != local || jsonField(t, sent.Body, "amount") != "1000" {
				t.Fatalf("emulator saw %s", sent.Body)
			}
			st := settle(t, c, providers.PaymentQuery{Reference: ref, ProviderReference: res.ProviderReference, MNO: tt.mno})
			if st.Status != tt.want || st.Message != tt.message || st.Reference != ref || st.Amount != "1000" {
				t.Fatalf("status %+v", st)
			}
			matching := func() int {
				n := 0
				for _, ntc := range rcv.notices("/azampay/callback") {
					cb, err := azampay.ParseCallback(ntc.Body)
					if err != nil {
						t.Fatalf("callback: %v", err)
					}
					if err := azampay.VerifyCallback(key, cb); err != nil {
						t.Fatalf("callback signature: %v", err)
					}
					if cb.UtilityRef == ref {
						if azampay.MapStatus(cb.TransactionStatus) != tt.want || cb.Operator != tt.mno {
							t.Fatalf("callback %+v", cb)
						}
						n++
					}
				}
				return n
			}
			if tt.callbacks > 0 {
				testkit.Eventually(t, "callbacks", func() bool { return matching() >= tt.callbacks })
			}
			if got := matching(); got != tt.callbacks {
				t.Fatalf("callbacks %d, want %d", got, tt.callbacks)
			}
		})
	}

	t.Run("tampered callback fails verification", func(t *testing.T) {
		ntcs := rcv.notices("/azampay/callback")
		cb, err := azampay.ParseCallback(ntcs[0].Body)
		if err != nil {
			t.Fatal(err)
		}
		cb.TransactionStatus = "success"
		cb.UtilityRef = "ORDER-FORGED"
		if azampay.VerifyCallback(key, cb) == nil {
			t.Fatal("forged callback verified")
		}
	})
}

func TestAzamPayRejections(t *testing.T) {
	e := startEmulator(t, sandbox.Settings{}, nil)
	ctx := context.Background()
	good := newAzamPay(t, e)
	tests := []struct {
		name   string
		client *azampay.Client
		req    providers.PaymentRequest
		kind   providers.ErrorKind
	}{
		{"bad credentials are 423", newAzamPay(t, e, func(o *azampay.Options) { o.ClientSecret = secret.New("invalid") }), providers.PaymentRequest{Reference: "A1", Amount: "1000", Phone: "0712345670"}, providers.Auth},
		{"bad api key", newAzamPay(t, e, func(o *azampay.Options) { o.APIKey = secret.New("invalid") }), providers.PaymentRequest{Reference: "A2", Amount: "1000", Phone: "0712345670"}, providers.Auth},
		{"500 on initiate", good, providers.PaymentRequest{Reference: "A5", Amount: "1000", Phone: "0712345675"}, providers.UnknownOutcome},
		{"slow answer", newAzamPay(t, e, func(o *azampay.Options) { o.Timeout = 200 * time.Millisecond }), providers.PaymentRequest{Reference: "A6", Amount: "1000", Phone: "0712345676"}, providers.UnknownOutcome},
		{"wrong currency", good, providers.PaymentRequest{Reference: "A7", Amount: "1000", Currency: "KES", Phone: "0712345670"}, providers.Permanent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.client.InitiatePayment(ctx, tt.req)
			if providers.KindOf(err) != tt.kind {
				t.Fatalf("err %v, want %v", err, tt.kind)
			}
			if strings.Contains(err.Error(), "client-secret-sandbox") || strings.Contains(err.Error(), "api-key-sandbox") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
	req := providers.PaymentRequest{Reference: "DUPLICATE-1", Amount: "1000", Phone: "0712345670"}
	if _, err := good.InitiatePayment(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, err := good.InitiatePayment(ctx, req); !providers.IsPermanent(err) {
		t.Fatalf("duplicate externalId: %v", err)
	}
	var pe *providers.Error
	if _, err := good.QueryPayment(ctx, providers.PaymentQuery{ProviderReference: "nope"}); !asError(err, &pe) || pe.Code != "not_found" {
		t.Fatalf("unknown transaction: %v", err)
	}
}

package clickpesa

import (
	"errors"
	"strings"
	"testing"

	"github.com/finconnectd/finconnectd/internal/providers"
)

const receivedSample = `{"event":"PAYMENT RECEIVED","data":{"id":"ORD20240810001LCP2C95","status":"SUCCESS","paymentReference":"a1b2c3d4e5","orderReference":"ORD20240810001","collectedAmount":"1000","collectedCurrency":"TZS","message":"success","channel":"TIGO-PESA","createdAt":"2025-06-01T10:00:00.000Z","updatedAt":"2025-06-01T10:00:42.000Z","customer":{"customerName":"Jane Doe","customerEmail":null,"customerPhoneNumber":"255712345678"}},"checksum":"abc","checksumMethod":"canonical"}`

func TestParseWebhook(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		check   func(t *testing.T, w Webhook)
		wantErr bool
	}{
		{"payment received sample", receivedSample, func(t *testing.T, w Webhook) {
			want := WebhookData{ID: "ORD20240810001LCP2C95", Status: "SUCCESS", PaymentReference: "a1b2c3d4e5", OrderReference: "ORD20240810001",
				CollectedAmount: "1000", CollectedCurrency: "TZS", Message: "success", Channel: "TIGO-PESA",
				CreatedAt: "2025-06-01T10:00:00.000Z", UpdatedAt: "2025-06-01T10:00:42.000Z",
				Customer: Customer{Name: "Jane Doe", Phone: "255712345678"}}
			if w.Event != "PAYMENT RECEIVED" || w.Data != want || w.Checksum != "abc" || w.ChecksumMethod != "canonical" {
				t.Fatalf("got %+v", w)
			}
			// Raw is what is stored and forwarded: the checksum is not in it.
			if strings.Contains(string(w.Raw), `"checksum"`) || !strings.Contains(string(w.Raw), `"orderReference":"ORD20240810001"`) {
				t.Fatalf("got %+v", w)
			}
		}, false},
		{"failed sample with eventType", `{"eventType":"PAYMENT FAILED","data":{"id":"X","status":"FAILED","orderReference":"ORD1","message":"Insufficient balance","createdAt":"t","updatedAt":"u"}}`, func(t *testing.T, w Webhook) {
			if w.Event != "PAYMENT FAILED" || w.Data.Message != "Insufficient balance" || MapStatus(w.Data.Status) != providers.StatusFailed {
				t.Fatalf("got %+v", w)
			}
		}, false},
		{"numeric amount", `{"event":"PAYMENT RECEIVED","data":{"id":"X","status":"success","orderReference":"O","collectedAmount":1000.50}}`, func(t *testing.T, w Webhook) {
			if w.Data.CollectedAmount != "1000.50" || w.Data.Status != "SUCCESS" {
				t.Fatalf("got %+v", w.Data)
			}
		}, false},
		{"older sample names", `{"event":"PAYMENT RECEIVED","data":{"paymentId":"P1","status":"SUCCESS","orderReference":"O","amount":"500","currency":"TZS","customer":{"name":"N","email":"e@x","phone":"2557"}}}`, func(t *testing.T, w Webhook) {
			if w.Data.ID != "P1" || w.Data.CollectedAmount != "500" || w.Data.CollectedCurrency != "TZS" || w.Data.Customer != (Customer{"N", "e@x", "2557"}) {
				t.Fatalf("got %+v", w.Data)
			}
		}, false},
		{"no event", `{"data":{"id":"X","status":"SUCCESS"}}`, nil, true},
		{"no data", `{"event":"PAYMENT RECEIVED"}`, nil, true},
		{"no status", `{"event":"E","data":{"id":"X"}}`, nil, true},
		{"no ids", `{"event":"E","data":{"status":"SUCCESS"}}`, nil, true},
		{"array", `[]`, nil, true},
		{"object amount", `{"event":"E","data":{"id":"X","status":"S","collectedAmount":{}}}`, nil, true},
		{"garbage", `{"event":`, nil, true},
		{"NUL in orderReference", `{"event":"E","data":{"id":"X","status":"SUCCESS","orderReference":"ORD\u00001"}}`, nil, true},
		{"newline in id", `{"event":"E","data":{"id":"X\nY","status":"SUCCESS","orderReference":"O"}}`, nil, true},
		{"BEL in amount", `{"event":"E","data":{"id":"X","status":"SUCCESS","collectedAmount":"1\u0007"}}`, nil, true},
		{"NUL in message is dropped", `{"event":"E","data":{"id":"X","status":"FAILED","message":"no\u0000 money"}}`, func(t *testing.T, w Webhook) {
			if w.Data.Message != "no money" {
				t.Fatalf("message %q", w.Data.Message)
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := ParseWebhook([]byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidWebhook) {
					t.Fatalf("err = %v, want ErrInvalidWebhook", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, w)
		})
	}
}

func TestMapStatus(t *testing.T) {
	tests := map[string]providers.Status{
		"SUCCESS": providers.StatusSucceeded, "settled": providers.StatusSucceeded,
		"FAILED": providers.StatusFailed, "REFUNDED": providers.StatusReversed, "REVERSED": providers.StatusReversed,
		"PROCESSING": providers.StatusPending, "PENDING": providers.StatusPending, "ON-HOLD": providers.StatusPending, "": providers.StatusPending,
	}
	for in, want := range tests {
		if got := MapStatus(in); got != want {
			t.Errorf("MapStatus(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(receivedSample))
	f.Add([]byte(`{"eventType":"PAYMENT FAILED","data":{"id":"X","status":"FAILED","orderReference":"ORD1"}}`))
	f.Add([]byte(`{"event":"E","data":{"id":"X","status":"S","collectedAmount":1e400}}`))
	f.Add([]byte(`{"event":"E","data":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := ParseWebhook(body)
		if err == nil && (w.Event == "" || w.Data.Status == "") {
			t.Fatal("accepted a webhook without event or status")
		}
		if err == nil && strings.Contains(w.Data.OrderReference+w.Data.ID+w.Data.Message, "\x00") {
			t.Fatalf("accepted a NUL: %+v", w.Data)
		}
		// The checksum code must never panic on outside input either.
		_ = VerifyChecksum(body, []byte("k"))
	})
}

// BenchmarkParseWebhook: one payment webhook as ClickPesa sends it.
func BenchmarkParseWebhook(b *testing.B) {
	body := []byte(receivedSample)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseWebhook(body); err != nil {
			b.Fatal(err)
		}
	}
}

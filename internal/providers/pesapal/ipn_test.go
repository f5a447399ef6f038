package pesapal

import (
	"encoding/json"
	"errors"
	"net/url"
	"testing"
)

const guid = "b945e4af-80a5-4ec1-8706-e03f8332fb04"

func TestParseIPN(t *testing.T) {
	want := IPN{OrderTrackingID: guid, OrderMerchantReference: "INV-2025-0001", OrderNotificationType: "IPNCHANGE"}
	q := url.Values{"OrderTrackingId": {guid}, "OrderMerchantReference": {"INV-2025-0001"}, "OrderNotificationType": {"IPNCHANGE"}}
	tests := []struct {
		name        string
		method      string
		query       url.Values
		contentType string
		body        string
		want        IPN
		wantErr     bool
	}{
		{"GET query", "GET", q, "", "", want, false},
		{"POST json", "POST", nil, "application/json", `{"OrderTrackingId":"` + guid + `","OrderNotificationType":"IPNCHANGE","OrderMerchantReference":"INV-2025-0001"}`, want, false},
		{"POST json charset", "POST", nil, "application/json; charset=utf-8", `{"OrderTrackingId":"` + guid + `","OrderNotificationType":"IPNCHANGE","OrderMerchantReference":"INV-2025-0001"}`, want, false},
		{"POST json no content type", "POST", nil, "", ` {"orderTrackingId":"` + guid + `","orderNotificationType":"IPNCHANGE","orderMerchantReference":"INV-2025-0001"}`, want, false},
		{"POST form", "POST", nil, "application/x-www-form-urlencoded", q.Encode(), want, false},
		{"POST json labelled as form", "POST", nil, "application/x-www-form-urlencoded", `{"OrderTrackingId":"` + guid + `","OrderNotificationType":"IPNCHANGE","OrderMerchantReference":"INV-2025-0001"}`, want, false},
		{"POST form without content type", "POST", nil, "", q.Encode(), want, false},
		{"POST empty body uses query", "POST", q, "application/json", "", want, false},
		{"POST json without ids falls back to query", "POST", q, "application/json", `{}`, want, false},
		{"lower-case query keys", "GET", url.Values{"ordertrackingid": {guid}, "ordermerchantreference": {"INV-2025-0001"}, "ordernotificationtype": {"IPNCHANGE"}}, "", "", want, false},
		{"recurring", "GET", url.Values{"OrderTrackingId": {guid}, "OrderMerchantReference": {"ACC-1"}, "OrderNotificationType": {"RECURRING"}}, "", "", IPN{guid, "ACC-1", "RECURRING"}, false},
		{"missing tracking id", "GET", url.Values{"OrderMerchantReference": {"x"}}, "", "", IPN{}, true},
		{"bad json", "POST", nil, "application/json", `{"OrderTrackingId":`, IPN{}, true},
		{"too long", "GET", url.Values{"OrderTrackingId": {string(make([]byte, 300))}}, "", "", IPN{}, true},
		{"control chars", "GET", url.Values{"OrderTrackingId": {"a\nb"}}, "", "", IPN{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseIPN(tt.method, tt.query, tt.contentType, []byte(tt.body))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidIPN) {
					t.Fatalf("err = %v, want ErrInvalidIPN", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestIPNAck(t *testing.T) {
	n := IPN{OrderTrackingID: guid, OrderMerchantReference: "INV-2025-0001", OrderNotificationType: "IPNCHANGE"}
	want := `{"orderNotificationType":"IPNCHANGE","orderTrackingId":"` + guid + `","orderMerchantReference":"INV-2025-0001","status":200}`
	if got := string(n.Ack(200)); got != want {
		t.Fatalf("Ack\n got %s\nwant %s", got, want)
	}
	var m map[string]any
	if err := json.Unmarshal(n.Ack(500), &m); err != nil || m["status"] != float64(500) {
		t.Fatalf("Ack(500) = %v (%v)", m, err)
	}
}

func FuzzParseIPN(f *testing.F) {
	f.Add("GET", "OrderTrackingId="+guid+"&OrderMerchantReference=INV-1&OrderNotificationType=IPNCHANGE", "", "")
	f.Add("POST", "", "application/json", `{"OrderTrackingId":"`+guid+`","OrderNotificationType":"IPNCHANGE","OrderMerchantReference":"INV-2025-0001"}`)
	f.Add("POST", "", "application/x-www-form-urlencoded", "OrderTrackingId=x&OrderMerchantReference=y&OrderNotificationType=IPNCHANGE")
	f.Add("POST", "OrderTrackingId=q", "text/plain", "%zz")
	f.Add("POST", "", "application/json", `{"OrderTrackingId":1}`)
	f.Fuzz(func(t *testing.T, method, rawQuery, contentType, body string) {
		q, _ := url.ParseQuery(rawQuery)
		n, err := ParseIPN(method, q, contentType, []byte(body))
		if err != nil {
			return
		}
		if n.OrderTrackingID == "" {
			t.Fatal("accepted an IPN without tracking id")
		}
		var back map[string]any
		if err := json.Unmarshal(n.Ack(200), &back); err != nil {
			t.Fatalf("Ack is not JSON: %v", err)
		}
		if back["orderTrackingId"] != n.OrderTrackingID {
			t.Fatal("Ack does not echo the tracking id")
		}
	})
}

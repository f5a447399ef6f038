package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/testkit"
)

func cpTokenFor(t testing.TB, e *Emulator) string {
	t.Helper()
	a := call(t, "POST", e.URL()+"/clickpesa/third-parties/generate-token",
		map[string]string{"client-id": "IDsandbox123", "api-key": "SKsandboxsecret"}, nil)
	if a.status != 200 {
		t.Fatalf("generate-token: %d %s", a.status, a.body)
	}
	return str(a.object(t)["token"])
}

func cpPush(t testing.TB, e *Emulator, tok, op string, body any) answer {
	t.Helper()
	return call(t, "POST", e.URL()+"/clickpesa/third-parties/payments/"+op, map[string]string{"Authorization": tok}, body)
}

func cpQueryRef(t testing.TB, e *Emulator, tok, ref string) answer {
	t.Helper()
	return call(t, "GET", e.URL()+"/clickpesa/third-parties/payments/"+ref, map[string]string{"Authorization": tok}, nil)
}

// canonicalHMAC is the test's own reading of ClickPesa's canonical checksum:
// sorted keys at every level, compact, no HTML escaping; for ASCII payloads
// Go's encoder with SetEscapeHTML(false) is exactly JSON.stringify.
func canonicalHMAC(t testing.TB, key string, body []byte) (sum, method string) {
	t.Helper()
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	method, _ = m["checksumMethod"].(string)
	delete(m, "checksum")
	delete(m, "checksumMethod")
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(bytes.TrimRight(buf.Bytes(), "\n"))
	return hex.EncodeToString(mac.Sum(nil)), method
}

func TestClickPesaToken(t *testing.T) {
	clock := testkit.NewManualClock(time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC))
	e := startEmulator(t, Options{Now: clock.Now})
	tests := []struct {
		name    string
		header  map[string]string
		status  int
		message string
	}{
		{"valid", map[string]string{"client-id": "ID1", "api-key": "KEY"}, 200, ""},
		{"missing api-key", map[string]string{"client-id": "ID1"}, 401, "Unauthorized"},
		{"missing both", nil, 401, "Unauthorized"},
		{"invalid client", map[string]string{"client-id": "invalid", "api-key": "KEY"}, 403, "Invalid client details"},
		{"invalid key", map[string]string{"client-id": "ID1", "api-key": "invalid"}, 403, "Invalid client details"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := call(t, "POST", e.URL()+"/clickpesa/third-parties/generate-token", tc.header, nil)
			m := a.object(t)
			if a.status != tc.status {
				t.Fatalf("got %d %s", a.status, a.body)
			}
			if tc.message != "" {
				if m["message"] != tc.message || len(m) != 1 {
					t.Errorf("body %s", a.body)
				}
				return
			}
			if m["success"] != true || !regexp.MustCompile(`^Bearer [\w-]+\.[\w-]+\.[\w-]+$`).MatchString(str(m["token"])) {
				t.Errorf("body %s", a.body)
			}
		})
	}
	tok := cpTokenFor(t, e)
	if a := cpQueryRef(t, e, tok, "NOPE1"); a.status != 404 || a.object(t)["message"] != "Invalid or missing payment: NOPE1" {
		t.Errorf("query unknown: %d %s", a.status, a.body)
	}
	clock.Advance(59 * time.Minute)
	if a := cpQueryRef(t, e, tok, "NOPE1"); a.status != 404 {
		t.Errorf("token before 1h: %d", a.status)
	}
	clock.Advance(time.Minute)
	for _, auth := range []string{tok, "Bearer garbage", ""} {
		if a := cpQueryRef(t, e, auth, "NOPE1"); a.status != 401 || a.object(t)["message"] != "Unauthorized" {
			t.Errorf("auth %q: %d %s", auth, a.status, a.body)
		}
	}
	// Credential headers never reach the request log.
	if log := mustJSON(t, e.Requests()); strings.Contains(log, "SKsandboxsecret") || strings.Contains(log, tok[7:]) {
		t.Error("request log shows a credential")
	}
}

func TestClickPesaValidation(t *testing.T) {
	e := startEmulator(t, Options{Settings: Settings{Delay: Duration(time.Hour)}})
	tok := cpTokenFor(t, e)
	good := func() map[string]any {
		return map[string]any{"amount": "1000", "currency": "TZS", "orderReference": "ORD20240810001", "phoneNumber": "255712345678"}
	}
	tests := []struct {
		name    string
		op      string
		mutate  func(map[string]any)
		status  int
		message string
	}{
		{"reference dash", "initiate-ussd-push-request", func(m map[string]any) { m["orderReference"] = "ORD-1" }, 400,
			"Invalid Order Reference, should only contain alphanumeric characters and cannot be blank"},
		{"reference blank", "preview-ussd-push-request", func(m map[string]any) { m["orderReference"] = "" }, 400,
			"Invalid Order Reference, should only contain alphanumeric characters and cannot be blank"},
		{"amount number", "initiate-ussd-push-request", func(m map[string]any) { m["amount"] = 1000 }, 400,
			"Invalid amount, should be a numeric string greater than 0"},
		{"amount zero", "initiate-ussd-push-request", func(m map[string]any) { m["amount"] = "0" }, 400,
			"Invalid amount, should be a numeric string greater than 0"},
		{"currency", "initiate-ussd-push-request", func(m map[string]any) { m["currency"] = "USD" }, 400,
			"Invalid currency, only TZS is supported"},
		{"phone plus", "initiate-ussd-push-request", func(m map[string]any) { m["phoneNumber"] = "+255712345678" }, 400,
			"Invalid / unsupported phone number"},
		{"phone local", "initiate-ussd-push-request", func(m map[string]any) { m["phoneNumber"] = "0712345678" }, 400,
			"Invalid / unsupported phone number"},
		{"phone missing on initiate", "initiate-ussd-push-request", func(m map[string]any) { delete(m, "phoneNumber") }, 400,
			"Invalid / unsupported phone number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := good()
			tc.mutate(body)
			a := cpPush(t, e, tok, tc.op, body)
			if a.status != tc.status || a.object(t)["message"] != tc.message {
				t.Fatalf("got %d %s", a.status, a.body)
			}
		})
	}

	// Preview without phone is fine; with fetchSenderDetails it names the sender.
	body := good()
	body["fetchSenderDetails"] = true
	a := cpPush(t, e, tok, "preview-ussd-push-request", body)
	var pv struct {
		ActiveMethods []struct {
			Name   string      `json:"name"`
			Status string      `json:"status"`
			Fee    json.Number `json:"fee"`
		} `json:"activeMethods"`
		Sender *struct {
			AccountName, AccountNumber, AccountProvider string
		} `json:"sender"`
	}
	a.decode(t, &pv)
	if a.status != 200 || len(pv.ActiveMethods) == 0 || pv.ActiveMethods[0].Status != "AVAILABLE" ||
		pv.Sender == nil || pv.Sender.AccountNumber != "255712345678" {
		t.Fatalf("preview: %d %s", a.status, a.body)
	}
	if _, err := pv.ActiveMethods[0].Fee.Int64(); err != nil {
		t.Errorf("fee is not an integer: %s", a.body)
	}

	a = cpPush(t, e, tok, "initiate-ussd-push-request", good())
	m := a.object(t)
	if a.status != 200 || m["status"] != "PROCESSING" || m["orderReference"] != "ORD20240810001" ||
		m["collectedAmount"] != "1000" || m["collectedCurrency"] != "TZS" || m["clientId"] != "IDsandbox123" ||
		!strings.HasPrefix(str(m["id"]), "ORD20240810001LCP") || str(m["channel"]) == "" ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(str(m["createdAt"])) {
		t.Fatalf("initiate: %d %s", a.status, a.body)
	}
	for _, op := range []string{"initiate-ussd-push-request", "preview-ussd-push-request"} {
		a = cpPush(t, e, tok, op, good())
		if a.status != 409 || a.object(t)["message"] != "Order reference ORD20240810001 already used: Create a different reference" {
			t.Errorf("%s reuse: %d %s", op, a.status, a.body)
		}
	}
	q := cpQueryRef(t, e, tok, "ORD20240810001")
	var list []map[string]any
	q.decode(t, &list)
	if q.status != 200 || len(list) != 1 || list[0]["status"] != "PROCESSING" || list[0]["collectedAmount"] != json.Number("1000") {
		t.Errorf("query: %d %s", q.status, q.body)
	}
}

// TestClickPesaChecksum sends ClickPesa's known-answer checksum vectors
// as requests: the emulator must accept exactly the documented checksums.
func TestClickPesaChecksum(t *testing.T) {
	e := startEmulator(t, Options{Settings: Settings{ClickPesaChecksumKey: "secret-key", Delay: Duration(time.Hour)}})
	tok := cpTokenFor(t, e)
	const (
		canonicalHex = "7c87a5e58179bacc6883ab775be2e00da6f142a10f6fcca9bb06697d88a5e3d7"
		legacyHex    = "64d0adbf162894f0a70b944571ffb8b4d28d9001cc4931344fa5466f9f5b2d4d"
	)
	tests := []struct {
		name           string
		checksum       string
		method         string // checksumMethod field; "" = absent
		settingsMethod string
		status         int
	}{
		{"canonical", canonicalHex, "", "", 200},
		{"canonical explicit", canonicalHex, "canonical", "", 200},
		{"legacy explicit", legacyHex, "legacy", "", 200},
		{"legacy by setting", legacyHex, "", "legacy", 200},
		{"legacy without saying so", legacyHex, "", "", 400},
		{"wrong", strings.Repeat("0", 64), "", "", 400},
		{"missing", "", "", "", 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.settingsMethod
			if method == "" {
				method = "canonical"
			}
			e.UpdateSettings(func(s *Settings) { s.ClickPesaChecksumMethod = method })
			body := map[string]any{"amount": "1000", "currency": "TZS", "orderReference": "ORD20240810001", "phoneNumber": "255712345678"}
			if tc.checksum != "" {
				body["checksum"] = tc.checksum
			}
			if tc.method != "" {
				body["checksumMethod"] = tc.method
			}
			// preview does not consume the reference, so every case can reuse the vector.
			a := cpPush(t, e, tok, "preview-ussd-push-request", body)
			if a.status != tc.status {
				t.Fatalf("got %d %s", a.status, a.body)
			}
			if tc.status == 400 && a.object(t)["message"] != "Invalid checksum" {
				t.Errorf("body %s", a.body)
			}
		})
	}
	// Turning the checksum off invalidates tokens, as ClickPesa documents.
	e.UpdateSettings(func(s *Settings) { s.ClickPesaChecksumKey = "" })
	if a := cpQueryRef(t, e, tok, "X1"); a.status != 401 {
		t.Errorf("token after checksum toggle: %d", a.status)
	}
}

func TestClickPesaOutcomes(t *testing.T) {
	tests := []struct {
		digit      string
		initiate   int
		wantStatus string
		wantMsg    string
		wantHooks  int
	}{
		{"0", 200, "SUCCESS", "success", 1},
		{"1", 200, "FAILED", "Insufficient balance", 1},
		{"2", 200, "FAILED", "Cancelled by user", 1},
		{"3", 200, "SUCCESS", "success", 0},
		{"4", 200, "SUCCESS", "success", 2},
		{"5", 500, "", "", 0},
		{"6", 200, "SUCCESS", "success", 1},
	}
	for _, method := range []string{"canonical", "legacy", ""} {
		for _, tc := range tests {
			t.Run(method+"/"+tc.digit, func(t *testing.T) {
				t.Parallel()
				s := newSink(t, nil)
				set := Settings{ClickPesaWebhook: s.srv.URL + "/hooks/clickpesa", ClickPesaChecksumMethod: method}
				if method != "" {
					set.ClickPesaChecksumKey = "whk-" + method
				}
				logs := &syncBuffer{}
				e := startEmulator(t, Options{Settings: set, Logger: slogTo(logs)})
				tok := cpTokenFor(t, e)
				ref := "ORD" + tc.digit
				body := map[string]any{"amount": "2500", "currency": "TZS", "orderReference": ref, "phoneNumber": "25571234567" + tc.digit}
				if method != "" {
					sum, _ := canonicalHMAC(t, set.ClickPesaChecksumKey, []byte(mustJSON(t, body)))
					body["checksum"] = sum
					body["checksumMethod"] = "canonical" // whatever the webhook method is
				}
				a := cpPush(t, e, tok, "initiate-ussd-push-request", body)
				if a.status != tc.initiate {
					t.Fatalf("initiate: %d %s", a.status, a.body)
				}
				if tc.initiate == 500 {
					if a.object(t)["message"] != "Error validating fee, try again later" {
						t.Errorf("500 body %s", a.body)
					}
					if q := cpQueryRef(t, e, tok, ref); q.status != 404 {
						t.Errorf("payment exists after 500: %d", q.status)
					}
					return
				}
				id := str(a.object(t)["id"])
				var list []map[string]any
				testkit.Eventually(t, "final status", func() bool {
					cpQueryRef(t, e, tok, ref).decode(t, &list)
					return list[0]["status"] != "PROCESSING"
				})
				if list[0]["status"] != tc.wantStatus || list[0]["message"] != tc.wantMsg || list[0]["id"] != id {
					t.Errorf("query: %v", list[0])
				}
				if got := queued(logs, "webhook "+ref); got != tc.wantHooks {
					t.Errorf("%d webhooks queued, want %d", got, tc.wantHooks)
				}
				testkit.Eventually(t, "webhooks acknowledged", func() bool { return acked(logs, "webhook "+ref) == tc.wantHooks })
				if got := s.count(); got != tc.wantHooks {
					t.Errorf("sink got %d, want %d", got, tc.wantHooks)
				}
				for _, r := range s.all() {
					var hook struct {
						Event          string         `json:"event"`
						Data           map[string]any `json:"data"`
						Checksum       string         `json:"checksum"`
						ChecksumMethod string         `json:"checksumMethod"`
					}
					if err := json.Unmarshal(r.body, &hook); err != nil {
						t.Fatalf("webhook %q: %v", r.body, err)
					}
					wantEvent := map[string]string{"SUCCESS": "PAYMENT RECEIVED", "FAILED": "PAYMENT FAILED"}[tc.wantStatus]
					if r.method != "POST" || hook.Event != wantEvent || hook.Data["status"] != tc.wantStatus ||
						hook.Data["orderReference"] != ref || hook.Data["id"] != id || hook.Data["message"] != tc.wantMsg {
						t.Errorf("webhook %s", r.body)
					}
					if tc.wantStatus == "SUCCESS" && (hook.Data["collectedAmount"] != "2500" || hook.Data["collectedCurrency"] != "TZS" ||
						str(hook.Data["paymentReference"]) == "") {
						t.Errorf("PAYMENT RECEIVED data %s", r.body)
					}
					switch method {
					case "":
						if hook.Checksum != "" || hook.ChecksumMethod != "" {
							t.Errorf("checksum without a key: %s", r.body)
						}
					case "canonical":
						want, m := canonicalHMAC(t, set.ClickPesaChecksumKey, r.body)
						if hook.Checksum != want || m != "canonical" {
							t.Errorf("webhook checksum %q (%s), want %q", hook.Checksum, m, want)
						}
					case "legacy":
						// legacy: top-level values in key order (data, event),
						// nested objects in canonical JSON.
						var buf bytes.Buffer
						enc := json.NewEncoder(&buf)
						enc.SetEscapeHTML(false)
						_ = enc.Encode(hook.Data)
						mac := hmac.New(sha256.New, []byte(set.ClickPesaChecksumKey))
						mac.Write(append(bytes.TrimRight(buf.Bytes(), "\n"), hook.Event...))
						if want := hex.EncodeToString(mac.Sum(nil)); hook.ChecksumMethod != "legacy" || hook.Checksum != want {
							t.Errorf("legacy webhook checksum %q, want %q: %s", hook.Checksum, want, r.body)
						}
					}
				}
			})
		}
	}
}

func TestClickPesaWebhookRetry(t *testing.T) {
	s := newSink(t, func(n int, _ received) (int, string) {
		if n < 2 {
			return http.StatusServiceUnavailable, ""
		}
		return http.StatusNoContent, ""
	})
	logs := &syncBuffer{}
	e := startEmulator(t, Options{Settings: Settings{ClickPesaWebhook: s.srv.URL}, Logger: slogTo(logs)})
	tok := cpTokenFor(t, e)
	cpPush(t, e, tok, "initiate-ussd-push-request", map[string]any{"amount": "100", "currency": "TZS", "orderReference": "R1", "phoneNumber": "255712345670"})
	testkit.Eventually(t, "acknowledged", func() bool { return strings.Contains(logs.String(), "sandbox notification acknowledged") })
	if got := s.count(); got != 3 {
		t.Errorf("tries = %d, want 3", got)
	}
}

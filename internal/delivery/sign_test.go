package delivery

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks reference vector.
const (
	vecSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTS     = 1614265330
	vecBody   = `{"test": 2432232314}`
	vecSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func vecKey(t testing.TB) []byte {
	t.Helper()
	key, err := DecodeSecret(vecSecret)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func TestSignVector(t *testing.T) {
	t.Parallel()
	if got := Sign(vecKey(t), vecID, time.Unix(vecTS, 0), []byte(vecBody)); got != vecSig {
		t.Fatalf("Sign = %s, want %s", got, vecSig)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	key := vecKey(t)
	ts := strconv.Itoa(vecTS)
	now := time.Unix(vecTS, 0)
	body := []byte(vecBody)
	cases := []struct {
		name    string
		id, ts  string
		sig     string
		body    []byte
		now     time.Time
		tol     time.Duration
		wantErr error
	}{
		{"vector", vecID, ts, vecSig, body, now, 0, nil},
		{"several, last valid", vecID, ts, "v1,Zm9v v2,abc " + vecSig, body, now, 0, nil},
		{"several, first valid", vecID, ts, vecSig + " v1,Zm9v", body, now, 0, nil},
		{"other version only", vecID, ts, "v1a," + strings.TrimPrefix(vecSig, "v1,"), body, now, 0, ErrNoMatchingSig},
		{"tampered body", vecID, ts, vecSig, []byte(`{"test": 2432232315}`), now, 0, ErrNoMatchingSig},
		{"other id", "msg_other", ts, vecSig, body, now, 0, ErrNoMatchingSig},
		{"garbage base64", vecID, ts, "v1,!!!", body, now, 0, ErrNoMatchingSig},
		{"no comma", vecID, ts, "v1" + strings.TrimPrefix(vecSig, "v1,"), body, now, 0, ErrNoMatchingSig},
		{"missing id", "", ts, vecSig, body, now, 0, ErrMissingHeader},
		{"missing timestamp", vecID, "", vecSig, body, now, 0, ErrMissingHeader},
		{"missing signature", vecID, ts, "", body, now, 0, ErrMissingHeader},
		{"timestamp not a number", vecID, "16142653x0", vecSig, body, now, 0, ErrBadTimestamp},
		{"timestamp signed", vecID, "+" + ts, vecSig, body, now, 0, ErrBadTimestamp},
		{"timestamp huge", vecID, "99999999999999999999999", vecSig, body, now, 0, ErrBadTimestamp},
		{"too old", vecID, ts, vecSig, body, now.Add(5*time.Minute + time.Second), 0, ErrTimestampTooOld},
		{"old but within tolerance", vecID, ts, vecSig, body, now.Add(5 * time.Minute), 0, nil},
		{"too new", vecID, ts, vecSig, body, now.Add(-5*time.Minute - time.Second), 0, ErrTimestampTooNew},
		{"custom tolerance", vecID, ts, vecSig, body, now.Add(time.Hour), 2 * time.Hour, nil},
		{"custom tolerance exceeded", vecID, ts, vecSig, body, now.Add(time.Hour), time.Minute, ErrTimestampTooOld},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := Verify(key, c.id, c.ts, c.sig, c.body, c.now, c.tol)
			if c.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("Verify err = %v, want %v", err, c.wantErr)
			}
			if strings.Contains(err.Error(), vecSecret[6:]) {
				t.Fatalf("error holds the secret: %v", err)
			}
		})
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"type":"payment.succeeded"}`)
	sig := Sign(key, "evt_1", now, body)
	if err := Verify(key, "evt_1", strconv.FormatInt(now.Unix(), 10), sig, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := Verify([]byte("other"), "evt_1", strconv.FormatInt(now.Unix(), 10), sig, body, now, time.Minute); !errors.Is(err, ErrNoMatchingSig) {
		t.Fatalf("wrong key: %v", err)
	}
}

func TestDecodeSecret(t *testing.T) {
	t.Parallel()
	want := string(vecKey(t))
	cases := []struct {
		in      string
		ok      bool
		wantKey string
	}{
		{vecSecret, true, want},
		{strings.TrimPrefix(vecSecret, "whsec_"), true, want},
		{"  " + vecSecret + "\n", true, want},
		{"whsec_dGVzdA", true, "test"},   // unpadded
		{"whsec_dGVzdA==", true, "test"}, // padded
		{"whsec_", false, ""},
		{"", false, ""},
		{"whsec_not base64!", false, ""},
		{"whsec_====", false, ""},
	}
	for _, c := range cases {
		key, err := DecodeSecret(c.in)
		if (err == nil) != c.ok {
			t.Errorf("DecodeSecret(%q) err = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrSecretNotDecoded) {
				t.Errorf("DecodeSecret(%q) err = %v, want ErrSecretNotDecoded", c.in, err)
			}
			if len(c.in) > 8 && strings.Contains(err.Error(), strings.TrimSpace(strings.TrimPrefix(c.in, "whsec_"))) {
				t.Errorf("error repeats the secret: %v", err)
			}
			continue
		}
		if string(key) != c.wantKey {
			t.Errorf("DecodeSecret(%q) = %q, want %q", c.in, key, c.wantKey)
		}
	}
}

// signRaw signs over the timestamp text exactly as sent (leading zeros and all).
func signRaw(key []byte, id, ts string, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(key, id, ts, body))
}

func FuzzVerify(f *testing.F) {
	f.Add(vecID, strconv.Itoa(vecTS), vecSig, []byte(vecBody))
	f.Add("", "", "", []byte(nil))
	f.Add(vecID, "-1", "v1,", []byte("{}"))
	f.Add(vecID, "99999999999999999", "v1,a v1,b v2,c", []byte("x"))
	f.Add(vecID, strconv.Itoa(vecTS), "v1,"+strings.Repeat("A", 1000), []byte(vecBody))
	key := []byte("fuzz-key-0123456789")
	now := time.Unix(vecTS, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		err := Verify(key, id, ts, sig, body, now, time.Hour)
		if err == nil {
			// Only a real signature verifies.
			if _, perr := strconv.ParseInt(ts, 10, 64); perr != nil {
				t.Fatalf("accepted unparsable timestamp %q", ts)
			}
			if !strings.Contains(sig, signRaw(key, id, ts, body)) {
				t.Fatalf("accepted a signature that is not ours: %q", sig)
			}
		}
		// A correct signature always verifies, whatever else is in the header.
		if id != "" && ts != "" {
			if sec, perr := parseUnix(ts); perr == nil && sec > vecTS-3600 && sec < vecTS+3600 {
				good := signRaw(key, id, ts, body)
				if err := Verify(key, id, ts, sig+" "+good, body, now, time.Hour); err != nil {
					t.Fatalf("valid signature rejected: %v", err)
				}
			}
		}
	})
}

package delivery

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock, either way, when Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// secretPrefix starts a Standard Webhooks secret.
const secretPrefix = "whsec_"

// Errors Verify returns (wrapped with detail; use errors.Is).
var (
	ErrMissingHeader    = errors.New("missing webhook header")
	ErrBadTimestamp     = errors.New("webhook-timestamp is not a unix time in seconds")
	ErrTimestampTooOld  = errors.New("webhook-timestamp is too old")
	ErrTimestampTooNew  = errors.New("webhook-timestamp is too far in the future")
	ErrNoMatchingSig    = errors.New("no v1 signature matches")
	ErrSecretNotDecoded = errors.New("webhook secret is not whsec_ + base64")
)

// Sign returns the webhook-signature header value for a message:
// "v1," + base64(HMAC-SHA256(secret, msgID + "." + unix seconds + "." + body)).
// secret is the decoded key (see DecodeSecret).
func Sign(secret []byte, msgID string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, msgID, strconv.FormatInt(ts.Unix(), 10), body))
}

func mac(secret []byte, msgID, ts string, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(msgID))
	h.Write([]byte{'.'})
	h.Write([]byte(ts))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received webhook: msgID, ts and sigHeader are the
// webhook-id, webhook-timestamp and webhook-signature headers as received.
// The timestamp must be within tolerance of now, either way (tolerance <= 0
// means DefaultTolerance); one of the space-separated "v1,BASE64" entries
// of sigHeader must match (compared in constant time; other versions are
// skipped). The error says which check failed and never holds the secret.
func Verify(secret []byte, msgID, ts, sigHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	var missing []string
	if msgID == "" {
		missing = append(missing, "webhook-id")
	}
	if ts == "" {
		missing = append(missing, "webhook-timestamp")
	}
	if sigHeader == "" {
		missing = append(missing, "webhook-signature")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingHeader, strings.Join(missing, ", "))
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	sec, err := parseUnix(ts)
	if err != nil {
		return err
	}
	// Compare in seconds so that extreme values cannot overflow a Duration.
	skew := now.Unix() - sec
	tol := int64(tolerance / time.Second)
	switch {
	case skew > tol:
		return fmt.Errorf("%w: %ds older than now, tolerance %s", ErrTimestampTooOld, skew, tolerance)
	case skew < -tol:
		return fmt.Errorf("%w: %ds ahead of now, tolerance %s", ErrTimestampTooNew, -skew, tolerance)
	}
	want := mac(secret, msgID, ts, body)
	for _, part := range strings.Fields(sigHeader) {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrNoMatchingSig
}

// parseUnix accepts decimal digits only (no sign, no fraction).
func parseUnix(ts string) (int64, error) {
	if len(ts) > 18 {
		return 0, fmt.Errorf("%w: %d characters", ErrBadTimestamp, len(ts))
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return 0, fmt.Errorf("%w: %q", ErrBadTimestamp, ts)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", ErrBadTimestamp, ts)
	}
	return sec, nil
}

// DecodeSecret turns a Standard Webhooks secret, "whsec_" + base64, into
// the HMAC key. Plain base64 without the prefix is accepted too, padded or
// not. The error never repeats the secret.
func DecodeSecret(s string) ([]byte, error) {
	b64 := strings.TrimPrefix(strings.TrimSpace(s), secretPrefix)
	if b64 == "" {
		return nil, fmt.Errorf("%w: it is empty", ErrSecretNotDecoded)
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(b64)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: the part after %s is not base64", ErrSecretNotDecoded, secretPrefix)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: the key is empty", ErrSecretNotDecoded)
	}
	return key, nil
}

package delivery

import (
	"net/http"
	"testing"
	"time"
)

// FuzzRetryAfter: whatever an operator's endpoint sends as Retry-After,
// parsing never panics and an accepted value is bounded: never sooner than
// the schedule's first step, never later than a day.
func FuzzRetryAfter(f *testing.F) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, s := range []string{"", "0", "30", " 30 ", "-1", "86401", "1e9", "99999999999999999999",
		now.Add(time.Hour).Format(http.TimeFormat), "Mon, 02 Jan 2006 15:04:05 GMT", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		d, ok := retryAfter(h, now)
		if !ok {
			return
		}
		if d < 5*time.Second || d > 24*time.Hour {
			t.Fatalf("retryAfter(%q) = %s, outside [5s, 24h]", h, d)
		}
	})
}

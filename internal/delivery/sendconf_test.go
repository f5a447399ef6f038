package delivery

import (
	"testing"
	"time"
)

// TestSendConf: deliveries go out with the route's latest settings, but a
// POST never outlives the lease it was claimed under, whatever it waited.
func TestSendConf(t *testing.T) {
	t.Parallel()
	cur := &routeConf{url: "http://new", timeout: 10 * time.Second, lease: 2 * time.Minute}
	for _, tt := range []struct {
		name        string
		timeout     time.Duration
		left        time.Duration
		wantTimeout time.Duration
	}{
		{"within the lease", 10 * time.Second, 2 * time.Minute, 10 * time.Second},
		{"exactly within", 90 * time.Second, 2 * time.Minute, 90 * time.Second},
		{"timeout past the lease", 10 * time.Minute, 2 * time.Minute, 2*time.Minute - leaseMargin},
		{"lease run down while waiting", 10 * time.Second, 35 * time.Second, 5 * time.Second},
		{"lease nearly gone", 10 * time.Second, leaseMargin, time.Second},
	} {
		c := *cur
		c.timeout = tt.timeout
		got := sendConf(&c, tt.left)
		if got.url != cur.url || got.timeout != tt.wantTimeout {
			t.Errorf("%s: url %s timeout %s; want %s, %s", tt.name, got.url, got.timeout, cur.url, tt.wantTimeout)
		}
		if tt.left > leaseMargin+time.Second && got.timeout+leaseMargin > tt.left {
			t.Errorf("%s: timeout %s outlives the lease (%s left)", tt.name, got.timeout, tt.left)
		}
		if c.timeout != tt.timeout {
			t.Errorf("%s: the route's own settings changed", tt.name)
		}
	}
}

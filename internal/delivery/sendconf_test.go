package delivery

import (
	"testing"
	"time"
)

// TestSendConf: deliveries go out with the route's latest settings, but a
// POST never outlives the lease it was claimed under.
func TestSendConf(t *testing.T) {
	t.Parallel()
	claimed := &routeConf{url: "http://old", timeout: 10 * time.Second, lease: 2 * time.Minute}
	for _, tt := range []struct {
		name        string
		cur         *routeConf
		wantURL     string
		wantTimeout time.Duration
	}{
		{"unchanged", claimed, "http://old", 10 * time.Second},
		{"new forward", &routeConf{url: "http://new", timeout: 5 * time.Second, lease: 2 * time.Minute}, "http://new", 5 * time.Second},
		{"longer timeout within the lease", &routeConf{url: "http://new", timeout: 90 * time.Second, lease: 2 * time.Minute}, "http://new", 90 * time.Second},
		{"timeout past the lease", &routeConf{url: "http://new", timeout: 10 * time.Minute, lease: 10*time.Minute + leaseMargin}, "http://new", 2*time.Minute - leaseMargin},
	} {
		got := sendConf(claimed, tt.cur)
		if got.url != tt.wantURL || got.timeout != tt.wantTimeout || got.timeout+leaseMargin > claimed.lease {
			t.Errorf("%s: url %s timeout %s; want %s, %s (lease %s)", tt.name, got.url, got.timeout, tt.wantURL, tt.wantTimeout, claimed.lease)
		}
	}
}

package reconcile

import (
	"encoding/json"
	"testing"

	"github.com/finconnectd/finconnectd/internal/providers/pesapal"
)

func TestFromRegistration(t *testing.T) {
	tests := []struct {
		name   string
		reg    pesapal.IPNRegistration
		active bool
	}{
		{"active", pesapal.IPNRegistration{IPNID: "a", IPNStatus: 1, Raw: json.RawMessage(`{"ipn_status":1}`)}, true},
		{"inactive", pesapal.IPNRegistration{IPNID: "a", IPNStatus: 0, Raw: json.RawMessage(`{"ipn_status":0}`)}, false},
		{"status not listed", pesapal.IPNRegistration{IPNID: "a", Raw: json.RawMessage(`{"url":"https://x","ipn_id":"a"}`)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fromRegistration(tt.reg).Active; got != tt.active {
				t.Errorf("Active = %v, want %v", got, tt.active)
			}
		})
	}
}

package payments

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/finconnectd/finconnectd/internal/sandbox"
)

func TestMetrics(t *testing.T) {
	t.Parallel()
	h := newHarness(t, harnessOptions{settings: sandbox.Settings{Delay: sandbox.Duration(3600e9)}})
	reg := prometheus.NewRegistry()
	for range 2 { // a second Service (reload) shares the registered collectors
		svc, err := New(Options{Store: h.store, Runtime: h.svc.runtime, Settler: h.svc.settler, Registerer: reg})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		h.svc.m = svc.m
	}
	if r := h.pay("", paymentBody("clickpesa.tz", "METRIC1", phoneFor("clickpesa.tz", 0))); r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := testutil.ToFloat64(h.svc.m.initiations.WithLabelValues("clickpesa.tz", "pending")); got != 1 {
		t.Errorf("initiations = %v", got)
	}
	if n := testutil.CollectAndCount(reg, "finconnectd_pay_api_request_duration_seconds"); n != 1 {
		t.Errorf("duration series = %d", n)
	}
}

package reconcile

import (
	"context"
	"fmt"
	"io"
	"testing"

	"github.com/finconnectd/finconnectd/internal/config"
)

// BenchmarkPlan1000IPNs plans 1,000 ipn blocks against the emulator: fresh
// (1,000 creates) and converged (state applied, no changes). It reports the
// provider calls per plan, which must be one GetIpnList and one token.
func BenchmarkPlan1000IPNs(b *testing.B) {
	for _, converged := range []bool{false, true} {
		b.Run(fmt.Sprintf("converged=%v", converged), func(b *testing.B) {
			e := newEnv(b)
			ipns := make([]*config.IPN, 0, 1000)
			for i := range 1000 {
				ipns = append(ipns, ipn(fmt.Sprintf("ipn%04d", i), fmt.Sprintf("https://pay.example.com/hooks/%04d", i)))
			}
			cfg := e.cfg(b, false, ipns...)
			if converged {
				e.apply(b, cfg)
			}
			listBefore, tokBefore := countCalls(e.emu, "/GetIpnList"), countCalls(e.emu, "/RequestToken")
			b.ResetTimer()
			for range b.N {
				// A fresh remote per plan: every plan pays for its own token,
				// as a CLI run does.
				e.remote = newClientRemote(b, cfg)
				p, err := MakePlan(context.Background(), cfg, e.st, e.remote, PlanOptions{Refresh: true, Now: e.clock})
				if err != nil {
					b.Fatal(err)
				}
				if err := Render(io.Discard, p); err != nil {
					b.Fatal(err)
				}
				if want := map[bool]int{false: 1000, true: 0}[converged]; len(p.Changes) != want {
					b.Fatalf("changes = %d, want %d", len(p.Changes), want)
				}
			}
			b.StopTimer()
			lists := countCalls(e.emu, "/GetIpnList") - listBefore
			toks := countCalls(e.emu, "/RequestToken") - tokBefore
			b.ReportMetric(float64(lists)/float64(b.N), "GetIpnList/op")
			b.ReportMetric(float64(toks)/float64(b.N), "tokens/op")
			if lists != b.N || toks != b.N {
				b.Errorf("provider calls: %d GetIpnList and %d tokens for %d plans; want one each per plan", lists, toks, b.N)
			}
		})
	}
}

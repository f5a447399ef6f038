package loadbench

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Report is everything one run measured.
type Report struct {
	Quick    bool
	Started  time.Time
	Pay      PayReport
	Ingest   IngestReport
	Delivery DeliveryReport
}

// Goals are the performance targets, as ratios against the baselines of
// the same run.
const (
	goalIngestVsGroup     = 0.50 // highest good ingest rate vs the group-commit receiver
	goalDrainVsForwarder  = 0.90 // drain rate vs the minimal forwarder
	goalPayOverheadP50    = time.Millisecond
	goalPayOverheadP99    = 3 * time.Millisecond
	goalPay32VsDirect     = 0.90
	goalPay32VsPerPayment = 1.9
	goalAckToDeliveredP99 = time.Second
)

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func us(d time.Duration) string { return fmt.Sprintf("%d µs", d.Microseconds()) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// Print writes the report as a table with the ratios and goals.
func (r Report) Print(w io.Writer) {
	if r.Quick {
		fmt.Fprintln(w, "(-quick: short steps; these figures check the tool, they do not measure much)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "what\tfinconnectd\tbaseline\tratio\tgoal")
	if in := r.Ingest; len(in.Steps) > 0 {
		best, group := in.Best[targetDaemon], in.Best[targetGroup]
		rt := ratio(best, group)
		fmt.Fprintf(tw, "ingest: highest rate with p99 <= 50 ms\t%.0f/s\tgroup commit %.0f/s; per-request commit %.0f/s\t%.2f\t>= %.2f: %s\n",
			best, group, in.Best[targetReceiver], rt, goalIngestVsGroup, verdict(rt >= goalIngestVsGroup))
		fmt.Fprintf(tw, "ingest: ack -> delivered at %.0f/s\tp50 %s, p99 %s (%d undelivered)\t\t\tp99 < 1 s: %s\n",
			in.AckRate, ms(in.AckToDeliveredP50), ms(in.AckToDeliveredP99), in.Undelivered,
			verdict(in.AckToDeliveredP99 > 0 && in.AckToDeliveredP99 < goalAckToDeliveredP99 && in.Undelivered == 0))
		if o := in.Overload; o != nil {
			fmt.Fprintf(tw, "ingest: overload at %.0f/s\tp99 %s, %d ok, %d answered 503, %d errors\t\t\tfast 503, bounded memory\n",
				o.Offered, ms(o.P99), o.OK, o.Rejected, o.Errors)
		}
		fmt.Fprintf(tw, "ingest: daemon memory\tpeak %d MB, at the end %d MB\t\t\t\n", in.PeakRSS>>20, in.EndRSS>>20)
		if d, g := in.Steps[targetDaemon], in.Steps[targetGroup]; len(d) > 0 && len(g) > 0 && d[0].CPU > 0 && g[0].CPU > 0 {
			fmt.Fprintf(tw, "ingest: CPU per webhook at %.0f/s (with its delivery)\t%s\tgroup commit %s\t%.2f\t\n",
				d[0].Offered, us(d[0].CPU), us(g[0].CPU), float64(d[0].CPU)/float64(g[0].CPU))
		}
	}
	if d := r.Delivery; d.Queued > 0 {
		rt := ratio(d.Daemon, d.Forwarder)
		fmt.Fprintf(tw, "delivery: drain of %d queued events\t%.0f/s (%d missing)\tforwarder %.0f/s\t%.2f\t>= %.2f: %s\n",
			d.Queued, d.Daemon, d.Missing, d.Forwarder, rt, goalDrainVsForwarder, verdict(rt >= goalDrainVsForwarder && d.Missing == 0))
		if d.DaemonCPU > 0 && d.ForwarderCPU > 0 {
			fmt.Fprintf(tw, "delivery: CPU per event	%s	forwarder %s	%.2f	\n", us(d.DaemonCPU), us(d.ForwarderCPU), float64(d.DaemonCPU)/float64(d.ForwarderCPU))
		}
	}
	if p := r.Pay; p.Direct > 0 {
		fmt.Fprintf(tw, "pay API, one client, provider at 50 ms\tp50 %s, p99 %s\tdirect p50 %s, p99 %s\toverhead p50 %s, p99 %s\t<= 1 ms / 3 ms: %s\n",
			ms(p.SerialDaemonP50), ms(p.SerialDaemonP99), ms(p.SerialDirectP50), ms(p.SerialDirectP99), ms(p.OverheadP50), ms(p.OverheadP99),
			verdict(p.OverheadP50 <= goalPayOverheadP50 && p.OverheadP99 <= goalPayOverheadP99))
		fmt.Fprintf(tw, "pay API, one client, vs a direct call between two commits\tp50 %s, p99 %s\tcommits + direct p50 %s, p99 %s\toverhead p50 %s, p99 %s\t\n",
			ms(p.SerialDaemonP50), ms(p.SerialDaemonP99), ms(p.SerialDurableP50), ms(p.SerialDurableP99), ms(p.DurableOverheadP50), ms(p.DurableOverheadP99))
		rd, ri, rs := ratio(p.Daemon, p.Direct), ratio(p.DaemonIdempotent, p.Direct), ratio(p.Daemon, p.TokenPerPayment)
		fmt.Fprintf(tw, "pay API, 32 clients\t%.0f/s\tdirect %.0f/s\t%.2f\t>= %.2f: %s\n", p.Daemon, p.Direct, rd, goalPay32VsDirect, verdict(rd >= goalPay32VsDirect))
		fmt.Fprintf(tw, "pay API, 32 clients, Idempotency-Key\t%.0f/s\tdirect %.0f/s\t%.2f\t>= %.2f: %s\n", p.DaemonIdempotent, p.Direct, ri, goalPay32VsDirect, verdict(ri >= goalPay32VsDirect))
		if p.DurableDirect > 0 {
			fmt.Fprintf(tw, "pay API, 32 clients, vs a direct call between two commits\t%.0f/s (with key %.0f/s)\tcommits + direct %.0f/s\t%.2f (%.2f)\t\n",
				p.Daemon, p.DaemonIdempotent, p.DurableDirect, ratio(p.Daemon, p.DurableDirect), ratio(p.DaemonIdempotent, p.DurableDirect))
		}
		fmt.Fprintf(tw, "pay API: daemon CPU per payment, 32 clients\t%s\twith Idempotency-Key %s\t\t\n", us(p.DaemonCPU), us(p.DaemonIdempotentCPU))
		if p.WritesPerCommit > 0 {
			fmt.Fprintf(tw, "pay API: store commits, 32 clients\tp50 %s, p99 %s, %.1f writes each\tcommits + direct p50 %s, p99 %s, %.1f writes each\t\t\n",
				ms(p.CommitP50), ms(p.CommitP99), p.WritesPerCommit, ms(p.DurableCommitP50), ms(p.DurableCommitP99), p.DurableWritesPerCommit)
		}
		fmt.Fprintf(tw, "pay API, 32 clients, vs a token per payment\t%.0f/s\ttoken per payment %.0f/s\t%.2f\t>= %.1f: %s\n", p.Daemon, p.TokenPerPayment, rs, goalPay32VsPerPayment, verdict(rs >= goalPay32VsPerPayment))
	}
	_ = tw.Flush()
	if in := r.Ingest; len(in.Steps) > 0 {
		fmt.Fprintln(w, "\ningest steps (offered/s, \"again\" for a second try after a miss: p50, p99, ok/sent, 503, errors, CPU per webhook; finconnectd's store commits: p50, p99, writes per commit):")
		for _, t := range []string{targetDaemon, targetReceiver, targetGroup} {
			fmt.Fprintf(w, "  %s:", t)
			for _, s := range in.Steps[t] {
				again := ""
				if s.Again {
					again = " again"
				}
				commits := ""
				if s.WritesPerCommit > 0 {
					commits = fmt.Sprintf("; %s, %s, %.1f", ms(s.CommitP50), ms(s.CommitP99), s.WritesPerCommit)
				}
				fmt.Fprintf(w, " [%.0f%s: %s, %s, %d/%d, %d, %d, %s%s]", s.Offered, again, ms(s.P50), ms(s.P99), s.OK, s.Sent, s.Rejected, s.Errors, us(s.CPU), commits)
			}
			fmt.Fprintln(w)
		}
	}
}

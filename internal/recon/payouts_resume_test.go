package recon_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/config"
	"github.com/finconnectd/finconnectd/internal/payouts"
	"github.com/finconnectd/finconnectd/internal/providers"
	"github.com/finconnectd/finconnectd/internal/providers/clickpesa"
	"github.com/finconnectd/finconnectd/internal/recon"
	"github.com/finconnectd/finconnectd/internal/sandbox"
	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/settle"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/teststore"
)

// TestPayoutsResume: a run stopped in the middle of ClickPesa's list of
// payouts is resumed by the next run over the window from its checkpoint
// (the pages before it are not read again), finds each payout difference
// once and heals what the list proves; a run over the window afterwards
// finds nothing new.
func TestPayoutsResume(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	emu, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Stop(context.Background()) })
	from := time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC)
	to := from.Add(24 * time.Hour)
	st := teststore.New(t)
	// Ten payouts at ClickPesa, SUCCESS; we hold the first nine, the
	// first pending (its webhook lost); we hold one more it never had.
	for i := 1; i <= 10; i++ {
		at := from.Add(time.Duration(i) * time.Hour)
		ref := fmt.Sprintf("RES%d", i)
		if _, err := emu.Diverge(sandbox.Divergence{Kind: "payout_foreign", Reference: ref, Amount: "1000", At: at}); err != nil {
			t.Fatal(err)
		}
		if i == 10 {
			continue
		}
		status := state.PayoutSucceeded
		if i == 1 {
			status = state.PayoutPending
		}
		p := state.Payout{ID: fmt.Sprintf("po_res%02d", i), Provider: "clickpesa.tz", Reference: ref, Status: status, Amount: "1000",
			Currency: "TZS", DestinationType: state.DestinationMobileMoney, Phone: "255712345670", CreatedAt: at}
		if err := st.CreatePayout(ctx, p, state.PayoutLimit{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreatePayout(ctx, state.Payout{ID: "po_gone", Provider: "clickpesa.tz", Reference: "GONE1", Status: state.PayoutSucceeded,
		Amount: "500", Currency: "TZS", DestinationType: state.DestinationMobileMoney, Phone: "255712345670", CreatedAt: from.Add(30 * time.Minute)},
		state.PayoutLimit{}); err != nil {
		t.Fatal(err)
	}
	cp, err := clickpesa.New(clickpesa.Options{BaseURL: emu.URL() + "/clickpesa", ClientID: secret.New("IDsandbox123"), APIKey: secret.New("SKsandboxsecret")})
	if err != nil {
		t.Fatal(err)
	}
	settler := settle.New(settle.Options{Store: st})
	po, err := payouts.New(payouts.Options{Store: st, Settler: settler,
		Runtime: func() *payouts.Runtime { return &payouts.Runtime{Config: &config.Config{}} }})
	if err != nil {
		t.Fatal(err)
	}
	engine := func(progress func(recon.Progress)) *recon.Engine {
		return recon.New(recon.Options{
			Store: st, Settler: settler, Payouts: po, PageSize: 2, Owner: "test-owner", Progress: progress,
			Payer:     func(string) (providers.Payer, bool) { return cp, true },
			ClickPesa: func(string) *clickpesa.Client { return cp },
		})
	}
	listCalls := func() int {
		n := 0
		for _, r := range emu.Requests() {
			if r.Path == "/clickpesa/third-parties/payouts/all" && r.Status == 200 {
				n++
			}
		}
		return n
	}

	// Stopped after two pages of payouts (its context ends): the
	// checkpoints of the phase are its start and one per page.
	stopCtx, stop := context.WithCancel(ctx)
	checkpoints := 0
	_, err = engine(func(p recon.Progress) {
		if p.Phase == "provider_payouts" {
			if checkpoints++; checkpoints == 3 {
				stop()
			}
		}
	}).Run(stopCtx, "clickpesa.tz", from, to)
	if err == nil {
		t.Fatal("the stopped run did not fail")
	}
	readBefore := listCalls()
	if readBefore < 2 || readBefore > 3 {
		t.Fatalf("the stopped run read %d pages of payouts, want 2 (or 3 with the one its end cut)", readBefore)
	}

	sum, err := engine(nil).Run(ctx, "clickpesa.tz", from, to)
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Resumed {
		t.Error("the second run did not resume the stopped one")
	}
	// Ten payouts in pages of two, and an empty page's worth at most.
	if readAfter := listCalls() - readBefore; readAfter > 4 {
		t.Errorf("the resumed run read %d pages of payouts; want only those after the checkpoint (the stopped one read %d)", readAfter, readBefore)
	}
	got, err := st.Payout(ctx, "po_res01")
	if err != nil || got.Status != state.PayoutSucceeded {
		t.Errorf("the payout whose webhook was lost: %s %v, want succeeded", got.Status, err)
	}
	want := map[state.DiffClass]int{state.DiffUnknownToUs: 1, state.DiffMissingAtProvider: 1}
	if len(sum.Open) != len(want) || sum.Open[state.DiffUnknownToUs] != 1 || sum.Open[state.DiffMissingAtProvider] != 1 {
		t.Errorf("open = %v, want %v", sum.Open, want)
	}
	ds, err := st.ListDifferences(ctx, state.DifferenceFilter{Provider: "clickpesa.tz", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	healed := 0
	for _, d := range ds {
		if d.State == state.DiffHealed {
			healed++
			if d.PayoutID != "po_res01" {
				t.Errorf("healed %+v, want po_res01", d)
			}
		}
		if d.Class == state.DiffMissingAtProvider && d.PayoutID != "po_gone" {
			t.Errorf("missing_at_provider names %q, want po_gone", d.PayoutID)
		}
	}
	if healed != 1 || len(ds) != 3 {
		t.Errorf("%d differences, %d healed; want 3 and 1", len(ds), healed)
	}

	again, err := engine(nil).Run(ctx, "clickpesa.tz", from, to)
	if err != nil {
		t.Fatal(err)
	}
	// Our payouts walked from our side are those the list did not show.
	if again.Resumed || again.Healed != 0 || len(again.New) != 0 || again.Run.Counters.OurPayouts != 1 {
		t.Errorf("a run afterwards: resumed %v healed %d new %v our payouts %d; want a new run, nothing found, po_gone walked",
			again.Resumed, again.Healed, again.New, again.Run.Counters.OurPayouts)
	}
}

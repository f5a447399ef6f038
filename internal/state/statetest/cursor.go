package statetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
)

// testListPaymentsAfter: walking ListPayments page by page with After
// visits every payment once, newest first (equal creation times in
// insertion order, newest first), filters apply across pages, payments
// added meanwhile do not move the pages already started, and an unknown
// After is ErrNotFound.
func testListPaymentsAfter(t *testing.T, open Opener) {
	s := open(t)
	// pay_0..pay_6; pay_2 and pay_3 share a creation time.
	for i := range 7 {
		at := t0.Add(time.Duration(i) * time.Second)
		if i == 3 {
			at = t0.Add(2 * time.Second)
		}
		p := payment(fmt.Sprintf("pay_%d", i), "pesapal.ke", fmt.Sprintf("R%d", i), at)
		if i%3 == 0 {
			p.Provider = "clickpesa.tz"
		}
		createPayment(t, s, p)
	}
	walk := func(f state.PaymentFilter, insertAfterFirstPage bool) string {
		t.Helper()
		var pages []string
		for range 20 {
			got, err := s.ListPayments(ctx(t), f)
			check(t, err, "list page")
			if len(got) == 0 {
				break
			}
			pages = append(pages, strings.Join(ids(got), " "))
			f.After = got[len(got)-1].ID
			if insertAfterFirstPage {
				insertAfterFirstPage = false
				createPayment(t, s, payment("pay_new", "pesapal.ke", "RNEW", t0.Add(time.Hour)))
			}
		}
		return strings.Join(pages, " | ")
	}
	if got, want := walk(state.PaymentFilter{Limit: 2}, false), "pay_6 pay_5 | pay_4 pay_3 | pay_2 pay_1 | pay_0"; got != want {
		t.Errorf("pages of 2: %s, want %s", got, want)
	}
	if got, want := walk(state.PaymentFilter{Limit: 1, Provider: "clickpesa.tz"}, false), "pay_6 | pay_3 | pay_0"; got != want {
		t.Errorf("filtered pages: %s, want %s", got, want)
	}
	if got, want := walk(state.PaymentFilter{Limit: 3}, true), "pay_6 pay_5 pay_4 | pay_3 pay_2 pay_1 | pay_0"; got != want {
		t.Errorf("pages with an insert between them: %s, want %s", got, want)
	}
	if _, err := s.ListPayments(ctx(t), state.PaymentFilter{After: "pay_nope"}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("After an unknown payment: %v, want ErrNotFound", err)
	}
}

// testListDeliveriesAfter is testListPaymentsAfter for ListDeliveries.
func testListDeliveriesAfter(t *testing.T, open Opener) {
	s := open(t)
	names := map[string]string{}
	for i := range 4 {
		ref := fmt.Sprintf("R%d", i)
		names[emit(t, s, ref, "erp", "crm")] = ref
	}
	walk := func(f state.EventFilter) string {
		t.Helper()
		var pages []string
		for range 20 {
			got, err := s.ListDeliveries(ctx(t), f)
			check(t, err, "list page")
			if len(got) == 0 {
				break
			}
			var page []string
			for _, d := range got {
				page = append(page, names[d.EventID]+"/"+d.Route)
			}
			pages = append(pages, strings.Join(page, " "))
			f.After = got[len(got)-1].ID
		}
		return strings.Join(pages, " | ")
	}
	all, err := s.ListDeliveries(ctx(t), state.EventFilter{})
	check(t, err, "list all")
	var want []string
	for i := 0; i < len(all); i += 3 {
		var page []string
		for _, d := range all[i:min(i+3, len(all))] {
			page = append(page, names[d.EventID]+"/"+d.Route)
		}
		want = append(want, strings.Join(page, " "))
	}
	if got := walk(state.EventFilter{Limit: 3}); got != strings.Join(want, " | ") || len(all) != 8 {
		t.Errorf("pages of 3: %s, want %s (of %d)", got, strings.Join(want, " | "), len(all))
	}
	if got, want := walk(state.EventFilter{Limit: 3, Route: "erp"}), "R3/erp R2/erp R1/erp | R0/erp"; got != want {
		t.Errorf("route pages: %s, want %s", got, want)
	}
	if _, err := s.ListDeliveries(ctx(t), state.EventFilter{After: "dlv_nope"}); !errors.Is(err, state.ErrNotFound) {
		t.Errorf("After an unknown delivery: %v, want ErrNotFound", err)
	}
}

// Package statetest is the conformance suite every state.Store
// implementation must pass: Run(t, open) exercises each method and the
// rules documented in package state against fresh stores made by open.
//
// It is test support, imported only from _test files. Times it uses are
// whole microseconds so that backends with microsecond precision
// (PostgreSQL) round-trip them exactly. It must not import an
// implementation.
package statetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/procscope"
	"github.com/finconnectd/finconnectd/internal/state"
)

// Opener returns a new, empty store for one test and arranges for it to be
// closed (t.Cleanup); Close must be idempotent, as the suite may close it
// first.
type Opener func(t *testing.T) state.Store

// Run runs the whole suite; each subtest opens its own store.
func Run(t *testing.T, open func(t *testing.T) state.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Meta", testMeta},
		{"Resources", testResources},
		{"Lock", testLock},
		{"LockTakeover", testLockTakeover},
		{"Unlock", testUnlock},
		{"ForceUnlock", testForceUnlock},
		{"CreatePayment", testCreatePayment},
		{"ListPayments", testListPayments},
		{"ListPaymentsAfter", testListPaymentsAfter},
		{"RecordInitiation", testRecordInitiation},
		{"DuePayments", testDuePayments},
		{"ApplyStatusCreate", testApplyStatusCreate},
		{"ApplyStatusNotFound", testApplyStatusNotFound},
		{"ApplyStatusChange", testApplyStatusChange},
		{"ApplyStatusBindsProviderReference", testApplyStatusBindsProviderReference},
		{"ApplyStatusDuplicate", testApplyStatusDuplicate},
		{"ApplyStatusByProviderReference", testApplyStatusByProviderReference},
		{"ApplyStatusPayloadError", testApplyStatusPayloadError},
		{"TransitionTable", testTransitionTable},
		{"InitiationTable", testInitiationTable},
		{"OneEventPerStatus", testOneEventPerStatus},
		{"RandomInterleavings", testRandomInterleavings},
		{"Idempotency", testIdempotency},
		{"IdempotencyWithPayment", testIdempotencyWithPayment},
		{"ClaimLease", testClaimLease},
		{"ApplyStatusLeases", testApplyStatusLeases},
		{"ClaimOrderAndLimit", testClaimOrderAndLimit},
		{"RecordAttempt", testRecordAttempt},
		{"RecordAttempts", testRecordAttempts},
		{"RecordAttemptsClaim", testRecordAttemptsClaim},
		{"ReleaseLeases", testReleaseLeases},
		{"ListDeliveries", testListDeliveries},
		{"ListDeliveriesAfter", testListDeliveriesAfter},
		{"EventDetail", testEventDetail},
		{"ReplayEvent", testReplayEvent},
		{"NextDue", testNextDue},
		{"Stats", testStats},
		{"ConcurrentApplySameNotification", testConcurrentApply},
		{"ConcurrentChangesOfOnePayment", testConcurrentChanges},
		{"ConcurrentClaims", testConcurrentClaims},
		{"PingClose", testPingClose},
		{"CommitObserver", testCommitObserver},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, open) })
	}
}

// t0 is the suite's "now": whole microseconds, far from the zero time.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 678_901_000, time.UTC)

func ctx(t *testing.T) context.Context { return t.Context() }

func check(t testing.TB, err error, doing string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", doing, err)
	}
}

func wantErrIs(t testing.TB, err, target error, doing string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want one wrapping %v", doing, err, target)
	}
}

func sameTime(t testing.TB, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

var idRE = regexp.MustCompile(`^[a-z2-7]{26}$`)

func checkID(t testing.TB, prefix, id string) {
	t.Helper()
	if len(id) <= len(prefix) || id[:len(prefix)] != prefix || !idRE.MatchString(id[len(prefix):]) {
		t.Errorf("ID %q is not %s + 26 lowercase base32 characters", id, prefix)
	}
}

// ---------------------------------------------------------------------------
// Reconcile state

func testMeta(t *testing.T, open Opener) {
	a, b := open(t), open(t)
	ma, err := a.Meta(ctx(t))
	check(t, err, "meta")
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(ma.Lineage) {
		t.Errorf("lineage %q is not 32 lowercase hex characters", ma.Lineage)
	}
	if ma.Serial != 0 {
		t.Errorf("new store serial = %d, want 0", ma.Serial)
	}
	again, err := a.Meta(ctx(t))
	check(t, err, "meta again")
	if again != ma {
		t.Errorf("meta changed between reads: %+v then %+v", ma, again)
	}
	mb, err := b.Meta(ctx(t))
	check(t, err, "meta of a second store")
	if mb.Lineage == ma.Lineage {
		t.Errorf("two new stores share lineage %s", ma.Lineage)
	}
}

func testResources(t *testing.T, open Opener) {
	s := open(t)
	lineage := mustMeta(t, s).Lineage
	put := func(addr, typ, attrs string, at time.Time, wantSerial int64) {
		t.Helper()
		m, err := s.PutResource(ctx(t), state.Resource{Address: addr, Type: typ, Attributes: json.RawMessage(attrs), UpdatedAt: at})
		check(t, err, "put "+addr)
		if m.Serial != wantSerial || m.Lineage != lineage {
			t.Errorf("put %s: meta = %+v, want serial %d lineage %s", addr, m, wantSerial, lineage)
		}
	}
	put("key.azampay.tz", "key", `{"fingerprint":"ab"}`, t0, 1)
	put("ipn.orders", "ipn", `{"ipn_id":"1"}`, t0.Add(time.Second), 2)
	put("ipn.b", "ipn", `{"ipn_id":"2"}`, t0.Add(2*time.Second), 3)
	put("ipn.orders", "ipn", `{"ipn_id":"3","url":"https://x/y"}`, t0.Add(3*time.Second), 4) // replace

	rs, err := s.Resources(ctx(t))
	check(t, err, "list resources")
	var addrs []string
	for _, r := range rs {
		addrs = append(addrs, r.Address)
	}
	if fmt.Sprint(addrs) != "[ipn.b ipn.orders key.azampay.tz]" {
		t.Fatalf("resources = %v, want ordered by address [ipn.b ipn.orders key.azampay.tz]", addrs)
	}
	r, err := s.Resource(ctx(t), "ipn.orders")
	check(t, err, "get ipn.orders")
	if r.Type != "ipn" {
		t.Errorf("type = %q, want ipn", r.Type)
	}
	jsonEqual(t, "replaced attributes", r.Attributes, `{"ipn_id":"3","url":"https://x/y"}`)
	sameTime(t, "updated_at", r.UpdatedAt, t0.Add(3*time.Second))

	_, err = s.Resource(ctx(t), "ipn.nope")
	wantErrIs(t, err, state.ErrNotFound, "get a missing resource")

	m, err := s.DeleteResource(ctx(t), "ipn.b")
	check(t, err, "delete ipn.b")
	if m.Serial != 5 {
		t.Errorf("serial after delete = %d, want 5", m.Serial)
	}
	_, err = s.DeleteResource(ctx(t), "ipn.b")
	wantErrIs(t, err, state.ErrNotFound, "delete a missing resource")
	if got := mustMeta(t, s); got.Serial != 5 || got.Lineage != lineage {
		t.Errorf("meta after a failed delete = %+v, want serial 5, same lineage", got)
	}
	rs, err = s.Resources(ctx(t))
	check(t, err, "list resources")
	if len(rs) != 2 {
		t.Errorf("%d resources after delete, want 2", len(rs))
	}
}

func mustMeta(t testing.TB, s state.Store) state.Meta {
	t.Helper()
	m, err := s.Meta(context.Background())
	check(t, err, "meta")
	return m
}

func jsonEqual(t testing.TB, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s: %q is not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: the wanted %q is not JSON: %v", what, want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func hostname(t testing.TB) string {
	t.Helper()
	h, err := os.Hostname()
	check(t, err, "hostname")
	return h
}

// deadPID returns the PID of a process that has exited and been reaped.
func deadPID(t testing.TB) int {
	t.Helper()
	cmd := exec.Command("true")
	check(t, cmd.Run(), "run true")
	return cmd.Process.Pid
}

// lockInfo is a lock for a process in this test's procscope scope (the
// store under test runs in this process).
func lockInfo(id string, pid int, host string) state.LockInfo {
	return state.LockInfo{ID: id, Host: host, PID: pid, Scope: procscope.Scope(), Operation: "apply", Since: t0}
}

// otherScope is a scope that is not this process's: another PID namespace
// or machine boot.
func otherScope() string {
	if procscope.Scope() == "000000000000" {
		return "111111111111"
	}
	return "000000000000"
}

func holder(t testing.TB, s state.Store) (state.LockInfo, bool) {
	t.Helper()
	li, ok, err := s.LockHolder(context.Background())
	check(t, err, "lock holder")
	return li, ok
}

func testLock(t *testing.T, open Opener) {
	s := open(t)
	if _, ok := holder(t, s); ok {
		t.Fatal("a new store is locked")
	}
	me := lockInfo("lock-a", os.Getpid(), hostname(t))
	check(t, s.Lock(ctx(t), me), "lock")
	got, ok := holder(t, s)
	if !ok || got.ID != me.ID || got.Host != me.Host || got.PID != me.PID || got.Scope != me.Scope || got.Operation != me.Operation || !got.Since.Equal(me.Since) {
		t.Fatalf("holder = %+v, %v; want %+v", got, ok, me)
	}
	check(t, s.Lock(ctx(t), me), "lock again with the same ID")

	tests := []struct {
		name string
		info state.LockInfo
	}{
		{"live process on this host", lockInfo("lock-b", os.Getpid(), hostname(t))},
		{"other host", lockInfo("lock-c", 1, "elsewhere.invalid")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Lock(ctx(t), tt.info)
			var le *state.LockedError
			if !errors.As(err, &le) {
				t.Fatalf("lock while held: got %v, want *state.LockedError", err)
			}
			if le.Holder.ID != me.ID || le.Holder.PID != me.PID {
				t.Errorf("LockedError names %+v, want holder %s", le.Holder, me.ID)
			}
			if got, _ := holder(t, s); got.ID != me.ID {
				t.Errorf("holder changed to %s", got.ID)
			}
		})
	}
	// Held by a dead process on another host: not ours to judge.
	check(t, s.Unlock(ctx(t), me.ID), "unlock")
	remote := lockInfo("lock-remote", deadPID(t), "elsewhere.invalid")
	check(t, s.Lock(ctx(t), remote), "lock for a remote host")
	var le *state.LockedError
	if err := s.Lock(ctx(t), lockInfo("lock-d", os.Getpid(), hostname(t))); !errors.As(err, &le) {
		t.Fatalf("lock held by a dead PID on another host: got %v, want *state.LockedError", err)
	}
}

// testLockTakeover: the lock of a dead PID is taken over only when the
// holder ran on this host and in this process's procscope scope (the same
// machine boot and PID namespace); the PID of a holder with our hostname
// in another scope (a container with its own PID namespace, a cloned VM)
// or with no scope (an older lock row) names another process or none.
func testLockTakeover(t *testing.T, open Opener) {
	withScope := func(li state.LockInfo, scope string) state.LockInfo {
		li.Scope = scope
		return li
	}
	for _, tt := range []struct {
		name     string
		holder   state.LockInfo
		takeover bool
	}{
		{"dead PID, another scope", withScope(lockInfo("lock-dead", deadPID(t), hostname(t)), otherScope()), false},
		{"dead PID, no scope", withScope(lockInfo("lock-dead", deadPID(t), hostname(t)), ""), false},
		{"dead PID, same scope", lockInfo("lock-dead", deadPID(t), hostname(t)), true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.takeover && procscope.Scope() == "" {
				t.Skip("no process scope on this platform: no lock is ever taken over")
			}
			s := open(t)
			check(t, s.Lock(ctx(t), tt.holder), "lock for a process about to be gone")
			me := lockInfo("lock-new", os.Getpid(), hostname(t))
			err := s.Lock(ctx(t), me)
			got, ok := holder(t, s)
			if tt.takeover {
				check(t, err, "take over the lock of a dead process on this host and in this scope")
				if !ok || got.ID != me.ID || got.Scope != me.Scope {
					t.Fatalf("holder = %+v, want %s", got, me.ID)
				}
				check(t, s.Unlock(ctx(t), me.ID), "unlock")
				return
			}
			var le *state.LockedError
			if !errors.As(err, &le) || le.Holder.ID != tt.holder.ID || le.Holder.Scope != tt.holder.Scope {
				t.Fatalf("lock held by %+v: got %v, want *state.LockedError naming it", tt.holder, err)
			}
			if !ok || got.ID != tt.holder.ID {
				t.Errorf("holder changed to %+v", got)
			}
		})
	}
}

func testUnlock(t *testing.T, open Opener) {
	s := open(t)
	check(t, s.Unlock(ctx(t), "nobody"), "unlock an unlocked state")
	me := lockInfo("lock-a", os.Getpid(), hostname(t))
	check(t, s.Lock(ctx(t), me), "lock")
	if err := s.Unlock(ctx(t), "lock-other"); err == nil {
		t.Fatal("unlock with another ID succeeded")
	}
	if got, ok := holder(t, s); !ok || got.ID != me.ID {
		t.Fatalf("after a wrong unlock the holder is %+v, %v; want %s", got, ok, me.ID)
	}
	check(t, s.Unlock(ctx(t), me.ID), "unlock")
	if _, ok := holder(t, s); ok {
		t.Fatal("still locked after unlock")
	}
	other := lockInfo("lock-b", os.Getpid(), hostname(t))
	check(t, s.Lock(ctx(t), other), "lock after unlock")
}

func testForceUnlock(t *testing.T, open Opener) {
	s := open(t)
	if err := s.ForceUnlock(ctx(t), "lock-a"); err == nil {
		t.Error("force-unlock of an unlocked state succeeded")
	}
	held := lockInfo("lock-a", os.Getpid(), "elsewhere.invalid")
	check(t, s.Lock(ctx(t), held), "lock")
	err := s.ForceUnlock(ctx(t), "lock-wrong")
	if err == nil {
		t.Fatal("force-unlock with the wrong ID succeeded")
	}
	if !regexp.MustCompile(`lock-a`).MatchString(err.Error()) {
		t.Errorf("force-unlock error %q does not say which ID holds the lock", err)
	}
	if _, ok := holder(t, s); !ok {
		t.Fatal("a wrong force-unlock released the lock")
	}
	check(t, s.ForceUnlock(ctx(t), "lock-a"), "force-unlock")
	if _, ok := holder(t, s); ok {
		t.Fatal("still locked after force-unlock")
	}
}

// ---------------------------------------------------------------------------
// Payments

func payment(id, provider, ref string, created time.Time) state.Payment {
	return state.Payment{
		ID: id, Provider: provider, Reference: ref, Status: "pending",
		Amount: "1500.00", Currency: "TZS", Phone: "255700000000", Description: "order " + ref,
		MNO: "Airtel", IPN: "orders", CreatedAt: created, UpdatedAt: created, NextSyncAt: created.Add(time.Minute),
	}
}

func createPayment(t testing.TB, s state.Store, p state.Payment) {
	t.Helper()
	check(t, s.CreatePayment(context.Background(), p), "create payment "+p.ID)
}

func equalPayment(t testing.TB, got, want state.Payment) {
	t.Helper()
	if !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || !got.NextSyncAt.Equal(want.NextSyncAt) {
		t.Errorf("payment times = %v/%v/%v, want %v/%v/%v", got.CreatedAt, got.UpdatedAt, got.NextSyncAt,
			want.CreatedAt, want.UpdatedAt, want.NextSyncAt)
	}
	if string(got.Raw) != string(want.Raw) {
		t.Errorf("payment raw = %q, want %q", got.Raw, want.Raw)
	}
	got.CreatedAt, got.UpdatedAt, got.NextSyncAt, got.Raw = want.CreatedAt, want.UpdatedAt, want.NextSyncAt, want.Raw
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("payment =\n  %+v\nwant\n  %+v", got, want)
	}
}

func testCreatePayment(t *testing.T, open Opener) {
	s := open(t)
	p := payment("pay_1", "pesapal.ke", "ORDER-1", t0)
	p.ProviderReference, p.RedirectURL, p.ConfirmationCode, p.Message = "pr-1", "https://pay/x", "CC1", "hello"
	p.Raw, p.SyncAttempts = json.RawMessage(`{"a":1}`), 2
	createPayment(t, s, p)

	got, err := s.Payment(ctx(t), "pay_1")
	check(t, err, "payment by id")
	equalPayment(t, got, p)
	got, err = s.PaymentByReference(ctx(t), "pesapal.ke", "ORDER-1")
	check(t, err, "payment by reference")
	equalPayment(t, got, p)

	tests := []struct {
		name    string
		p       state.Payment
		wantErr error
	}{
		{"same provider and reference", payment("pay_2", "pesapal.ke", "ORDER-1", t0), state.ErrConflict},
		{"same ID", payment("pay_1", "clickpesa.tz", "ORDER-9", t0), state.ErrConflict},
		{"same reference, other provider", payment("pay_3", "clickpesa.tz", "ORDER-1", t0), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreatePayment(ctx(t), tt.p)
			if tt.wantErr == nil {
				check(t, err, "create")
				return
			}
			wantErrIs(t, err, tt.wantErr, "create")
		})
	}
	_, err = s.Payment(ctx(t), "pay_nope")
	wantErrIs(t, err, state.ErrNotFound, "missing payment by id")
	_, err = s.PaymentByReference(ctx(t), "pesapal.ke", "ORDER-404")
	wantErrIs(t, err, state.ErrNotFound, "missing payment by reference")
	_, err = s.PaymentByReference(ctx(t), "azampay.tz", "ORDER-1")
	wantErrIs(t, err, state.ErrNotFound, "reference under another provider")
}

func ids(ps []state.Payment) []string {
	return idsOf(ps, func(p state.Payment) string { return p.ID })
}

// idsOf lists the IDs of xs ([] rather than nil when there are none).
func idsOf[T any](xs []T, id func(T) string) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, id(x))
	}
	return out
}

func testListPayments(t *testing.T, open Opener) {
	s := open(t)
	for i := range 5 {
		p := payment(fmt.Sprintf("pay_%d", i), "pesapal.ke", fmt.Sprintf("R%d", i), t0.Add(time.Duration(i)*time.Second))
		if i%2 == 1 {
			p.Provider = "clickpesa.tz"
			p.Status = "succeeded"
		}
		createPayment(t, s, p)
	}
	tests := []struct {
		name string
		f    state.PaymentFilter
		want string
	}{
		{"all, newest first", state.PaymentFilter{}, "[pay_4 pay_3 pay_2 pay_1 pay_0]"},
		{"provider", state.PaymentFilter{Provider: "clickpesa.tz"}, "[pay_3 pay_1]"},
		{"status", state.PaymentFilter{Status: "pending"}, "[pay_4 pay_2 pay_0]"},
		{"reference", state.PaymentFilter{Reference: "R2"}, "[pay_2]"},
		{"provider and reference", state.PaymentFilter{Provider: "clickpesa.tz", Reference: "R2"}, "[]"},
		{"limit", state.PaymentFilter{Limit: 2}, "[pay_4 pay_3]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListPayments(ctx(t), tt.f)
			check(t, err, "list")
			if fmt.Sprint(ids(got)) != tt.want {
				t.Errorf("ListPayments(%+v) = %v, want %s", tt.f, ids(got), tt.want)
			}
		})
	}
	t.Run("default limit 100", func(t *testing.T) {
		s := open(t)
		for i := range 101 {
			createPayment(t, s, payment(fmt.Sprintf("pay_%03d", i), "pesapal.ke", fmt.Sprintf("R%d", i), t0.Add(time.Duration(i)*time.Millisecond)))
		}
		got, err := s.ListPayments(ctx(t), state.PaymentFilter{})
		check(t, err, "list")
		if len(got) != 100 || got[0].ID != "pay_100" {
			t.Errorf("got %d payments starting %v, want 100 starting pay_100", len(got), ids(got[:1]))
		}
	})
}

func testRecordInitiation(t *testing.T, open Opener) {
	s := open(t)
	p := payment("pay_1", "azampay.tz", "R1", t0)
	createPayment(t, s, p)
	in := state.PaymentInitiation{
		Status: "unknown", ProviderReference: "AZ-1", RedirectURL: "https://r", Message: "timeout",
		Raw: json.RawMessage(`{"x":true}`), NextSyncAt: t0.Add(2 * time.Minute),
	}
	got, err := s.RecordInitiation(ctx(t), "pay_1", in, t0.Add(time.Second))
	check(t, err, "record initiation")
	want := p
	want.Status, want.ProviderReference, want.RedirectURL, want.Message, want.Raw = in.Status, in.ProviderReference, in.RedirectURL, in.Message, in.Raw
	want.NextSyncAt, want.UpdatedAt = in.NextSyncAt, t0.Add(time.Second)
	equalPayment(t, got, want)
	stored, err := s.Payment(ctx(t), "pay_1")
	check(t, err, "payment")
	equalPayment(t, stored, want)
	_, err = s.RecordInitiation(ctx(t), "pay_nope", in, t0)
	wantErrIs(t, err, state.ErrNotFound, "record initiation of a missing payment")
}

func testDuePayments(t *testing.T, open Opener) {
	s := open(t)
	mk := func(id string, status state.PaymentStatus, next time.Time) {
		p := payment(id, "pesapal.ke", "R-"+id, t0)
		p.Status, p.NextSyncAt = status, next
		createPayment(t, s, p)
	}
	mk("pay_late", "pending", t0.Add(-time.Minute))
	mk("pay_early", "unknown", t0.Add(-time.Hour))
	mk("pay_now", "pending", t0)
	mk("pay_future", "pending", t0.Add(time.Second))
	mk("pay_done", "succeeded", t0.Add(-time.Hour))
	mk("pay_failed", "failed", t0.Add(-time.Hour))

	due := func(now time.Time, limit int) string {
		t.Helper()
		got, err := s.DuePayments(ctx(t), now, limit)
		check(t, err, "due payments")
		return fmt.Sprint(ids(got))
	}
	if got := due(t0, 10); got != "[pay_early pay_late pay_now]" {
		t.Errorf("due = %s, want [pay_early pay_late pay_now] (pending/unknown, NextSyncAt <= now, earliest first)", got)
	}
	if got := due(t0, 2); got != "[pay_early pay_late]" {
		t.Errorf("due with limit 2 = %s", got)
	}
	check(t, s.ScheduleSync(ctx(t), "pay_early", time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), 7), "schedule never")
	check(t, s.ScheduleSync(ctx(t), "pay_future", t0.Add(-2*time.Hour), 3), "schedule now")
	if got := due(t0, 10); got != "[pay_future pay_late pay_now]" {
		t.Errorf("due after rescheduling = %s, want [pay_future pay_late pay_now]", got)
	}
	p, err := s.Payment(ctx(t), "pay_early")
	check(t, err, "payment")
	if p.SyncAttempts != 7 || !p.NextSyncAt.After(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("after ScheduleSync(year 9999, 7): NextSyncAt %v attempts %d", p.NextSyncAt, p.SyncAttempts)
	}
	wantErrIs(t, s.ScheduleSync(ctx(t), "pay_nope", t0, 1), state.ErrNotFound, "schedule a missing payment")
}

// ---------------------------------------------------------------------------
// ApplyStatus

type payloadCall struct {
	p       state.Payment
	eventID string
	at      time.Time
}

// recorder builds event payloads and remembers what it was called with.
type recorder struct {
	mu    sync.Mutex
	calls []payloadCall
}

func (r *recorder) payload(p state.Payment, eventID string, at time.Time) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, payloadCall{p, eventID, at})
	return json.Marshal(map[string]string{"event_id": eventID, "payment_id": p.ID, "status": string(p.Status)})
}

func (r *recorder) n() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func change(provider, ref string, status state.PaymentStatus, rec *recorder, routes ...string) state.StatusChange {
	c := state.StatusChange{
		Provider: provider, Reference: ref, Status: status, Source: state.SourceNotification,
		EventType: "payment." + string(status), Routes: routes, Now: t0.Add(time.Minute),
	}
	if status == state.StatusUnknown {
		c.EventType = "" // unknown emits no event
	}
	if rec != nil {
		c.EventPayload = rec.payload
	}
	return c
}

func notification(id, provider, dedup string) *state.Notification {
	return &state.Notification{ID: id, Route: "pesapal-ipn", Provider: provider, DedupKey: dedup, Body: []byte(`{"n":1}`), ReceivedAt: t0}
}

func apply(t testing.TB, s state.Store, c state.StatusChange) state.StatusResult {
	t.Helper()
	res, err := s.ApplyStatus(context.Background(), c)
	check(t, err, "apply status "+string(c.Status))
	return res
}

func allDeliveries(t testing.TB, s state.Store) []state.Delivery {
	t.Helper()
	ds, err := s.ListDeliveries(context.Background(), state.EventFilter{Limit: 1000})
	check(t, err, "list deliveries")
	return ds
}

func testApplyStatusCreate(t *testing.T, open Opener) {
	s := open(t)
	rec := &recorder{}
	c := change("clickpesa.tz", "ORDER-7", "succeeded", rec, "erp", "crm")
	c.CreateIfMissing = true
	c.ProviderReference, c.Amount, c.Currency, c.Phone, c.ConfirmationCode, c.Message = "CP-7", "2500", "TZS", "255711111111", "QX1", "paid"
	c.Raw = json.RawMessage(`{"status":"SUCCESS"}`)
	c.Notification = notification("ntf_1", "clickpesa.tz", "CP-7:succeeded")
	res := apply(t, s, c)

	if !res.Changed || res.Duplicate {
		t.Errorf("result Changed=%v Duplicate=%v, want changed, not duplicate", res.Changed, res.Duplicate)
	}
	p := res.Payment
	checkID(t, "pay_", p.ID)
	if p.Provider != "clickpesa.tz" || p.Reference != "ORDER-7" || p.Status != "succeeded" || p.ProviderReference != "CP-7" ||
		p.Amount != "2500" || p.Currency != "TZS" || p.Phone != "255711111111" || p.ConfirmationCode != "QX1" || p.Message != "paid" {
		t.Errorf("created payment = %+v", p)
	}
	sameTime(t, "created_at", p.CreatedAt, c.Now)
	stored, err := s.PaymentByReference(ctx(t), "clickpesa.tz", "ORDER-7")
	check(t, err, "created payment by reference")
	equalPayment(t, stored, p)
	if string(stored.Raw) != `{"status":"SUCCESS"}` {
		t.Errorf("raw = %s", stored.Raw)
	}

	checkID(t, "evt_", res.EventID)
	if rec.n() != 1 {
		t.Fatalf("EventPayload called %d times, want 1", rec.n())
	}
	call := rec.calls[0]
	if call.eventID != res.EventID || call.p.ID != p.ID || call.p.Status != "succeeded" || !call.at.Equal(c.Now) {
		t.Errorf("EventPayload got (%s, %s, %s, %v); want the new event ID, the updated payment and Now", call.p.ID, call.p.Status, call.eventID, call.at)
	}
	ev, dels, atts, err := s.EventDetail(ctx(t), res.EventID)
	check(t, err, "event detail")
	if ev.ID != res.EventID || ev.Type != "payment.succeeded" || ev.PaymentID != p.ID || ev.Provider != "clickpesa.tz" {
		t.Errorf("event = %+v", ev)
	}
	sameTime(t, "event created_at", ev.CreatedAt, c.Now)
	jsonEqual(t, "event payload", ev.Payload, fmt.Sprintf(`{"event_id":%q,"payment_id":%q,"status":"succeeded"}`, res.EventID, p.ID))
	if len(atts) != 0 {
		t.Errorf("%d attempts on a new event", len(atts))
	}
	routes := map[string]bool{}
	for _, d := range dels {
		checkID(t, "dlv_", d.ID)
		routes[d.Route] = true
		if d.EventID != res.EventID || d.Status != state.DeliveryPending || d.Attempts != 0 || d.Event.ID != res.EventID {
			t.Errorf("delivery = %+v", d)
		}
		sameTime(t, "delivery next_attempt_at", d.NextAttemptAt, c.Now)
		sameTime(t, "delivery created_at", d.CreatedAt, c.Now)
	}
	if len(dels) != 2 || !routes["erp"] || !routes["crm"] {
		t.Errorf("deliveries go to %v, want one each to erp and crm", routes)
	}

	t.Run("terminal status is not due for sync", func(t *testing.T) {
		if !p.NextSyncAt.IsZero() {
			t.Errorf("NextSyncAt = %v for a succeeded payment, want zero (not scheduled)", p.NextSyncAt)
		}
		due, err := s.DuePayments(ctx(t), t0.Add(24*time.Hour), 10)
		check(t, err, "due")
		if len(due) != 0 {
			t.Errorf("due = %v, want none", ids(due))
		}
	})
	t.Run("pending creation is due for sync", func(t *testing.T) {
		c := change("clickpesa.tz", "ORDER-8", "pending", rec, "erp")
		c.CreateIfMissing = true
		res := apply(t, s, c)
		if !res.Changed || res.EventID == "" {
			t.Errorf("creation as pending: Changed=%v EventID=%q, want a change from nothing and an event", res.Changed, res.EventID)
		}
		sameTime(t, "NextSyncAt of a payment created pending", res.Payment.NextSyncAt, c.Now)
		due, err := s.DuePayments(ctx(t), c.Now, 10)
		check(t, err, "due")
		if fmt.Sprint(ids(due)) != fmt.Sprint([]string{res.Payment.ID}) {
			t.Errorf("due = %v, want the created pending payment", ids(due))
		}
	})
	t.Run("no event type, no event", func(t *testing.T) {
		c := change("clickpesa.tz", "ORDER-9", "unknown", rec, "erp")
		c.CreateIfMissing, c.EventType = true, ""
		before := rec.n()
		res := apply(t, s, c)
		if !res.Changed || res.EventID != "" || rec.n() != before {
			t.Errorf("Changed=%v EventID=%q payload calls %d; want a change without an event", res.Changed, res.EventID, rec.n()-before)
		}
	})
}

func testApplyStatusNotFound(t *testing.T, open Opener) {
	s := open(t)
	rec := &recorder{}
	createPayment(t, s, payment("pay_1", "pesapal.ke", "R1", t0))
	c := change("pesapal.ke", "R-MISSING", "succeeded", rec, "erp")
	c.Notification = notification("ntf_1", "pesapal.ke", "R-MISSING:succeeded")
	_, err := s.ApplyStatus(ctx(t), c)
	wantErrIs(t, err, state.ErrNotFound, "apply status to a missing payment")
	if len(allDeliveries(t, s)) != 0 {
		t.Error("a failed ApplyStatus left deliveries")
	}
	// Nothing stored: the same notification is not a duplicate now.
	c.CreateIfMissing = true
	res := apply(t, s, c)
	if res.Duplicate || !res.Changed || res.EventID == "" {
		t.Errorf("after a not-found, the same notification gave %+v; want it recorded afresh", res)
	}
	ps, err := s.ListPayments(ctx(t), state.PaymentFilter{})
	check(t, err, "list")
	if len(ps) != 2 {
		t.Errorf("%d payments, want 2", len(ps))
	}

	t.Run("provider reference lookup", func(t *testing.T) {
		c := change("pesapal.ke", "", "failed", rec, "erp")
		c.ProviderReference = "PR-NONE"
		c.CreateIfMissing = true // no reference to create it with
		_, err := s.ApplyStatus(ctx(t), c)
		wantErrIs(t, err, state.ErrNotFound, "apply by an unknown provider reference")
	})
	t.Run("other provider", func(t *testing.T) {
		_, err := s.ApplyStatus(ctx(t), change("clickpesa.tz", "R1", "failed", rec))
		wantErrIs(t, err, state.ErrNotFound, "apply to a reference of another provider")
	})
}

func testApplyStatusChange(t *testing.T, open Opener) {
	s := open(t)
	rec := &recorder{}
	p := payment("pay_1", "azampay.tz", "R1", t0)
	p.Amount, p.Phone = "100", ""
	createPayment(t, s, p)

	c := change("azampay.tz", "R1", "succeeded", rec, "erp", "crm")
	c.ProviderReference, c.Amount, c.Currency, c.Phone, c.ConfirmationCode, c.Message = "AZ-1", "999", "KES", "255722222222", "CODE1", "done"
	c.Raw = json.RawMessage(`{"v":1}`)
	c.Notification = notification("ntf_1", "azampay.tz", "AZ-1:succeeded")
	for _, bad := range []struct {
		amount, currency string
		target           error
	}{{"999", "TZS", state.ErrMismatch}, {"100", "KES", state.ErrMismatch}, {"5e3", "TZS", state.ErrInvalid}, {"-100", "TZS", state.ErrInvalid}} {
		c.Amount, c.Currency = bad.amount, bad.currency
		_, err := s.ApplyStatus(ctx(t), c)
		wantErrIs(t, err, bad.target, "succeeded for "+bad.amount+" "+bad.currency+" on a 100 TZS payment")
	}
	if p, err := s.Payment(ctx(t), "pay_1"); err != nil || p.Status != "pending" || p.ProviderReference != "" || rec.n() != 0 {
		t.Fatalf("after refused claims: %+v, %v, %d payloads; want nothing changed", p, err, rec.n())
	}
	c.Amount, c.Currency = "100.00", "tzs"
	res := apply(t, s, c)
	got := res.Payment
	if !res.Changed || res.Duplicate || res.EventID == "" {
		t.Fatalf("pending → succeeded: %+v", res)
	}
	if got.ID != "pay_1" || got.Status != "succeeded" {
		t.Errorf("payment %s status %s", got.ID, got.Status)
	}
	if got.Amount != "100" || got.Currency != "TZS" {
		t.Errorf("amount/currency = %s %s; a payment's own amount and currency are kept (same money)", got.Amount, got.Currency)
	}
	if got.ProviderReference != "AZ-1" || got.Phone != "255722222222" {
		t.Errorf("provider reference %q phone %q; empty fields are filled", got.ProviderReference, got.Phone)
	}
	if got.ConfirmationCode != "CODE1" || got.Message != "done" || string(got.Raw) != `{"v":1}` {
		t.Errorf("confirmation %q message %q raw %s", got.ConfirmationCode, got.Message, got.Raw)
	}
	sameTime(t, "updated_at", got.UpdatedAt, c.Now)
	sameTime(t, "created_at", got.CreatedAt, t0)
	stored, err := s.Payment(ctx(t), "pay_1")
	check(t, err, "payment")
	equalPayment(t, stored, got)
	if len(allDeliveries(t, s)) != 2 {
		t.Fatalf("%d deliveries, want 2", len(allDeliveries(t, s)))
	}

	t.Run("same status again is no change", func(t *testing.T) {
		c := change("azampay.tz", "R1", "succeeded", rec, "erp", "crm")
		c.Notification = notification("ntf_2", "azampay.tz", "AZ-1:succeeded:again")
		c.ConfirmationCode = "CODE2"
		calls := rec.n()
		res := apply(t, s, c)
		if res.Changed || res.Duplicate || res.EventID != "" || rec.n() != calls {
			t.Errorf("unchanged status gave %+v (payload calls +%d)", res, rec.n()-calls)
		}
		if res.Payment.ConfirmationCode != "CODE2" {
			t.Errorf("confirmation code %q; a given one replaces the stored one", res.Payment.ConfirmationCode)
		}
		if n := len(allDeliveries(t, s)); n != 2 {
			t.Errorf("%d deliveries after an unchanged status, want 2", n)
		}
	})
	t.Run("another change emits another event", func(t *testing.T) {
		res := apply(t, s, change("azampay.tz", "R1", "reversed", rec, "erp"))
		if !res.Changed || res.EventID == "" || res.Payment.Status != "reversed" {
			t.Errorf("succeeded → reversed: %+v", res)
		}
		if n := len(allDeliveries(t, s)); n != 3 {
			t.Errorf("%d deliveries, want 3", n)
		}
	})
}

func testApplyStatusDuplicate(t *testing.T, open Opener) {
	s := open(t)
	rec := &recorder{}
	createPayment(t, s, payment("pay_1", "pesapal.ke", "R1", t0))
	first := change("pesapal.ke", "R1", "failed", rec, "erp")
	first.Notification = notification("ntf_1", "pesapal.ke", "PR-1:x")
	first.Message = "first"
	apply(t, s, first)

	dup := change("pesapal.ke", "R1", "succeeded", rec, "erp")
	dup.Notification = notification("ntf_2", "pesapal.ke", "PR-1:x")
	dup.Message, dup.ConfirmationCode = "second", "NEW"
	calls := rec.n()
	res := apply(t, s, dup)
	if !res.Duplicate || res.Changed || res.EventID != "" || rec.n() != calls {
		t.Errorf("duplicate notification gave %+v (payload calls +%d)", res, rec.n()-calls)
	}
	if res.Payment.ID != "pay_1" || res.Payment.Status != "failed" {
		t.Errorf("duplicate result payment = %s %s, want the current pay_1 failed", res.Payment.ID, res.Payment.Status)
	}
	p, err := s.Payment(ctx(t), "pay_1")
	check(t, err, "payment")
	if p.Status != "failed" || p.Message != "first" || p.ConfirmationCode != "" {
		t.Errorf("a duplicate changed the payment: %+v", p)
	}
	if n := len(allDeliveries(t, s)); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
	t.Run("same key under another provider is not a duplicate", func(t *testing.T) {
		c := change("clickpesa.tz", "R1", "succeeded", rec, "erp")
		c.CreateIfMissing = true
		c.Notification = notification("ntf_3", "clickpesa.tz", "PR-1:x")
		if res := apply(t, s, c); res.Duplicate || !res.Changed {
			t.Errorf("got %+v", res)
		}
	})
	t.Run("duplicate about an unknown payment", func(t *testing.T) {
		c := change("pesapal.ke", "R-OTHER", "succeeded", rec, "erp")
		c.Notification = notification("ntf_4", "pesapal.ke", "PR-1:x")
		res, err := s.ApplyStatus(ctx(t), c)
		check(t, err, "duplicate about an unknown payment")
		if !res.Duplicate || res.Payment.ID != "" {
			t.Errorf("got %+v, want a duplicate with no payment", res)
		}
	})
}

func testApplyStatusByProviderReference(t *testing.T, open Opener) {
	s := open(t)
	rec := &recorder{}
	p := payment("pay_1", "pesapal.ke", "R1", t0)
	p.ProviderReference = "TRK-1"
	createPayment(t, s, p)
	createPayment(t, s, payment("pay_2", "pesapal.ke", "R2", t0))
	c := change("pesapal.ke", "", "succeeded", rec, "erp")
	c.ProviderReference = "TRK-1"
	res := apply(t, s, c)
	if res.Payment.ID != "pay_1" || !res.Changed {
		t.Errorf("by provider reference: %+v", res)
	}
	other, err := s.Payment(ctx(t), "pay_2")
	check(t, err, "payment")
	if other.Status != "pending" {
		t.Errorf("another payment changed to %s", other.Status)
	}
}

// testApplyStatusBindsProviderReference: a notification naming our
// reference but another provider reference than the payment's is a
// mismatch that changes nothing (it is about another transaction, or
// forged); the provider's own answer to a query is not bound this way (a
// provider may hold several transactions for one reference).
func testApplyStatusBindsProviderReference(t *testing.T, open Opener) {
	s := open(t)
	rec := &recorder{}
	p := payment("pay_1", "azampay.tz", "R1", t0)
	p.ProviderReference = "TX-1"
	createPayment(t, s, p)
	c := change("azampay.tz", "R1", "succeeded", rec, "erp")
	c.ProviderReference = "TX-2"
	c.Notification = notification("ntf_1", "azampay.tz", "TX-2:succeeded")
	_, err := s.ApplyStatus(ctx(t), c)
	wantErrIs(t, err, state.ErrMismatch, "notification naming provider reference TX-2 for a TX-1 payment")
	if got, err := s.Payment(ctx(t), "pay_1"); err != nil || got.Status != "pending" || rec.n() != 0 {
		t.Fatalf("after the mismatch: %+v, %v, %d payloads; want nothing changed", got, err, rec.n())
	}
	// The refused notification was not recorded: the genuine one is not a duplicate.
	c.ProviderReference = "TX-1"
	c.Notification = notification("ntf_2", "azampay.tz", "TX-2:succeeded")
	if res := apply(t, s, c); !res.Changed || res.Duplicate {
		t.Fatalf("the matching notification: %+v", res)
	}
	q := change("azampay.tz", "R1", "succeeded", rec, "erp")
	q.Source, q.ProviderReference = state.SourceStatusQuery, "TX-9"
	if res := apply(t, s, q); res.Changed || res.EventID != "" {
		t.Fatalf("a query answer with another transaction: %+v", res)
	}
}

func testApplyStatusPayloadError(t *testing.T, open Opener) {
	s := open(t)
	createPayment(t, s, payment("pay_1", "pesapal.ke", "R1", t0))
	c := change("pesapal.ke", "R1", "succeeded", nil, "erp")
	boom := errors.New("boom")
	c.EventPayload = func(state.Payment, string, time.Time) ([]byte, error) { return nil, boom }
	c.Notification = notification("ntf_1", "pesapal.ke", "k")
	_, err := s.ApplyStatus(ctx(t), c)
	wantErrIs(t, err, boom, "apply with a failing payload")
	p, err := s.Payment(ctx(t), "pay_1")
	check(t, err, "payment")
	if p.Status != "pending" {
		t.Errorf("status %s after a failed ApplyStatus; nothing may change", p.Status)
	}
	rec := &recorder{}
	c.EventPayload = rec.payload
	if res := apply(t, s, c); res.Duplicate || !res.Changed {
		t.Errorf("retry after a failed ApplyStatus: %+v; the notification must not have been kept", res)
	}
}

// ---------------------------------------------------------------------------
// Idempotency

func testIdempotency(t *testing.T, open Opener) {
	s := open(t)
	rec, ok, err := s.ClaimIdempotencyKey(ctx(t), "k1", "hash1", t0)
	check(t, err, "claim")
	if !ok || rec.Key != "k1" || rec.RequestHash != "hash1" || rec.Done || !rec.CreatedAt.Equal(t0) {
		t.Fatalf("first claim = %+v, %v", rec, ok)
	}
	rec, ok, err = s.ClaimIdempotencyKey(ctx(t), "k1", "hash2", t0.Add(time.Second))
	check(t, err, "claim again")
	if ok || rec.RequestHash != "hash1" || rec.Done || !rec.CreatedAt.Equal(t0) {
		t.Fatalf("second claim = %+v, %v; want the first record, not claimed", rec, ok)
	}
	check(t, s.CompleteIdempotencyKey(ctx(t), "k1", 201, []byte(`{"id":"pay_1"}`), "pay_1"), "complete")
	rec, ok, err = s.ClaimIdempotencyKey(ctx(t), "k1", "hash1", t0)
	check(t, err, "claim after complete")
	if ok || !rec.Done || rec.StatusCode != 201 || string(rec.Body) != `{"id":"pay_1"}` || rec.PaymentID != "pay_1" {
		t.Fatalf("claim after complete = %+v, %v", rec, ok)
	}
	check(t, s.ReleaseIdempotencyKey(ctx(t), "k2"), "release an unknown key")
	_, ok, err = s.ClaimIdempotencyKey(ctx(t), "k2", "h", t0)
	check(t, err, "claim k2")
	if !ok {
		t.Fatal("claim of a new key not granted")
	}
	check(t, s.ReleaseIdempotencyKey(ctx(t), "k2"), "release")
	rec, ok, err = s.ClaimIdempotencyKey(ctx(t), "k2", "h2", t0)
	check(t, err, "claim after release")
	if !ok || rec.RequestHash != "h2" {
		t.Errorf("claim after release = %+v, %v; want a fresh claim", rec, ok)
	}
}

// testIdempotencyWithPayment: the key's claim and the payment row commit
// together, and so do the initiation's answer and the key's completion.
func testIdempotencyWithPayment(t *testing.T, open Opener) {
	s := open(t)
	p1 := payment("pay_idem1", "clickpesa.tz", "IDEM1", t0)
	rec, ok, err := s.ClaimKeyAndCreatePayment(ctx(t), "k1", "hash1", t0, p1)
	check(t, err, "claim k1 with a payment")
	if !ok || rec.Key != "k1" || rec.RequestHash != "hash1" || rec.Done || !rec.CreatedAt.Equal(t0) {
		t.Fatalf("claim with a payment = %+v, %v; want k1 claimed, in flight", rec, ok)
	}
	got, err := s.Payment(ctx(t), "pay_idem1")
	check(t, err, "read the payment written with the claim")
	equalPayment(t, got, p1)

	// A key already stored: its record, and nothing written.
	rec, ok, err = s.ClaimKeyAndCreatePayment(ctx(t), "k1", "hash2", t0.Add(time.Second), payment("pay_idem2", "clickpesa.tz", "IDEM2", t0))
	check(t, err, "claim k1 again")
	if ok || rec.RequestHash != "hash1" || rec.Done {
		t.Fatalf("second claim = %+v, %v; want the first record, not claimed", rec, ok)
	}
	if _, err := s.Payment(ctx(t), "pay_idem2"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("payment of a refused claim: got error %v, want ErrNotFound", err)
	}

	// A taken reference: ErrConflict, the key stays claimed for its answer.
	rec, ok, err = s.ClaimKeyAndCreatePayment(ctx(t), "k2", "hash3", t0, payment("pay_idem3", "clickpesa.tz", "IDEM1", t0))
	wantErrIs(t, err, state.ErrConflict, "claim k2 with a taken reference")
	if !ok || rec.Key != "k2" || rec.Done {
		t.Fatalf("claim with a taken reference = %+v, %v; want k2 claimed, in flight", rec, ok)
	}
	if _, err := s.Payment(ctx(t), "pay_idem3"); !errors.Is(err, state.ErrNotFound) {
		t.Fatalf("payment with a taken reference: got error %v, want ErrNotFound", err)
	}
	if rec, ok, err = s.ClaimIdempotencyKey(ctx(t), "k2", "hash3", t0); err != nil || ok || rec.Done {
		t.Fatalf("claim k2 after the conflict = %+v, %v, %v; want it in flight, not claimed again", rec, ok, err)
	}

	// An invalid payment: nothing claimed.
	if _, _, err := s.ClaimKeyAndCreatePayment(ctx(t), "k3", "hash4", t0, state.Payment{ID: "pay_idem4"}); err == nil {
		t.Fatal("claim with a payment without provider or reference: no error")
	}
	if _, ok, err := s.ClaimIdempotencyKey(ctx(t), "k3", "hash4", t0); err != nil || !ok {
		t.Fatalf("claim k3 after a refused payment = %v, %v; want a fresh claim", ok, err)
	}

	// The initiation's answer completes the key with what was recorded.
	calls := 0
	stored, err := s.RecordInitiation(ctx(t), "pay_idem1", state.PaymentInitiation{
		Status: "pending", ProviderReference: "CP-IDEM1", NextSyncAt: t0.Add(time.Minute),
		IdempotencyKey: "k1",
		Answer: func(p state.Payment) (int, []byte) {
			calls++
			return 201, []byte(`{"id":"` + p.ID + `","provider_reference":"` + p.ProviderReference + `"}`)
		},
	}, t0.Add(time.Second))
	check(t, err, "record the initiation and complete k1")
	if calls == 0 || stored.ProviderReference != "CP-IDEM1" {
		t.Fatalf("record with a key: %d answers built, payment %+v", calls, stored)
	}
	rec, ok, err = s.ClaimIdempotencyKey(ctx(t), "k1", "hash1", t0)
	check(t, err, "claim k1 after the initiation")
	if want := `{"id":"pay_idem1","provider_reference":"CP-IDEM1"}`; ok || !rec.Done || rec.StatusCode != 201 || string(rec.Body) != want || rec.PaymentID != "pay_idem1" {
		t.Fatalf("k1 after the initiation = %+v (body %s), %v; want done, 201, %s, pay_idem1", rec, rec.Body, ok, want)
	}

	// A key that is not claimed is not created by the completion.
	_, err = s.RecordInitiation(ctx(t), "pay_idem1", state.PaymentInitiation{
		Status: "pending", ProviderReference: "CP-IDEM1", NextSyncAt: t0.Add(time.Minute),
		IdempotencyKey: "k-none", Answer: func(state.Payment) (int, []byte) { return 201, []byte(`{}`) },
	}, t0.Add(2*time.Second))
	check(t, err, "record with a key that is not claimed")
	if _, ok, err := s.ClaimIdempotencyKey(ctx(t), "k-none", "h", t0); err != nil || !ok {
		t.Fatalf("claim k-none = %v, %v; want a fresh claim (the completion created nothing)", ok, err)
	}
}

// ---------------------------------------------------------------------------
// Outbox

// emit creates a payment and an event with one delivery per route, at t0+1m.
func emit(t testing.TB, s state.Store, ref string, routes ...string) string {
	t.Helper()
	c := change("pesapal.ke", ref, "succeeded", &recorder{}, routes...)
	c.CreateIfMissing = true
	return apply(t, s, c).EventID
}

func claim(t testing.TB, s state.Store, route, owner string, now time.Time, lease time.Duration, limit int) []state.Delivery {
	t.Helper()
	ds, err := s.ClaimDeliveries(context.Background(), route, owner, now, lease, limit)
	check(t, err, "claim deliveries")
	return ds
}

func deliveryIDs(ds []state.Delivery) []string {
	return idsOf(ds, func(d state.Delivery) string { return d.ID })
}

// testApplyStatusLeases: a change with Leases inserts those routes'
// deliveries leased (nobody else claims them until the lease ends, and
// the owner records its attempt without a claim) and hands every delivery
// back in the result, with its event; a route without a lease is claimable
// at once.
func testApplyStatusLeases(t *testing.T, open Opener) {
	s := open(t)
	rec := &recorder{}
	c := change("pesapal.ke", "R1", state.StatusSucceeded, rec, "erp", "crm")
	c.CreateIfMissing = true
	lease := state.Lease{Owner: "w1", Until: c.Now.Add(time.Minute)}
	c.Leases = map[string]state.Lease{"erp": lease}
	res := apply(t, s, c)
	if res.EventID == "" || len(res.Deliveries) != 2 {
		t.Fatalf("result: event %q, %d deliveries; want an event and 2 deliveries", res.EventID, len(res.Deliveries))
	}
	for i, want := range []struct {
		route string
		lease state.Lease
	}{{"erp", lease}, {"crm", state.Lease{}}} {
		d := res.Deliveries[i]
		if d.Route != want.route || d.Lease != want.lease || d.Status != state.DeliveryPending || d.EventID != res.EventID {
			t.Errorf("delivery %d = %s to %s, %s, lease %+v; want one to %s, pending, lease %+v", i, d.ID, d.Route, d.Status, d.Lease, want.route, want.lease)
		}
		if d.Event.ID != res.EventID || d.Event.Type != "payment.succeeded" || d.Event.PaymentID != res.Payment.ID || len(d.Event.Payload) == 0 {
			t.Errorf("delivery %d's event = %+v; want event %s with its payload", i, d.Event, res.EventID)
		}
	}
	if got := claim(t, s, "erp", "w2", c.Now, time.Minute, 10); len(got) != 0 {
		t.Errorf("another owner claimed %v while the lease holds", deliveryIDs(got))
	}
	if got := claim(t, s, "erp", "w1", c.Now, time.Minute, 10); len(got) != 0 {
		t.Errorf("the owner claimed %v again while its lease holds", deliveryIDs(got))
	}
	if got := claim(t, s, "crm", "w2", c.Now, time.Minute, 10); len(got) != 1 || got[0].ID != res.Deliveries[1].ID {
		t.Errorf("claim of the unleased route = %v, want %s", deliveryIDs(got), res.Deliveries[1].ID)
	}
	wantErrIs(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: res.Deliveries[0].ID, Owner: "w2", Status: state.DeliveryDelivered,
		Attempt: state.Attempt{At: c.Now, StatusCode: 204}}), state.ErrConflict, "record by an owner without the lease")
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: res.Deliveries[0].ID, Owner: "w1", Status: state.DeliveryPending,
		NextAt: c.Now.Add(time.Second), Attempt: state.Attempt{At: c.Now, StatusCode: 503}}), "record by the lease's owner")
	// Recorded, the lease is gone: the retry is anyone's when it is due.
	if got := claim(t, s, "erp", "w2", c.Now.Add(time.Second), time.Minute, 10); len(got) != 1 || got[0].Attempts != 1 {
		t.Errorf("claim of the retry = %+v, want the erp delivery after 1 attempt", got)
	}
	// A lease nobody records ends like a claim's: the delivery comes back.
	c2 := change("pesapal.ke", "R2", state.StatusSucceeded, rec, "erp")
	c2.CreateIfMissing = true
	c2.Leases = map[string]state.Lease{"erp": lease}
	res2 := apply(t, s, c2)
	if got := claim(t, s, "erp", "w2", lease.Until.Add(-time.Microsecond), time.Minute, 10); len(got) != 0 {
		t.Errorf("claimed %v before the lease ended", deliveryIDs(got))
	}
	if got := claim(t, s, "erp", "w2", lease.Until, time.Minute, 10); len(got) != 1 || got[0].ID != res2.Deliveries[0].ID {
		t.Errorf("claim when the lease ended = %v, want %s", deliveryIDs(got), res2.Deliveries[0].ID)
	}
	// A change that emits nothing hands nothing back.
	if res := apply(t, s, c2); res.EventID != "" || len(res.Deliveries) != 0 {
		t.Errorf("repeated change: event %q, %d deliveries; want none", res.EventID, len(res.Deliveries))
	}
}

func testClaimLease(t *testing.T, open Opener) {
	s := open(t)
	evID := emit(t, s, "R1", "erp", "crm")
	now := t0.Add(time.Minute)
	lease := time.Minute

	if ds := claim(t, s, "erp", "w1", now.Add(-time.Microsecond), lease, 10); len(ds) != 0 {
		t.Fatalf("claimed %d deliveries before they were due", len(ds))
	}
	ds := claim(t, s, "erp", "w1", now, lease, 10)
	if len(ds) != 1 || ds[0].Route != "erp" || ds[0].EventID != evID || ds[0].Event.ID != evID || len(ds[0].Event.Payload) == 0 || ds[0].Event.Type != "payment.succeeded" {
		t.Fatalf("claim = %+v; want the erp delivery with its event", ds)
	}
	d := ds[0]
	tests := []struct {
		name  string
		owner string
		at    time.Time
		want  int
	}{
		{"second owner while leased", "w2", now, 0},
		{"second owner just before lease end", "w2", now.Add(lease - time.Microsecond), 0},
		{"first owner again while leased", "w1", now.Add(time.Second), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := claim(t, s, "erp", tt.owner, tt.at, lease, 10); len(got) != tt.want {
				t.Errorf("claimed %d, want %d", len(got), tt.want)
			}
		})
	}
	// The crm delivery is its own route's.
	if got := claim(t, s, "crm", "w3", now, lease, 10); len(got) != 1 || got[0].Route != "crm" {
		t.Errorf("crm claim = %+v", got)
	}
	// The lease ends: a crashed owner's row comes back.
	after := now.Add(lease)
	got := claim(t, s, "erp", "w2", after, lease, 10)
	if len(got) != 1 || got[0].ID != d.ID {
		t.Fatalf("claim after the lease ended = %v, want %s", deliveryIDs(got), d.ID)
	}
	err := s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d.ID, Owner: "w1", Status: state.DeliveryDelivered,
		Attempt: state.Attempt{At: after, StatusCode: 200}})
	if err == nil {
		t.Fatal("the old owner recorded an attempt on a re-claimed delivery")
	}
	wantErrIs(t, err, state.ErrConflict, "record by a lost lease")
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d.ID, Owner: "w2", Status: state.DeliveryPending,
		NextAt: after.Add(5 * time.Minute), Attempt: state.Attempt{At: after, StatusCode: 503, Duration: 1500 * time.Millisecond, Error: "503"}}),
		"record a retry")
	if got := claim(t, s, "erp", "w1", after.Add(time.Minute), lease, 10); len(got) != 0 {
		t.Errorf("claimed a delivery before its retry time")
	}
	got = claim(t, s, "erp", "w1", after.Add(5*time.Minute), lease, 10)
	if len(got) != 1 || got[0].Attempts != 1 || got[0].LastStatusCode != 503 || got[0].LastError != "503" {
		t.Fatalf("claim at retry time = %+v", got)
	}
	sameTime(t, "next_attempt_at", got[0].NextAttemptAt, after.Add(5*time.Minute))
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d.ID, Owner: "w1", Status: state.DeliveryDelivered,
		Attempt: state.Attempt{At: after.Add(5 * time.Minute), StatusCode: 204}}), "record delivered")
	if got := claim(t, s, "erp", "w1", after.Add(24*time.Hour), lease, 10); len(got) != 0 {
		t.Errorf("claimed a delivered delivery")
	}
	_, _, atts, err := s.EventDetail(ctx(t), evID)
	check(t, err, "event detail")
	var erp []state.Attempt
	for _, a := range atts {
		if a.DeliveryID == d.ID {
			erp = append(erp, a)
		}
	}
	if len(erp) != 2 || erp[0].N != 1 || erp[1].N != 2 || erp[0].StatusCode != 503 || erp[1].StatusCode != 204 ||
		erp[0].Duration != 1500*time.Millisecond || erp[0].Error != "503" || !erp[0].At.Equal(after) {
		t.Errorf("attempts = %+v", erp)
	}
}

func testClaimOrderAndLimit(t *testing.T, open Opener) {
	s := open(t)
	var evs []string
	for i := range 3 {
		evs = append(evs, emit(t, s, fmt.Sprintf("R%d", i), "erp"))
	}
	now := t0.Add(time.Minute)
	// Give them different due times via a retry schedule: R0 later than R1, R2.
	ds := claim(t, s, "erp", "w", now, time.Minute, 10)
	if len(ds) != 3 {
		t.Fatalf("claimed %d, want 3", len(ds))
	}
	byEvent := map[string]state.Delivery{}
	for _, d := range ds {
		byEvent[d.EventID] = d
	}
	for i, off := range []time.Duration{3 * time.Second, 1 * time.Second, 2 * time.Second} {
		check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: byEvent[evs[i]].ID, Owner: "w", Status: state.DeliveryPending,
			NextAt: now.Add(off), Attempt: state.Attempt{At: now, StatusCode: 500}}), "record")
	}
	got := claim(t, s, "erp", "w", now.Add(time.Hour), time.Minute, 2)
	want := []string{byEvent[evs[1]].ID, byEvent[evs[2]].ID}
	if fmt.Sprint(deliveryIDs(got)) != fmt.Sprint(want) {
		t.Errorf("claim with limit 2 = %v, want the two earliest due %v", deliveryIDs(got), want)
	}
}

func testRecordAttempt(t *testing.T, open Opener) {
	s := open(t)
	emit(t, s, "R1", "erp")
	now := t0.Add(time.Minute)
	d := claim(t, s, "erp", "w1", now, time.Minute, 1)[0]
	tests := []struct {
		name    string
		r       state.AttemptResult
		wantErr error
	}{
		{"wrong owner", state.AttemptResult{DeliveryID: d.ID, Owner: "w2", Status: state.DeliveryDelivered}, state.ErrConflict},
		{"no owner", state.AttemptResult{DeliveryID: d.ID, Status: state.DeliveryDelivered}, state.ErrConflict},
		{"unknown delivery", state.AttemptResult{DeliveryID: "dlv_nope", Owner: "w1", Status: state.DeliveryDelivered}, state.ErrNotFound},
		{"bad status", state.AttemptResult{DeliveryID: d.ID, Owner: "w1", Status: "weird"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.RecordAttempt(ctx(t), tt.r)
			if err == nil {
				t.Fatal("succeeded")
			}
			if tt.wantErr != nil {
				wantErrIs(t, err, tt.wantErr, "record attempt")
			}
		})
	}
	_, dels, atts, err := s.EventDetail(ctx(t), d.EventID)
	check(t, err, "event detail")
	if len(atts) != 0 || dels[0].Attempts != 0 || dels[0].Status != state.DeliveryPending {
		t.Fatalf("failed RecordAttempts changed something: %+v %+v", dels, atts)
	}
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d.ID, Owner: "w1", Status: state.DeliveryDead,
		Attempt: state.Attempt{At: now, StatusCode: 410, Error: "gone"}}), "record dead")
	_, dels, _, err = s.EventDetail(ctx(t), d.EventID)
	check(t, err, "event detail")
	if dels[0].Status != state.DeliveryDead || dels[0].Attempts != 1 || dels[0].LastStatusCode != 410 || dels[0].LastError != "gone" {
		t.Errorf("after dead: %+v", dels[0])
	}
	if err := s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d.ID, Owner: "w1", Status: state.DeliveryDelivered}); err == nil {
		t.Error("a second RecordAttempt without a new claim succeeded; the first released the lease")
	}
}

// testRecordAttempts: a batch records each attempt as RecordAttempt
// would, in order; the failures of some change nothing of theirs and do
// not hold back the others.
func testRecordAttempts(t *testing.T, open Opener) {
	s := open(t)
	for i := range 4 {
		emit(t, s, fmt.Sprintf("R%d", i), "erp")
	}
	now := t0.Add(time.Minute)
	ds := claim(t, s, "erp", "w1", now, time.Minute, 3)
	other := claim(t, s, "erp", "w2", now, time.Minute, 1)
	if len(ds) != 3 || len(other) != 1 {
		t.Fatalf("claimed %d and %d, want 3 and 1", len(ds), len(other))
	}
	retryAt := now.Add(10 * time.Minute)
	rs := []state.AttemptResult{
		{DeliveryID: ds[0].ID, Owner: "w1", Status: state.DeliveryDelivered, Attempt: state.Attempt{At: now, StatusCode: 204, Duration: time.Millisecond}},
		{DeliveryID: ds[1].ID, Owner: "w1", Status: state.DeliveryPending, NextAt: retryAt, Attempt: state.Attempt{At: now, StatusCode: 503, Error: "busy"}},
		{DeliveryID: "dlv_nope", Owner: "w1", Status: state.DeliveryDelivered},
		{DeliveryID: other[0].ID, Owner: "w1", Status: state.DeliveryDelivered},
		{DeliveryID: ds[0].ID, Owner: "w1", Status: state.DeliveryDelivered}, // its lease went with the first
		{DeliveryID: ds[2].ID, Owner: "w1", Status: "weird"},
	}
	errs, claimed, err := s.RecordAttempts(ctx(t), rs, state.Claim{})
	check(t, err, "record attempts")
	if len(errs) != len(rs) || len(claimed) != 0 {
		t.Fatalf("got %d errors and %d claimed, want %d and 0", len(errs), len(claimed), len(rs))
	}
	wants := []error{nil, nil, state.ErrNotFound, state.ErrConflict, state.ErrConflict}
	for i, want := range wants {
		switch {
		case want == nil && errs[i] != nil:
			t.Errorf("result %d: %v", i, errs[i])
		case want != nil:
			wantErrIs(t, errs[i], want, fmt.Sprintf("result %d", i))
		}
	}
	if errs[5] == nil {
		t.Error("result 5 with an unknown status succeeded")
	}
	byID := map[string]state.Delivery{}
	for _, d := range allDeliveries(t, s) {
		byID[d.ID] = d
	}
	if d := byID[ds[0].ID]; d.Status != state.DeliveryDelivered || d.Attempts != 1 || d.LastStatusCode != 204 {
		t.Errorf("delivered one: %+v", d)
	}
	if d := byID[ds[1].ID]; d.Status != state.DeliveryPending || d.Attempts != 1 || d.LastError != "busy" {
		t.Errorf("retried one: %+v", d)
	} else {
		sameTime(t, "next_attempt_at", d.NextAttemptAt, retryAt)
	}
	for _, id := range []string{ds[2].ID, other[0].ID} {
		if d := byID[id]; d.Status != state.DeliveryPending || d.Attempts != 0 {
			t.Errorf("%s changed by a failed result: %+v", id, d)
		}
	}
	// Their leases are still held: nobody else can claim them, and their
	// owners can still record.
	if got := claim(t, s, "erp", "w3", now.Add(time.Second), time.Minute, 10); len(got) != 0 {
		t.Errorf("claimed %v, leased to w1 and w2", deliveryIDs(got))
	}
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: other[0].ID, Owner: "w2", Status: state.DeliveryDelivered,
		Attempt: state.Attempt{At: now, StatusCode: 200}}), "record by the lease holder")
	var n int
	for _, d := range allDeliveries(t, s) {
		_, _, atts, err := s.EventDetail(ctx(t), d.EventID)
		check(t, err, "event detail")
		n += len(atts)
	}
	if n != 3 {
		t.Errorf("%d attempts stored, want 3", n)
	}
	// Nothing to record and nothing to claim: no error, nothing returned.
	errs, claimed, err = s.RecordAttempts(ctx(t), nil, state.Claim{})
	check(t, err, "record nothing")
	if len(errs) != 0 || len(claimed) != 0 {
		t.Errorf("empty batch: %v, %v", errs, claimed)
	}
}

// testRecordAttemptsClaim: the claim made with a batch is what
// ClaimDeliveries would have claimed, in the same transaction; when the
// claim cannot be made, nothing is recorded either.
func testRecordAttemptsClaim(t *testing.T, open Opener) {
	s := open(t)
	var evs []string
	for i := range 5 {
		evs = append(evs, emit(t, s, fmt.Sprintf("R%d", i), "erp"))
	}
	emit(t, s, "C1", "crm")
	now := t0.Add(time.Minute)
	first := claim(t, s, "erp", "w1", now, time.Minute, 2)
	if len(first) != 2 {
		t.Fatalf("claimed %d, want 2", len(first))
	}
	done := state.AttemptResult{DeliveryID: first[0].ID, Owner: "w1", Status: state.DeliveryDelivered, Attempt: state.Attempt{At: now, StatusCode: 200}}

	// A claim that cannot be made (no owner) fails the whole call.
	_, _, err := s.RecordAttempts(ctx(t), []state.AttemptResult{done}, state.Claim{Route: "erp", Now: now, Lease: time.Minute, Limit: 2})
	if err == nil {
		t.Fatal("a claim without an owner succeeded")
	}
	if _, dels, _, err := s.EventDetail(ctx(t), first[0].EventID); err != nil || dels[0].Attempts != 0 {
		t.Fatalf("the failed call recorded: %+v %v", dels, err)
	}

	errs, claimed, err := s.RecordAttempts(ctx(t), []state.AttemptResult{done},
		state.Claim{Route: "erp", Owner: "w1", Now: now, Lease: time.Minute, Limit: 2})
	check(t, err, "record and claim")
	check(t, errs[0], "the recorded attempt")
	if len(claimed) != 2 {
		t.Fatalf("claimed %v, want 2", deliveryIDs(claimed))
	}
	// The earliest due of the route, not those leased already, each with
	// its event.
	for i, d := range claimed {
		if d.Route != "erp" || d.Status != state.DeliveryPending || d.EventID != evs[i+2] || d.Event.ID != evs[i+2] ||
			len(d.Event.Payload) == 0 || d.Event.Type == "" || d.Event.CreatedAt.IsZero() {
			t.Errorf("claimed[%d] = %+v, want the delivery of %s with its event", i, d, evs[i+2])
		}
	}
	if _, dels, _, err := s.EventDetail(ctx(t), first[0].EventID); err != nil || dels[0].Status != state.DeliveryDelivered {
		t.Fatalf("not recorded: %+v %v", dels, err)
	}
	// Leased to w1: another owner finds only the last one.
	if got := claim(t, s, "erp", "w2", now, time.Minute, 10); len(got) != 1 || got[0].EventID != evs[4] {
		t.Errorf("w2 claimed %v, want only the delivery of %s", deliveryIDs(got), evs[4])
	}
	// A zero limit claims nothing; a claim alone works too.
	_, claimed, err = s.RecordAttempts(ctx(t), nil, state.Claim{Route: "crm", Owner: "w1", Now: now, Lease: time.Minute})
	check(t, err, "claim nothing")
	if len(claimed) != 0 {
		t.Errorf("a zero limit claimed %v", deliveryIDs(claimed))
	}
	_, claimed, err = s.RecordAttempts(ctx(t), nil, state.Claim{Route: "crm", Owner: "w1", Now: now, Lease: time.Minute, Limit: 5})
	check(t, err, "claim alone")
	if len(claimed) != 1 || claimed[0].Route != "crm" {
		t.Errorf("claimed %+v, want the crm delivery", claimed)
	}
}

// testReleaseLeases: the leases of owners the predicate calls dead are
// released (and only live leases, only pending deliveries); everything
// else about every delivery stays as it was.
func testReleaseLeases(t *testing.T, open Opener) {
	s := open(t)
	for i := range 8 {
		emit(t, s, fmt.Sprintf("R%d", i), "erp")
	}
	emit(t, s, "C1", "crm")
	now := t0.Add(time.Minute)
	hour := time.Hour

	// Ended before the release: one delivered and one dead, both by an
	// owner the predicate calls dead.
	ended := claim(t, s, "erp", "dead-w", now, hour, 2)
	if len(ended) != 2 {
		t.Fatalf("claimed %d, want 2", len(ended))
	}
	for i, status := range []string{state.DeliveryDelivered, state.DeliveryDead} {
		check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: ended[i].ID, Owner: "dead-w", Status: status,
			Attempt: state.Attempt{At: now, StatusCode: 200 + 210*i}}), "record "+status)
	}
	deadA := append(claim(t, s, "erp", "dead-a", now, hour, 2), claim(t, s, "crm", "dead-a", now, hour, 1)...)
	live := claim(t, s, "erp", "live", now, hour, 1)
	deadB := claim(t, s, "erp", "dead-b", now, hour, 1)
	expired := claim(t, s, "erp", "dead-c", now, time.Minute, 1) // its lease ends before the release
	if len(deadA) != 3 || len(live) != 1 || len(deadB) != 1 || len(expired) != 1 {
		t.Fatalf("claimed %d, %d, %d, %d; want 3, 1, 1, 1", len(deadA), len(live), len(deadB), len(expired))
	}
	before := allDeliveries(t, s)

	at := now.Add(2 * time.Minute)
	asked := map[string]int{}
	dead := func(owner string) bool {
		asked[owner]++
		return strings.HasPrefix(owner, "dead-")
	}
	released, err := s.ReleaseLeases(ctx(t), at, dead)
	check(t, err, "release leases")
	if want := map[string]int{"dead-a": 3, "dead-b": 1}; !maps.Equal(released, want) {
		t.Errorf("released %v, want %v (only live leases of dead owners, per owner)", released, want)
	}
	for owner, n := range asked {
		if n != 1 || owner == "" {
			t.Errorf("dead(%q) called %d times, want once per owner of a live lease", owner, n)
		}
	}
	if asked["live"] != 1 {
		t.Errorf("dead was not asked about the live owner; asked %v", asked)
	}

	// Nothing a caller sees changed: status, attempts, due time, history.
	after := allDeliveries(t, s)
	type seen struct {
		Status                string
		Attempts, LastCode    int
		Next, Updated         time.Time
		LastError, Route, Evt string
	}
	view := func(ds []state.Delivery) map[string]seen {
		m := map[string]seen{}
		for _, d := range ds {
			m[d.ID] = seen{d.Status, d.Attempts, d.LastStatusCode, d.NextAttemptAt.UTC(), d.UpdatedAt.UTC(), d.LastError, d.Route, d.EventID}
		}
		return m
	}
	if b, a := view(before), view(after); !maps.Equal(b, a) {
		t.Errorf("deliveries changed by the release:\nbefore %+v\nafter  %+v", b, a)
	}

	// The released deliveries (and the expired lease and the free one) are
	// claimable at once by another owner; the live owner's lease holds.
	freeIDs := map[string]bool{}
	for _, d := range before {
		freeIDs[d.ID] = true
	}
	for _, ds := range [][]state.Delivery{ended, deadA, live, deadB, expired} {
		for _, d := range ds {
			delete(freeIDs, d.ID)
		}
	}
	if len(freeIDs) != 1 {
		t.Fatalf("%d unclaimed deliveries, want 1", len(freeIDs))
	}
	want := append(deliveryIDs(deadA[:2]), deliveryIDs(deadB)...)
	want = append(want, deliveryIDs(expired)...)
	want = append(want, slices.Collect(maps.Keys(freeIDs))...)
	got := deliveryIDs(claim(t, s, "erp", "w2", at, hour, 10))
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("erp claimed after the release = %v, want %v (released, expired and free; not the live lease)", got, want)
	}
	if got := claim(t, s, "crm", "w2", at, hour, 10); len(got) != 1 || got[0].ID != deadA[2].ID {
		t.Errorf("crm claimed after the release = %v, want %s", deliveryIDs(got), deadA[2].ID)
	}
	wantErrIs(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: deadB[0].ID, Owner: "dead-b", Status: state.DeliveryDelivered}),
		state.ErrConflict, "record by a released owner")
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: live[0].ID, Owner: "live", Status: state.DeliveryDelivered,
		Attempt: state.Attempt{At: at, StatusCode: 204}}), "record by the live owner, whose lease was kept")

	// Again: nothing left to release (w2's leases are not dead).
	released, err = s.ReleaseLeases(ctx(t), at, dead)
	check(t, err, "release leases again")
	if len(released) != 0 {
		t.Errorf("second release = %v, want none", released)
	}
	if _, err := s.ReleaseLeases(ctx(t), at, nil); err == nil {
		t.Error("ReleaseLeases with no predicate succeeded")
	}
}

func testListDeliveries(t *testing.T, open Opener) {
	s := open(t)
	e1 := emit(t, s, "R1", "erp")
	e2 := emit(t, s, "R2", "erp", "crm")
	// Later creation time for R3 so newest-first is by time, not insertion alone.
	c := change("pesapal.ke", "R3", "succeeded", &recorder{}, "crm")
	c.CreateIfMissing, c.Now = true, t0.Add(time.Hour)
	e3 := apply(t, s, c).EventID
	d := claim(t, s, "erp", "w", t0.Add(time.Minute), time.Minute, 1)[0] // e1's
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d.ID, Owner: "w", Status: state.DeliveryDelivered,
		Attempt: state.Attempt{At: t0, StatusCode: 200}}), "record")

	events := func(ds []state.Delivery) string {
		var out []string
		for _, d := range ds {
			if d.Event.ID != d.EventID || len(d.Event.Payload) == 0 {
				t.Errorf("delivery %s has no event filled: %+v", d.ID, d.Event)
			}
			name := map[string]string{e1: "e1", e2: "e2", e3: "e3"}[d.EventID]
			out = append(out, name+"/"+d.Route)
		}
		return fmt.Sprint(out)
	}
	tests := []struct {
		name string
		f    state.EventFilter
		want string
	}{
		{"all", state.EventFilter{}, "[e3/crm e2/crm e2/erp e1/erp]"},
		{"route", state.EventFilter{Route: "erp"}, "[e2/erp e1/erp]"},
		{"status", state.EventFilter{Status: state.DeliveryDelivered}, "[e1/erp]"},
		{"route and status", state.EventFilter{Route: "crm", Status: state.DeliveryPending}, "[e3/crm e2/crm]"},
		{"limit", state.EventFilter{Limit: 1}, "[e3/crm]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, err := s.ListDeliveries(ctx(t), tt.f)
			check(t, err, "list deliveries")
			if got := events(ds); got != tt.want {
				t.Errorf("ListDeliveries(%+v) = %s, want %s", tt.f, got, tt.want)
			}
		})
	}
}

func testEventDetail(t *testing.T, open Opener) {
	s := open(t)
	ev := emit(t, s, "R1", "a", "b")
	now := t0.Add(time.Minute)
	for i, route := range []string{"b", "a"} {
		d := claim(t, s, route, "w", now, time.Minute, 1)[0]
		for n := range 2 {
			status := state.DeliveryPending
			if n == 1 {
				status = state.DeliveryDead
			}
			check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d.ID, Owner: "w", Status: status, NextAt: now,
				Attempt: state.Attempt{At: now.Add(time.Duration(i*10+n) * time.Second), StatusCode: 500 + n}}), "record")
			if n == 0 {
				claim(t, s, route, "w", now, time.Minute, 1)
			}
		}
	}
	e, dels, atts, err := s.EventDetail(ctx(t), ev)
	check(t, err, "event detail")
	if e.ID != ev || len(dels) != 2 || len(atts) != 4 {
		t.Fatalf("detail = %s, %d deliveries, %d attempts", e.ID, len(dels), len(atts))
	}
	pos := map[string]int{}
	for i, d := range dels {
		pos[d.ID] = i
		if d.Event.ID != ev {
			t.Errorf("delivery %s has no event filled", d.ID)
		}
	}
	for i := 1; i < len(atts); i++ {
		a, b := atts[i-1], atts[i]
		if pos[a.DeliveryID] > pos[b.DeliveryID] || (a.DeliveryID == b.DeliveryID && a.N >= b.N) {
			t.Errorf("attempts not grouped by delivery in order: %+v", atts)
		}
	}
	_, _, _, err = s.EventDetail(ctx(t), "evt_nope")
	wantErrIs(t, err, state.ErrNotFound, "detail of an unknown event")
}

func testReplayEvent(t *testing.T, open Opener) {
	s := open(t)
	ev := emit(t, s, "R1", "erp", "crm")
	now := t0.Add(time.Minute)
	for _, route := range []string{"erp", "crm"} {
		d := claim(t, s, route, "w", now, time.Minute, 1)[0]
		check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d.ID, Owner: "w", Status: state.DeliveryDead,
			Attempt: state.Attempt{At: now, StatusCode: 410}}), "record dead")
	}
	later := t0.Add(time.Hour)
	check(t, s.ReplayEvent(ctx(t), ev, later), "replay")
	_, dels, atts, err := s.EventDetail(ctx(t), ev)
	check(t, err, "event detail")
	for _, d := range dels {
		if d.Status != state.DeliveryPending || d.Attempts != 0 {
			t.Errorf("after replay: %+v", d)
		}
		sameTime(t, "next_attempt_at after replay", d.NextAttemptAt, later)
	}
	if len(atts) != 2 {
		t.Errorf("%d attempts after replay, want the 2 kept", len(atts))
	}
	d := claim(t, s, "erp", "w1", later, time.Minute, 10)
	if len(d) != 1 {
		t.Fatalf("claimed %d after replay, want 1", len(d))
	}
	// A replay while a worker holds the lease takes the delivery back.
	check(t, s.ReplayEvent(ctx(t), ev, later), "replay while leased")
	if got := claim(t, s, "erp", "w2", later, time.Minute, 10); len(got) != 1 {
		t.Errorf("after a replay the lease is gone; claimed %d", len(got))
	}
	err = s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d[0].ID, Owner: "w1", Status: state.DeliveryDelivered})
	wantErrIs(t, err, state.ErrConflict, "record by the owner from before the replay")
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d[0].ID, Owner: "w2", Status: state.DeliveryDelivered,
		Attempt: state.Attempt{At: later}}), "record after replay")
	_, _, atts, err = s.EventDetail(ctx(t), ev)
	check(t, err, "event detail")
	last := atts[len(atts)-1]
	for _, a := range atts {
		if a.DeliveryID == d[0].ID {
			last = a
		}
	}
	if last.N != 1 {
		t.Errorf("first attempt after replay has N=%d, want 1 (budget restarted)", last.N)
	}
	wantErrIs(t, s.ReplayEvent(ctx(t), "evt_nope", later), state.ErrNotFound, "replay an unknown event")
}

func testNextDue(t *testing.T, open Opener) {
	s := open(t)
	next := func(route string) time.Time {
		t.Helper()
		at, err := s.NextDue(ctx(t), route)
		check(t, err, "next due")
		return at
	}
	if at := next("erp"); !at.IsZero() {
		t.Errorf("next due with nothing queued = %v, want zero", at)
	}
	emit(t, s, "R1", "erp")
	emit(t, s, "R2", "erp")
	now := t0.Add(time.Minute)
	sameTime(t, "next due", next("erp"), now)
	if at := next("crm"); !at.IsZero() {
		t.Errorf("next due of another route = %v, want zero", at)
	}
	ds := claim(t, s, "erp", "w", now, time.Minute, 10)
	sameTime(t, "next due while both are leased (lease end)", next("erp"), now.Add(time.Minute))
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: ds[0].ID, Owner: "w", Status: state.DeliveryPending,
		NextAt: now.Add(30 * time.Second), Attempt: state.Attempt{At: now}}), "record retry")
	sameTime(t, "next due after a retry", next("erp"), now.Add(30*time.Second))
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: ds[1].ID, Owner: "w", Status: state.DeliveryDelivered,
		Attempt: state.Attempt{At: now}}), "record delivered")
	d := claim(t, s, "erp", "w", now.Add(time.Hour), time.Minute, 10)
	check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d[0].ID, Owner: "w", Status: state.DeliveryDead,
		Attempt: state.Attempt{At: now}}), "record dead")
	if at := next("erp"); !at.IsZero() {
		t.Errorf("next due with nothing pending = %v, want zero", at)
	}
}

func testStats(t *testing.T, open Opener) {
	s := open(t)
	st, err := s.Stats(ctx(t))
	check(t, err, "stats")
	if st.Pending != 0 || !st.OldestPending.IsZero() {
		t.Errorf("empty stats = %+v", st)
	}
	emit(t, s, "R1", "erp", "crm")
	c := change("pesapal.ke", "R2", "succeeded", &recorder{}, "erp")
	c.CreateIfMissing, c.Now = true, t0.Add(time.Hour)
	apply(t, s, c)
	st, err = s.Stats(ctx(t))
	check(t, err, "stats")
	if st.Pending != 3 {
		t.Errorf("pending = %d, want 3", st.Pending)
	}
	sameTime(t, "oldest pending", st.OldestPending, t0.Add(time.Minute))
	for _, d := range claim(t, s, "erp", "w", t0.Add(2*time.Hour), time.Minute, 10) {
		check(t, s.RecordAttempt(ctx(t), state.AttemptResult{DeliveryID: d.ID, Owner: "w", Status: state.DeliveryDelivered,
			Attempt: state.Attempt{At: t0}}), "record")
	}
	st, err = s.Stats(ctx(t))
	check(t, err, "stats")
	if st.Pending != 1 {
		t.Errorf("pending after delivering erp = %d, want 1", st.Pending)
	}
}

// ---------------------------------------------------------------------------
// Concurrency

func testConcurrentApply(t *testing.T, open Opener) {
	s := open(t)
	rec := &recorder{}
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		results []state.StatusResult
		errs    []error
	)
	for i := range n {
		wg.Go(func() {
			c := change("clickpesa.tz", "ORDER-C", "succeeded", rec, "erp", "crm")
			c.CreateIfMissing = true
			c.Notification = notification(fmt.Sprintf("ntf_c%d", i), "clickpesa.tz", "CP-C:succeeded")
			res, err := s.ApplyStatus(context.Background(), c)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
				return
			}
			results = append(results, res)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d concurrent ApplyStatus calls failed, first: %v", len(errs), errs[0])
	}
	var fresh, dups int
	events := map[string]bool{}
	for _, r := range results {
		if r.Duplicate {
			dups++
		} else {
			fresh++
		}
		if r.EventID != "" {
			events[r.EventID] = true
		}
	}
	if fresh != 1 || dups != n-1 || len(events) != 1 {
		t.Errorf("%d fresh, %d duplicates, %d events; want 1, %d, 1", fresh, dups, len(events), n-1)
	}
	if ds := allDeliveries(t, s); len(ds) != 2 {
		t.Errorf("%d deliveries, want 2", len(ds))
	}
	ps, err := s.ListPayments(ctx(t), state.PaymentFilter{})
	check(t, err, "list")
	if len(ps) != 1 {
		t.Errorf("%d payments, want 1", len(ps))
	}
}

// testConcurrentChanges: many verified statements with different dedup
// keys (so all get past the inbox) race to settle one existing payment;
// exactly one sees the change and emits the event.
func testConcurrentChanges(t *testing.T, open Opener) {
	s := open(t)
	createPayment(t, s, payment("pay_1", "azampay.tz", "R1", t0))
	rec := &recorder{}
	const n = 20
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		changed int
		events  = map[string]bool{}
	)
	for i := range n {
		wg.Go(func() {
			c := change("azampay.tz", "R1", "succeeded", rec, "erp")
			c.Notification = notification(fmt.Sprintf("ntf_%d", i), "azampay.tz", fmt.Sprintf("k%d", i))
			res, err := s.ApplyStatus(context.Background(), c)
			if err != nil {
				t.Errorf("apply %d: %v", i, err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if res.Changed {
				changed++
			}
			if res.EventID != "" {
				events[res.EventID] = true
			}
		})
	}
	wg.Wait()
	if changed != 1 || len(events) != 1 || rec.n() != 1 {
		t.Errorf("%d changed, %d events, %d payloads built; want exactly one each", changed, len(events), rec.n())
	}
	if ds := allDeliveries(t, s); len(ds) != 1 {
		t.Errorf("%d deliveries, want 1", len(ds))
	}
}

func testConcurrentClaims(t *testing.T, open Opener) {
	s := open(t)
	const events = 30
	for i := range events {
		emit(t, s, fmt.Sprintf("R%d", i), "erp")
	}
	now := t0.Add(time.Minute)
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		claimed []string
		errs    []error
	)
	for w := range 4 {
		wg.Go(func() {
			owner := fmt.Sprintf("w%d", w)
			for {
				ds, err := s.ClaimDeliveries(context.Background(), "erp", owner, now, time.Hour, 3)
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				claimed = append(claimed, deliveryIDs(ds)...)
				mu.Unlock()
				for _, d := range ds {
					if err := s.RecordAttempt(context.Background(), state.AttemptResult{DeliveryID: d.ID, Owner: owner,
						Status: state.DeliveryDelivered, Attempt: state.Attempt{At: now, StatusCode: 200}}); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
				}
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d errors, first: %v", len(errs), errs[0])
	}
	sort.Strings(claimed)
	for i := 1; i < len(claimed); i++ {
		if claimed[i] == claimed[i-1] {
			t.Errorf("delivery %s claimed twice", claimed[i])
		}
	}
	if len(claimed) != events {
		t.Errorf("claimed %d deliveries, want %d", len(claimed), events)
	}
}

func testPingClose(t *testing.T, open Opener) {
	s := open(t)
	check(t, s.Ping(ctx(t)), "ping")
	check(t, s.Close(), "close")
	check(t, s.Close(), "close again")
	if err := s.Ping(ctx(t)); err == nil {
		t.Error("ping after close succeeded")
	}
}

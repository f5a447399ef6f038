package sqlite_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
)

// durabilityEnv names the state file the helper process writes to.
const durabilityEnv = "FINCONNECTD_SQLITE_DURABILITY_HELPER"

// TestDurabilityHelper is not a test: run by TestDurableAfterKill in a
// child process, it applies statuses forever and prints each committed
// payment and event ID.
func TestDurabilityHelper(t *testing.T) {
	path := os.Getenv(durabilityEnv)
	if path == "" {
		t.Skip("helper process for TestDurableAfterKill")
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		ref := fmt.Sprintf("R%06d", i)
		res, err := s.ApplyStatus(ctx, state.StatusChange{
			Provider: "clickpesa.tz", Reference: ref, Status: "succeeded", CreateIfMissing: true, Amount: "100", Currency: "TZS",
			Notification: &state.Notification{Route: "cp", DedupKey: ref + ":succeeded", Body: []byte(`{"ok":true}`)},
			EventType:    "payment.succeeded", Routes: []string{"erp", "crm"},
			EventPayload: func(p state.Payment, id string, _ time.Time) ([]byte, error) {
				return []byte(`{"event_id":"` + id + `"}`), nil
			},
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, "apply:", err)
			os.Exit(2)
		}
		// Printed only after ApplyStatus returned: the write is committed.
		fmt.Printf("committed %s %s %s\n", ref, res.Payment.ID, res.EventID)
	}
}

// TestDurableAfterKill SIGKILLs a process mid-stream of ApplyStatus calls
// and checks that every write it reported as committed is in the file.
func TestDurableAfterKill(t *testing.T) {
	if os.Getenv(durabilityEnv) != "" {
		t.Skip("in the helper process")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestDurabilityHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), durabilityEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type committed struct{ ref, paymentID, eventID string }
	var seen []committed
	sc := bufio.NewScanner(out)
	killed := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 4 || f[0] != "committed" {
			continue // go test's own output
		}
		seen = append(seen, committed{f[1], f[2], f[3]})
		if len(seen) == 150 && !killed {
			// Mid-stream: the helper is inside its next transaction or
			// between two; either way what it printed must survive.
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	_ = cmd.Wait()
	if !killed {
		t.Fatalf("helper stopped after %d writes before being killed; stderr:\n%s", len(seen), stderr.String())
	}
	if st := cmd.ProcessState; st == nil || st.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("helper was not killed by SIGKILL: %v", cmd.ProcessState)
	}
	t.Logf("helper printed %d committed writes before it died", len(seen))

	s := openPath(t, path)
	for _, c := range seen {
		p, err := s.PaymentByReference(t.Context(), "clickpesa.tz", c.ref)
		if err != nil {
			t.Errorf("committed payment %s lost: %v", c.ref, err)
			continue
		}
		if p.ID != c.paymentID || p.Status != "succeeded" {
			t.Errorf("payment %s = %s %s, want %s succeeded", c.ref, p.ID, p.Status, c.paymentID)
		}
		_, dels, _, err := s.EventDetail(t.Context(), c.eventID)
		if err != nil || len(dels) != 2 {
			t.Errorf("committed event %s: %d deliveries, %v; want 2", c.eventID, len(dels), err)
		}
	}
	// The file is consistent, and a notification committed before the
	// kill is still a duplicate.
	res, err := s.ApplyStatus(t.Context(), state.StatusChange{
		Provider: "clickpesa.tz", Reference: seen[0].ref, Status: "succeeded",
		Notification: &state.Notification{Route: "cp", DedupKey: seen[0].ref + ":succeeded"},
	})
	if err != nil || !res.Duplicate {
		t.Errorf("re-sent notification after the kill: %+v, %v; want a duplicate", res, err)
	}
}

package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestDueQueryPlans: the due queries (payments to sync, deliveries to
// claim, the next due delivery) search the partial indexes of open rows
// in order, without sorting.
func TestDueQueryPlans(t *testing.T) {
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "state.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for _, tc := range []struct {
		name, query, index string
		args               []any
	}{
		{"due payments", `SELECT id FROM payments` + duePayments, "payments_due", []any{0, 10}},
		{"due deliveries", dueDeliveries, "deliveries_due", []any{"r", 0, 0, 10}},
		{"next due delivery", nextDue, "deliveries_due", []any{"r"}},
	} {
		rows, err := s.r.Query("EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if !strings.Contains(got, "USING INDEX "+tc.index) || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("%s: plan %q, want a search of %s without a sort", tc.name, got, tc.index)
		}
	}
}

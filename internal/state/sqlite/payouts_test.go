package sqlite_test

import (
	"database/sql"
	"testing"

	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/sqlite"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

func TestPayoutConformance(t *testing.T) {
	statetest.RunPayouts(t, func(t *testing.T) state.Store { return openTemp(t) },
		// A second store on the same file: another process.
		func(t *testing.T, first state.Store) state.Store { return openPath(t, first.(*sqlite.Store).Path()) })
}

func TestAuditIsAppendOnly(t *testing.T) {
	s := openTemp(t)
	if err := s.AppendAudit(t.Context(), state.AuditEntry{Action: "payout.create", Result: "created"}); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", sqlite.FileURI(s.Path()))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, q := range []string{`UPDATE audit SET result = 'x'`, `DELETE FROM audit`} {
		if _, err := db.ExecContext(t.Context(), q); err == nil {
			t.Errorf("%s: succeeded; the audit trail must refuse it", q)
		}
	}
}

package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/finconnectd/finconnectd/internal/secret"
	"github.com/finconnectd/finconnectd/internal/state"
	"github.com/finconnectd/finconnectd/internal/state/postgres"
	"github.com/finconnectd/finconnectd/internal/state/statetest"
)

func TestPayoutConformance(t *testing.T) {
	var schemas sync.Map // *postgres.Store -> schema
	open := func(t *testing.T) state.Store {
		schema := randomSchema()
		s := openSchema(t, schema)
		schemas.Store(s, schema)
		return s
	}
	// A second store on the first one's schema: another replica.
	open2 := func(t *testing.T, first state.Store) state.Store {
		schema, ok := schemas.Load(first)
		if !ok {
			t.Fatal("second store: unknown first store")
		}
		s, err := postgres.Open(context.Background(), secret.New(testDSN()), postgres.Options{Schema: schema.(string), MaxConns: 6})
		if err != nil {
			t.Fatalf("open a second store: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	statetest.RunPayouts(t, open, open2)
}

func TestAuditIsAppendOnly(t *testing.T) {
	schema := randomSchema()
	s := openSchema(t, schema)
	if err := s.AppendAudit(t.Context(), state.AuditEntry{Action: "payout.create", Result: "created"}); err != nil {
		t.Fatal(err)
	}
	conn := admin(t)
	defer conn.Close(context.Background())
	for _, q := range []string{
		`UPDATE ` + schema + `.audit SET result = 'x'`,
		`DELETE FROM ` + schema + `.audit`,
		`TRUNCATE ` + schema + `.audit`,
	} {
		if _, err := conn.Exec(t.Context(), q); err == nil {
			t.Errorf("%s: succeeded; the audit trail must refuse it", q)
		}
	}
}

package postgres

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed-3a5b824e/assent/server/store"
)

// TestAuditChainIsOneAcrossNodes: several nodes appending to one database
// at once make one unbroken chain.
func TestAuditChainIsOneAcrossNodes(t *testing.T) {
	cfg := freshSchema(t)
	const nodes, workers, each = 3, 8, 10
	var stores []*Store
	for range nodes {
		s := open(t, cfg.Copy())
		defer s.Close()
		stores = append(stores, s)
	}
	ctx := t.Context()
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, nodes*workers)
	for n, s := range stores {
		for w := range workers {
			wg.Go(func() {
				<-start
				for i := range each {
					e := store.AuditEvent{Time: time.Now(), Type: "push.sent", ChallengeID: fmt.Sprint(n, ".", w, ".", i)}
					var err error
					if i%2 == 0 {
						_, err = s.AppendAudit(ctx, e)
					} else {
						e2 := e
						e2.Type = "push.approved"
						err = s.AppendAudits(ctx, []store.AuditEvent{e, e2})
					}
					if err != nil {
						errs <- err
						return
					}
				}
			})
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	c, err := store.VerifyAudit(ctx, stores[0])
	if err != nil {
		t.Fatal(err)
	}
	want := int64(nodes * workers * (each/2 + each/2*2))
	if c.Broken != nil || c.Checked != want {
		t.Fatalf("VerifyAudit = checked %d of %d, broken %+v: %s", c.Checked, want, c.Broken, c.Problem)
	}
}

// tamper changes the audit table as the database owner could, with the
// append-only triggers off for that one transaction.
func tamper(t *testing.T, s *Store, qs ...string) {
	t.Helper()
	ctx := t.Context()
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	all := append([]string{"ALTER TABLE audit DISABLE TRIGGER audit_no_change"}, qs...)
	for _, q := range append(all, "ALTER TABLE audit ENABLE TRIGGER audit_no_change") {
		if _, err := tx.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyAuditFindsTheEventChangedInTheDatabase(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx := t.Context()
	var es []store.AuditEvent
	for i := range 5 {
		e, err := s.AppendAudit(ctx, store.AuditEvent{Time: time.Now(), Type: "signin.success", UserID: fmt.Sprint("u", i), Detail: map[string]string{"app": "wiki"}})
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	tamper(t, s, fmt.Sprintf(`UPDATE audit SET detail_json = '{"app": "mail"}' WHERE seq = %d`, es[2].Seq))
	c, err := store.VerifyAudit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if c.Broken == nil || c.Broken.Seq != es[2].Seq || c.Checked != 2 || !strings.Contains(c.Problem, "content does not match") {
		t.Fatalf("VerifyAudit = %+v; want event %d named", c, es[2].Seq)
	}
	tamper(t, s, fmt.Sprintf(`UPDATE audit SET detail_json = '{"app": "wiki"}' WHERE seq = %d`, es[2].Seq),
		fmt.Sprintf(`DELETE FROM audit WHERE seq = %d`, es[1].Seq))
	c, err = store.VerifyAudit(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if c.Broken == nil || c.Broken.Seq != es[2].Seq || !strings.Contains(c.Problem, "is not the hash") {
		t.Fatalf("VerifyAudit after a delete = %+v; want event %d named", c, es[2].Seq)
	}
}

func TestAnUnhashedEventIsRefused(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx := t.Context()
	for _, q := range []string{
		"INSERT INTO audit (time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json) VALUES (now(), 'forged', '', '', '', '', '', '{}')",
		"UPDATE audit_chain SET start_seq = 5",
		"DELETE FROM audit_chain",
		"TRUNCATE audit_chain",
	} {
		if _, err := s.pool.Exec(ctx, q); err == nil {
			t.Errorf("%s: succeeded, want it refused", q)
		}
	}
}

func TestMigrationToVersion4StartsTheChainAfterTheOldEvents(t *testing.T) {
	cfg := freshSchema(t)
	ctx := t.Context()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	if err := migrateTo(ctx, pool, ms[:3]); err != nil {
		pool.Close()
		t.Fatal(err)
	}
	for range 3 {
		if _, err := pool.Exec(ctx, "INSERT INTO audit (time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json) VALUES (now(), 'old', 'u1', '', '', '', '', '{}')"); err != nil {
			pool.Close()
			t.Fatal(err)
		}
	}
	pool.Close()
	s := open(t, cfg)
	defer s.Close()
	wantAllVersionsOnce(t, s)
	if start, err := s.AuditChainStart(ctx); err != nil || start != 4 {
		t.Fatalf("AuditChainStart = %d, %v; want 4", start, err)
	}
	for range 2 {
		if _, err := s.AppendAudit(ctx, store.AuditEvent{Time: time.Now(), Type: "new"}); err != nil {
			t.Fatal(err)
		}
	}
	c, err := store.VerifyAudit(ctx, s)
	if err != nil || c.Broken != nil || c.Before != 3 || c.Checked != 2 {
		t.Errorf("VerifyAudit = %+v, %v; want 3 events before the chain and 2 in it", c, err)
	}
}

package sqlite

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// appendEvents appends n events with distinct content and returns them as
// stored.
func appendEvents(t *testing.T, s store.Store, n int) []store.AuditEvent {
	t.Helper()
	var out []store.AuditEvent
	at := time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)
	for i := range n {
		e, err := s.AppendAudit(t.Context(), store.AuditEvent{
			Time: at.Add(time.Duration(i) * time.Second), Type: "signin.password_ok", UserID: fmt.Sprint("u", i),
			ClientIP: "192.0.2.7", Detail: map[string]string{"app": "wiki", "i": fmt.Sprint(i)},
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// TestAnUnhashedEventIsRefused: a writer that does not chain cannot add to
// the log.
func TestAnUnhashedEventIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	s := open(t, path)
	defer closeStore(t, s)
	appendEvents(t, s, 1)
	db := rawDB(t, path)
	for _, q := range []string{
		"INSERT INTO audit (time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json) VALUES (0, 'forged', '', '', '', '', '', '{}')",
		"INSERT INTO audit (time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json, prev_hash, hash) VALUES (0, 'forged', '', '', '', '', '', '{}', 'x', '" + strings.Repeat("0", 64) + "')",
		"UPDATE audit_chain SET start_seq = 5",
		"DELETE FROM audit_chain",
	} {
		if _, err := db.Exec(q); err == nil {
			t.Errorf("%s: succeeded, want it refused", q)
		}
	}
	if c, err := store.VerifyAudit(t.Context(), s); err != nil || c.Broken != nil || c.Checked != 1 {
		t.Errorf("VerifyAudit = %+v, %v", c, err)
	}
}

// tamper runs statements on the database file as someone with write access
// to it would: the append-only triggers dropped for the change and put back
// in the same transaction, so that the schema looks untouched.
func tamper(t *testing.T, path string, qs ...string) {
	t.Helper()
	db := rawDB(t, path)
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	var triggers []string
	rows, err := tx.Query("SELECT sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'audit' AND name IN ('audit_no_update', 'audit_no_delete')")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var q string
		if err := rows.Scan(&q); err != nil {
			t.Fatal(err)
		}
		triggers = append(triggers, q)
	}
	rows.Close()
	if len(triggers) != 2 {
		t.Fatalf("found triggers %q, want audit_no_update and audit_no_delete", triggers)
	}
	all := append([]string{"DROP TRIGGER audit_no_update", "DROP TRIGGER audit_no_delete"}, qs...)
	for _, q := range append(all, triggers...) {
		if _, err := tx.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	db.Close()
}

// TestVerifyAuditFindsTheEventChangedInTheFile changes the database file
// behind the store's back, in the ways someone covering their tracks
// would, and checks that VerifyAudit names exactly the event where the
// chain breaks.
func TestVerifyAuditFindsTheEventChangedInTheFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(es []store.AuditEvent) []string
		broken  int64
		problem string
	}{
		{"UserChanged", func([]store.AuditEvent) []string {
			return []string{"UPDATE audit SET user_id = 'mallory' WHERE seq = 3"}
		}, 3, "content does not match its hash"},
		{"DetailChanged", func([]store.AuditEvent) []string {
			return []string{`UPDATE audit SET detail_json = '{"app":"wiki","i":"4","note":"x"}' WHERE seq = 5`}
		}, 5, "content does not match its hash"},
		{"TimeMovedByAMillisecond", func([]store.AuditEvent) []string {
			return []string{"UPDATE audit SET time = time + 1 WHERE seq = 2"}
		}, 2, "content does not match its hash"},
		{"HashRemoved", func([]store.AuditEvent) []string {
			return []string{"UPDATE audit SET hash = '', prev_hash = '' WHERE seq = 4"}
		}, 4, "no hash"},
		{"EventDeleted", func([]store.AuditEvent) []string {
			return []string{"DELETE FROM audit WHERE seq = 3"}
		}, 4, "is not the hash"},
		{"FirstEventsDeleted", func([]store.AuditEvent) []string {
			return []string{"DELETE FROM audit WHERE seq <= 2"}
		}, 3, "first event of the chain"},
		{"ChangedWithItsHashRecomputed", func(es []store.AuditEvent) []string {
			e := es[2]
			e.UserID = "mallory"
			return []string{fmt.Sprintf("UPDATE audit SET user_id = 'mallory', hash = '%s' WHERE seq = 3", store.AuditHash(e, e.PrevHash))}
		}, 4, "is not the hash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "assent.db")
			s := open(t, path)
			es := appendEvents(t, s, 6)
			if c, err := store.VerifyAudit(t.Context(), s); err != nil || c.Broken != nil || c.Checked != 6 {
				t.Fatalf("VerifyAudit before = %+v, %v", c, err)
			}
			closeStore(t, s)
			tamper(t, path, tc.change(es)...)
			s = open(t, path)
			defer closeStore(t, s)
			c, err := store.VerifyAudit(t.Context(), s)
			if err != nil {
				t.Fatal(err)
			}
			if c.Broken == nil || c.Broken.Seq != tc.broken || !strings.Contains(c.Problem, tc.problem) {
				t.Fatalf("VerifyAudit = broken %+v: %q; want seq %d: %q", c.Broken, c.Problem, tc.broken, tc.problem)
			}
			// Appending goes on from the tail as it is now; the break stays
			// where it was.
			appendEvents(t, s, 1)
			if c2, err := store.VerifyAudit(t.Context(), s); err != nil || c2.Broken == nil || c2.Broken.Seq != tc.broken {
				t.Errorf("VerifyAudit after another append = %+v, %v", c2, err)
			}
		})
	}
}

// TestMigrationToVersion4StartsTheChainAfterTheOldEvents: events from
// before the chain keep no hash and are counted apart; the chain begins
// with the first event after the migration.
func TestMigrationToVersion4StartsTheChainAfterTheOldEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	ctx := t.Context()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if err := migrateTo(ctx, db, ms[:3]); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := db.Exec("INSERT INTO audit (time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json) VALUES (1000, 'old', 'u1', '', '', '', '', '{}')"); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := open(t, path)
	defer closeStore(t, s)
	start, err := s.AuditChainStart(ctx)
	if err != nil || start != 4 {
		t.Fatalf("AuditChainStart = %d, %v; want 4", start, err)
	}
	es := appendEvents(t, s, 2)
	if es[0].Seq != 4 || es[0].PrevHash != "" || es[1].PrevHash != es[0].Hash {
		t.Errorf("first events of the chain = %+v", es)
	}
	c, err := store.VerifyAudit(ctx, s)
	if err != nil || c.Broken != nil || c.Before != 3 || c.Checked != 2 || c.Start != 4 {
		t.Errorf("VerifyAudit = %+v, %v; want 3 events before the chain and 2 in it", c, err)
	}
}

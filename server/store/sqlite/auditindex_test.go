package sqlite

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/server/store"
)

// queryPlan is what EXPLAIN QUERY PLAN says of q, its steps joined by "; ".
func queryPlan(t *testing.T, s *Store, q string, args ...any) string {
	t.Helper()
	rows, err := s.r.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

// The audit log is indexed by user for store.UserAuditTypes only (so that a
// push's two events enter no index by user), with the condition written
// as userAuditCondition gives it (no IN list: SQLite would build a
// temporary b-tree for it at every insert), and the server's reads by user
// go through that index; the index by (user, seq) is gone.
func TestTheUserAuditIndexHoldsItsTypesOnly(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	var def string
	if err := s.r.QueryRowContext(t.Context(), "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'audit_user_type'").Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(def, "WHERE "+userAuditCondition) {
		t.Errorf("index audit_user_type is\n%s\nwant it to end WHERE %s", def, userAuditCondition)
	}
	var n int
	if err := s.r.QueryRowContext(t.Context(), "SELECT count(*) FROM sqlite_master WHERE name = 'audit_user'").Scan(&n); err != nil || n != 0 {
		t.Errorf("index audit_user: %d, %v; want it dropped", n, err)
	}
	for _, types := range [][]string{{"signin.success"}, {"push.reported"}, {"session.revoked_all", "password.reset"}, store.UserAuditTypes} {
		q, args := listAuditQuery(store.AuditFilter{UserID: "u1", Types: types, Newest: true, Limit: 6})
		if got := queryPlan(t, s, q, args...); !strings.Contains(got, "USING INDEX audit_user_type") {
			t.Errorf("types %q: plan %q, want it to use audit_user_type", types, got)
		}
	}
	// The sorted list is what UserAuditIndexed searches.
	if !slices.IsSorted(store.UserAuditTypes) {
		t.Errorf("store.UserAuditTypes %q is not sorted", store.UserAuditTypes)
	}
}

// A database of version 6 keeps every event findable by user after
// migration 7 rebuilds the index with some types only.
func TestMigrationToVersion7KeepsAUsersEventsFindable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if err := migrateTo(t.Context(), db, ms[:6]); err != nil {
		t.Fatal(err)
	}
	for i, typ := range []string{"signin.success", "push.sent", "push.approved", "signin.success", "push.denied"} {
		if _, err := db.Exec("INSERT INTO audit (seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json, prev_hash, hash) VALUES (?, ?, ?, 'u1', '', '', ?, '', '{}', '', ?)",
			i+1, 1000+i, typ, typ+string(rune('0'+i)), strings.Repeat("a", 64)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s := open(t, path)
	defer closeStore(t, s)
	for _, tc := range []struct {
		types []string
		want  []string
	}{
		{[]string{"signin.success", "push.denied"}, []string{"signin.success0", "signin.success3", "push.denied4"}},
		{[]string{"push.sent"}, []string{"push.sent1"}},
		{nil, []string{"signin.success0", "push.sent1", "push.approved2", "signin.success3", "push.denied4"}},
	} {
		es, err := s.ListAudit(t.Context(), store.AuditFilter{UserID: "u1", Types: tc.types})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.ChallengeID)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("types %q: %q, want %q", tc.types, got, tc.want)
		}
	}
}

// An insert into the audit log evaluates the index's condition: written as
// an IN list, SQLite would build a temporary b-tree of the types for every
// event (OpenEphemeral), a third of what the insert cost (migration 8).
func TestAnAuditInsertBuildsNoTemporaryTable(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	rows, err := s.w.db.QueryContext(t.Context(), "EXPLAIN "+auditInsert, 1, 2, "t", "u", "d", "x", "c", "ip", "{}", "", "h")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	ops := 0
	for rows.Next() {
		var addr, p1, p2, p3, p5 int
		var op string
		var p4, comment any
		if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			t.Fatal(err)
		}
		ops++
		if op == "OpenEphemeral" {
			t.Errorf("the audit insert opens a temporary table at %d (%v): is an index condition an IN list?", addr, p4)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if ops == 0 {
		t.Fatal("EXPLAIN gave no program")
	}
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/internal/dactest"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := open(t, filepath.Join(t.TempDir(), "assent.db"))
		// Runs after the suite's Close: every statement a transaction ran
		// was one Open prepared.
		t.Cleanup(func() {
			if n := s.w.txMisses.Load(); n > 0 {
				t.Errorf("%d statements ran unprepared in a transaction: add them to inTx", n)
			}
		})
		return s
	})
}

func open(t testing.TB, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func closeStore(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// rawDB opens the file without this package, as an operator's sqlite3 shell
// would.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenCreatesPrivateFolderAndFileInWALMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "assent")
	path := filepath.Join(dir, "assent.db")
	s := open(t, path)
	if err := s.CreateUser(t.Context(), store.User{ID: "u1", Login: "alice"}); err != nil {
		t.Fatal(err)
	}

	for p, want := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600, path + "-wal": 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), want)
		}
	}
	closeStore(t, s)

	var mode string
	if err := rawDB(t, path).QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" {
		t.Errorf("journal_mode = %q, want wal", mode)
	}
}

func TestConnectionsHaveTheirPragmas(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "assent.db"))
	defer closeStore(t, s)
	for _, tc := range []struct {
		pool   string
		db     *sql.DB
		pragma string
		want   string
	}{
		{"write", s.w.db, "journal_mode", "wal"},
		{"write", s.w.db, "foreign_keys", "1"},
		{"write", s.w.db, "busy_timeout", "10000"},
		{"write", s.w.db, "synchronous", "1"}, // NORMAL
		{"write", s.w.db, "query_only", "0"},
		{"read", s.r.db, "journal_mode", "wal"},
		{"read", s.r.db, "busy_timeout", "10000"},
		{"read", s.r.db, "query_only", "1"},
	} {
		var got string
		if err := tc.db.QueryRow("PRAGMA " + tc.pragma).Scan(&got); err != nil {
			t.Fatalf("%s pool: PRAGMA %s: %v", tc.pool, tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("%s pool: PRAGMA %s = %q, want %q", tc.pool, tc.pragma, got, tc.want)
		}
	}
}

func TestReopenKeepsData(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	s := open(t, path)
	ctx := t.Context()
	want := store.User{ID: "u1", Login: "alice", Groups: []string{"staff"}, CreatedAt: time.UnixMilli(1_900_000_000_123).UTC()}
	if err := s.CreateUser(ctx, want); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(ctx, store.AuditEvent{Type: "user.created", UserID: "u1"}); err != nil {
		t.Fatal(err)
	}
	closeStore(t, s)

	s = open(t, path)
	defer closeStore(t, s)
	got, err := s.GetUser(ctx, "u1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Login != want.Login || !got.CreatedAt.Equal(want.CreatedAt) || len(got.Groups) != 1 {
		t.Errorf("after reopen GetUser = %+v, want %+v", got, want)
	}
	e, err := s.AppendAudit(ctx, store.AuditEvent{Type: "server.start"})
	if err != nil {
		t.Fatal(err)
	}
	if e.Seq != 2 {
		t.Errorf("first Seq after reopen = %d, want 2", e.Seq)
	}
}

func TestMigrationsAreAppliedOnceAcrossReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		closeStore(t, open(t, path))
	}
	rows, err := rawDB(t, path).Query("SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var versions []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		versions = append(versions, v)
	}
	if len(versions) != len(ms) {
		t.Fatalf("schema_migrations versions %v, want 1..%d once each", versions, len(ms))
	}
	for i, v := range versions {
		if v != i+1 {
			t.Errorf("schema_migrations versions %v, want 1..%d", versions, len(ms))
		}
	}
}

func TestEmbeddedMigrationsLoadInOrder(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 {
		t.Fatal("no migrations embedded")
	}
}

func TestOpenRefusesNewerSchemaVersion(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	closeStore(t, open(t, path))
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	newer := len(ms) + 5
	db := rawDB(t, path)
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'future.sql', 0)", newer); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	want := fmt.Sprintf("database schema version %d is newer than this assentd (knows %d): upgrade assentd", newer, len(ms))
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), path) {
		t.Errorf("Open error %q, want it to name %s and say %q", err, path, want)
	}
}

func TestAuditTableRefusesUpdateAndDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	s := open(t, path)
	defer closeStore(t, s)
	ctx := t.Context()
	e, err := s.AppendAudit(ctx, store.AuditEvent{Type: "login", UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	for _, q := range []string{
		"UPDATE audit SET user_id = 'u2'",
		"DELETE FROM audit",
		"DELETE FROM audit WHERE seq = 1",
		"INSERT OR REPLACE INTO audit (seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json, prev_hash, hash) VALUES (1, 0, 'forged', '', '', '', '', '', '{}', '', '" + strings.Repeat("0", 64) + "')",
	} {
		_, err := db.Exec(q)
		if err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: error %v, want the append-only refusal", q, err)
		}
	}
	got, err := s.ListAudit(ctx, store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].UserID != "u1" || got[0].Type != e.Type {
		t.Errorf("audit after the attempts = %+v, want the one event unchanged", got)
	}
}

func TestOpenInReadOnlyFolderFailsNamingThePath(t *testing.T) {
	dir := t.TempDir()
	// A database made earlier, before the folder lost its write permission:
	// SQLite then cannot create the -wal and -shm files beside it.
	existing := filepath.Join(dir, "existing.db")
	closeStore(t, open(t, existing))
	for _, f := range []string{existing + "-wal", existing + "-shm"} {
		os.Remove(f)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	// Root ignores the folder's mode: the opens run on a thread that has
	// given up that power (fn runs on another goroutine, so no t.Fatal).
	err := dactest.WithoutDACOverride(func() {
		if f, err := os.Create(filepath.Join(dir, "probe")); err == nil {
			f.Close()
			t.Error("a file was made in the read-only folder: permissions are not enforced on this thread")
			return
		}
		for _, path := range []string{
			filepath.Join(dir, "assent.db"),
			filepath.Join(dir, "sub", "assent.db"),
			existing,
		} {
			s, err := Open(path)
			if err == nil {
				s.Close()
				t.Errorf("Open(%s) in a read-only folder succeeded", path)
				continue
			}
			t.Logf("Open(%s): %v", path, err)
			if !strings.Contains(err.Error(), path) {
				t.Errorf("Open(%s) error %q does not name the path", path, err)
			}
		}
	})
	if err != nil {
		t.Fatalf("dropping CAP_DAC_OVERRIDE: %v", err)
	}
}

func TestOpenBelowAFileFailsNamingThePath(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-folder")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(file, "assent.db")
	s, err := Open(path)
	if err == nil {
		s.Close()
		t.Fatal("Open below a regular file succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("Open error %q does not name %s", err, path)
	}
}

func TestOpenRefusesQuestionMarkInPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db?_pragma=query_only(1)")
	if s, err := Open(path); err == nil {
		s.Close()
		t.Fatal("Open accepted a path with '?'")
	}
}

func TestPanickingUpdateFnReleasesTheWriter(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "assent.db"))
	defer closeStore(t, s)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.CreateUser(ctx, store.User{ID: "u1", Login: "alice"}); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() { recover() }()
		s.UpdateUser(ctx, "u1", func(u *store.User) error {
			u.Login = "changed"
			panic("fn panics")
		})
	}()
	if err := s.CreateUser(ctx, store.User{ID: "u2", Login: "bob"}); err != nil {
		t.Fatalf("write after a panicking fn: %v", err)
	}
	if u, err := s.GetUser(ctx, "u1"); err != nil || u.Login != "alice" {
		t.Errorf("GetUser after the panic = %+v, %v; want it unchanged", u, err)
	}
}

func TestReferenceToMissingRowIsNotFound(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "assent.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	err := s.CreateChallenge(ctx, store.Challenge{ID: "c1", DeviceID: "nope", UserID: "nobody"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateChallenge for a missing device: %v, want ErrNotFound", err)
	}
	err = s.CreateEnrollToken(ctx, store.EnrollToken{Hash: "h", UserID: "nobody"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateEnrollToken for a missing user: %v, want ErrNotFound", err)
	}
}

func TestErrorsNameTheOperation(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "assent.db"))
	defer closeStore(t, s)
	_, err := s.UpdateChallenge(t.Context(), "c42", func(*store.Challenge) error { return nil })
	if want := "sqlite: update challenge c42: not found"; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// BenchmarkStore runs the shared benchmarks. Each op is a committed
// transaction on a WAL file with synchronous=NORMAL, so fsync happens at
// checkpoints, not per commit.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store {
		return open(b, filepath.Join(b.TempDir(), "assent.db"))
	})
}

// Before schema version 2, admin tokens were secrets named
// 'admin-token:<hash>'; the migration moves them to admin_tokens, valid
// for 30 days from the upgrade, and sessions gain their new columns.
func TestMigrationToVersion2MovesLegacyAdminTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	ctx := t.Context()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db := rawDB(t, path)
	if err := migrateTo(ctx, db, ms[:1]); err != nil {
		t.Fatal(err)
	}
	const (
		hash1 = "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg"
		hash2 = "Zm9vYmFyYmF6cXV4LXF1dXgtY29ycmVjdC1ob3JzZQ"
		hash3 = "aW52YWxpZC11dGYtOC1hbmQtYmFkLWNyZWF0ZWQtdGk"
	)
	for _, q := range []string{
		`INSERT INTO secrets (name, value) VALUES ('admin-token:` + hash3 + `', CAST('{"name":"x","created":"yesterday-ish"}' AS BLOB))`,
		`INSERT INTO secrets (name, value) VALUES ('admin-token:` + hash1 + `', CAST('{"name":"ci deploy","created":"2025-01-02T03:04:05Z"}' AS BLOB))`,
		`INSERT INTO secrets (name, value) VALUES ('admin-token:` + hash2 + `', CAST('not json' AS BLOB))`,
		`INSERT INTO secrets (name, value) VALUES ('server-signing-key', X'0102')`,
		`INSERT INTO users (id, login, email, groups_json, profile_json, status, password_hash, risk, risk_since, failed_attempts, locked_until, created_at)
			VALUES ('u1', 'alice', '', '[]', '{}', 'active', '', '', 0, 0, 0, 0)`,
		`INSERT INTO sessions (id, user_id, tx_id, client_ip, user_agent, created_at, expires_at, revoked_at)
			VALUES ('s1', 'u1', 'tx1', '192.0.2.7', 'Firefox', 1000, 2000, 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	before := time.Now().Truncate(time.Millisecond)
	s := open(t, path)
	defer closeStore(t, s)
	after := time.Now()
	toks, err := s.ListAdminTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 3 {
		t.Fatalf("ListAdminTokens = %+v, want the 3 legacy tokens", toks)
	}
	month := 30 * 24 * time.Hour
	// Oldest first: the one with a created time, then the two created at
	// the migration, by ID.
	for i, want := range []store.AdminToken{
		{ID: "tok_" + hash1[:16], Hash: hash1, Name: "ci deploy", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)},
		{ID: "tok_" + hash2[:16], Hash: hash2},
		{ID: "tok_" + hash3[:16], Hash: hash3, Name: "x"},
	} {
		got := toks[i]
		if got.ID != want.ID || got.Hash != want.Hash || got.Name != want.Name || !got.RevokedAt.IsZero() {
			t.Errorf("token %d = %+v, want %+v", i, got, want)
		}
		if !want.CreatedAt.IsZero() && !got.CreatedAt.Equal(want.CreatedAt) {
			t.Errorf("token %d CreatedAt = %v, want %v", i, got.CreatedAt, want.CreatedAt)
		}
		if want.CreatedAt.IsZero() && (got.CreatedAt.Before(before) || got.CreatedAt.After(after)) {
			t.Errorf("token %d CreatedAt = %v, want the migration's time", i, got.CreatedAt)
		}
		if got.ExpiresAt.Before(before.Add(month)) || got.ExpiresAt.After(after.Add(month)) {
			t.Errorf("token %d ExpiresAt = %v, want 30 days after the migration (%v)", i, got.ExpiresAt, before.Add(month))
		}
		if byHash, err := s.GetAdminToken(ctx, want.Hash); err != nil || byHash != got {
			t.Errorf("GetAdminToken(%s) = %+v, %v; want %+v", want.Hash, byHash, err, got)
		}
	}
	for _, h := range []string{hash1, hash2, hash3} {
		if _, err := s.GetSecret(ctx, "admin-token:"+h); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("legacy secret admin-token:%s: %v, want it gone", h, err)
		}
	}
	if v, err := s.GetSecret(ctx, "server-signing-key"); err != nil || string(v) != "\x01\x02" {
		t.Errorf("other secret = %q, %v; want it kept", v, err)
	}
	se, err := s.GetSession(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if se.UserID != "u1" || se.App != "" || se.AMR != nil || !se.AuthTime.IsZero() || se.Risk != "" || se.ExpiresAt.UnixMilli() != 2000 {
		t.Errorf("session from version 1 = %+v, want it with no app, methods, auth time or risk", se)
	}
}

package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/storetest"
)

// howToRun is what a developer without the variable, or without a running
// server, needs to know.
const howToRun = "set ASSENT_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test (make test and CI set it), " +
	"or start PostgreSQL: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"

// TestMain checks once that there is a database to test against, so that
// its absence is one clear failure rather than one per test.
func TestMain(m *testing.M) {
	url := os.Getenv("ASSENT_TEST_POSTGRES")
	if url == "" {
		fmt.Fprintln(os.Stderr, "ASSENT_TEST_POSTGRES is not set: "+howToRun)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "ASSENT_TEST_POSTGRES: %v\n%s\n", err, howToRun)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// testURL is the database the tests use. They fail rather than skip
// without one: a suite that silently does not run looks like one that
// passes.
func testURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("ASSENT_TEST_POSTGRES")
	if url == "" {
		t.Fatal("ASSENT_TEST_POSTGRES is not set: " + howToRun)
	}
	return url
}

// freshSchema makes an empty schema of its own for one test, dropped with
// everything in it when the test ends, and returns a pool config whose
// connections use it. Tests are isolated from each other and from whatever
// else is in the database, and may run in parallel.
func freshSchema(t testing.TB) *pgxpool.Config {
	t.Helper()
	url := testURL(t)
	b := make([]byte, 8)
	rand.Read(b)
	name := "assent_test_" + hex.EncodeToString(b)
	admin(t, url, "CREATE SCHEMA "+name)
	t.Cleanup(func() { admin(t, url, "DROP SCHEMA "+name+" CASCADE") })
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatalf("ASSENT_TEST_POSTGRES: %v", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = name
	return cfg
}

// admin runs one statement on a connection of its own.
func admin(t testing.TB, url, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect to ASSENT_TEST_POSTGRES: %v\n%s", err, howToRun)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func open(t testing.TB, cfg *pgxpool.Config) *Store {
	t.Helper()
	s, err := openConfig(context.Background(), cfg.Copy())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, freshSchema(t))
	})
}

func versions(t *testing.T, s *Store) []int {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), "SELECT version FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	vs, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// wantAllVersionsOnce checks that each migration was recorded exactly once.
func wantAllVersionsOnce(t *testing.T, s *Store) {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	vs := versions(t, s)
	ok := len(vs) == len(ms)
	for i, v := range vs {
		ok = ok && v == i+1
	}
	if !ok {
		t.Errorf("schema_migrations versions %v, want 1..%d once each", vs, len(ms))
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

func TestMigrationsAreAppliedOnceAcrossReopens(t *testing.T) {
	cfg := freshSchema(t)
	s := open(t, cfg)
	if err := s.CreateUser(t.Context(), store.User{ID: "u1", Login: "alice"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 2 {
		open(t, cfg).Close()
	}
	s = open(t, cfg)
	defer s.Close()
	wantAllVersionsOnce(t, s)
	if _, err := s.GetUser(t.Context(), "u1"); err != nil {
		t.Errorf("GetUser after reopening: %v", err)
	}
}

func TestOpenRefusesNewerSchemaVersion(t *testing.T) {
	cfg := freshSchema(t)
	s := open(t, cfg)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	newer := len(ms) + 5
	if _, err := s.pool.Exec(t.Context(), "INSERT INTO schema_migrations (version, name) VALUES ($1, 'future.sql')", newer); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = openConfig(t.Context(), cfg.Copy())
	if err == nil {
		s.Close()
		t.Fatal("Open of a newer schema succeeded")
	}
	want := fmt.Sprintf("database schema version %d is newer than this assentd (knows %d): upgrade assentd", newer, len(ms))
	if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), cfg.ConnConfig.Host) {
		t.Errorf("Open error %q, want it to name %s and say %q", err, cfg.ConnConfig.Host, want)
	}
}

// Nodes starting together on a new database: without the advisory lock
// their CREATE TABLEs race and all but one fail.
func TestConcurrentOpenOnAFreshSchemaAllSucceed(t *testing.T) {
	cfg := freshSchema(t)
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			stores[i], errs[i] = openConfig(t.Context(), cfg.Copy())
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Open %d: %v", i, err)
		} else {
			defer stores[i].Close()
		}
	}
	if errs[0] == nil {
		wantAllVersionsOnce(t, stores[0])
	}
}

func TestAuditTableRefusesUpdateAndDelete(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx := t.Context()
	e, err := s.AppendAudit(ctx, store.AuditEvent{Type: "login", UserID: "u1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ sql, want string }{
		{"UPDATE audit SET user_id = 'u2'", "append-only"},
		{"DELETE FROM audit", "append-only"},
		{fmt.Sprint("DELETE FROM audit WHERE seq = ", e.Seq), "append-only"},
		{"DELETE FROM audit WHERE seq < 0", "append-only"}, // refused even when it matches nothing
		{"TRUNCATE audit", "append-only"},
		{fmt.Sprintf(`INSERT INTO audit (seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json, prev_hash, hash)
			OVERRIDING SYSTEM VALUE VALUES (%d, now(), 'forged', '', '', '', '', '', '{}', '', '%s')
			ON CONFLICT (seq) DO UPDATE SET type = 'forged'`, e.Seq, strings.Repeat("0", 64)), "append-only"},
		{fmt.Sprintf(`INSERT INTO audit (seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json, prev_hash, hash)
			OVERRIDING SYSTEM VALUE VALUES (%d, now(), 'forged', '', '', '', '', '', '{}', '', '%s')`, e.Seq, strings.Repeat("0", 64)), "duplicate key"},
		{fmt.Sprintf(`INSERT INTO audit (seq, time, type, user_id, device_id, tx_id, challenge_id, client_ip, detail_json)
			VALUES (%d, now(), 'forged', '', '', '', '', '', '{}')`, e.Seq+1), "non-DEFAULT value"},
	} {
		_, err := s.pool.Exec(ctx, tc.sql)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.sql, err, tc.want)
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

// The message names where Open tried to go, so that an operator can fix
// the URL, and never the password in it.
func TestOpenUnreachableOrMalformedURLFailsClearly(t *testing.T) {
	const password = "s3cret-pw"
	for _, tc := range []struct {
		url  string
		want string
	}{
		{"postgres://assent:" + password + "@127.0.0.1:1/assent", "127.0.0.1:1/assent"},
		{"postgresql://assent:" + password + "@127.0.0.1:1/assent?sslmode=disable", "127.0.0.1:1/assent"},
		{"postgres://assent:" + password + "@127.0.0.1:notaport/assent", "postgres: open"},
		{"", "empty URL"},
	} {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		s, err := Open(ctx, tc.url)
		cancel()
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		t.Logf("Open: %v", err)
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) error %q does not say %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), password) {
			t.Errorf("Open(%q) error %q shows the password", tc.url, err)
		}
	}
}

func TestErrorsNameTheOperation(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	_, err := s.UpdateChallenge(t.Context(), "c42", func(*store.Challenge) error { return nil })
	if want := "postgres: update challenge c42: not found"; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestReferenceToMissingRowIsNotFound(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx := t.Context()
	err := s.CreateChallenge(ctx, store.Challenge{ID: "c1", DeviceID: "nope", UserID: "nobody"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateChallenge for a missing device: %v, want ErrNotFound", err)
	}
	err = s.CreateEnrollToken(ctx, store.EnrollToken{Hash: "h", UserID: "nobody"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateEnrollToken for a missing user: %v, want ErrNotFound", err)
	}
	err = s.CreateSession(ctx, store.Session{ID: "s1", UserID: "nobody"})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateSession for a missing user: %v, want ErrNotFound", err)
	}
}

// A pool of one connection: if the panic left the transaction open, the
// next call would wait for that connection for good.
func TestPanickingUpdateFnReleasesTheConnection(t *testing.T) {
	cfg := freshSchema(t)
	cfg.MaxConns = 1
	s := open(t, cfg)
	defer s.Close()
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

// UpdateX locks its row FOR NO KEY UPDATE: while a user is being updated,
// sessions and challenges for that user can still be created (their
// foreign-key checks would wait behind FOR UPDATE).
func TestUpdateDoesNotBlockRowsReferringToIt(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.CreateUser(ctx, store.User{ID: "u1", Login: "alice"}); err != nil {
		t.Fatal(err)
	}
	inFn, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
			close(inFn)
			<-release
			u.FailedAttempts++
			return nil
		})
		done <- err
	}()
	<-inFn
	err := s.CreateSession(ctx, store.Session{ID: "s1", UserID: "u1", ExpiresAt: time.Now().Add(time.Hour)})
	close(release)
	if err != nil {
		t.Errorf("CreateSession while the user is being updated: %v", err)
	}
	if err := <-done; err != nil {
		t.Errorf("UpdateUser: %v", err)
	}
}

// UseNonce takes a key over once its record's expiry is not after now
// (store: ErrReplay only with "an expiry after now").
func TestNonceAtItsExpiryMayBeUsedAgain(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	if err := s.UseNonce(ctx, "k1", now.Add(-time.Minute), now); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, "k1", now.Add(-time.Millisecond), now.Add(time.Hour)); !errors.Is(err, store.ErrReplay) {
		t.Errorf("UseNonce a millisecond before the expiry: %v, want ErrReplay", err)
	}
	if err := s.UseNonce(ctx, "k1", now, now.Add(time.Hour)); err != nil {
		t.Errorf("UseNonce at the expiry: %v, want it taken over", err)
	}
}

// Nodes collecting garbage at once expire each challenge once between
// them: each one is told to exactly one caller.
func TestConcurrentGarbageCollectExpiresEachChallengeOnce(t *testing.T) {
	cfg := freshSchema(t)
	a, b := open(t, cfg), open(t, cfg)
	defer a.Close()
	defer b.Close()
	ctx := t.Context()
	d := setUpDevice(t, a)
	const n = 50
	now := time.Now()
	for i := range n {
		c := store.Challenge{ID: fmt.Sprint("c", i), DeviceID: d.ID, UserID: d.UserID, Kind: "signin", Nonce: "n",
			Status: store.ChallengePending, CreatedAt: now, ExpiresAt: now.Add(-time.Minute)}
		if err := a.CreateChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	var total atomic.Int64
	var wg sync.WaitGroup
	for _, s := range []*Store{a, b, a, b} {
		wg.Go(func() {
			res, err := s.GarbageCollect(ctx, now)
			if err != nil {
				t.Error(err)
			}
			total.Add(int64(len(res.Expired)))
		})
	}
	wg.Wait()
	if total.Load() != n {
		t.Errorf("%d challenges reported expired, want %d", total.Load(), n)
	}
}

// The schema's choices for times: created_at and expires_at hold
// -infinity for the zero time, other times NULL, and set times keep
// milliseconds.
func TestZeroTimesAreStoredAsTheSchemaSays(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx := t.Context()
	created := time.Date(2031, 3, 4, 5, 6, 7, 891_234_567, time.UTC)
	if err := s.CreateTransaction(ctx, store.Transaction{ID: "tx1", CreatedAt: created}); err != nil {
		t.Fatal(err)
	}
	var createdOK, expiresInf, updatedNull bool
	err := s.pool.QueryRow(ctx, `SELECT created_at = '2031-03-04 05:06:07.891+00', expires_at = '-infinity', updated_at IS NULL
		FROM transactions WHERE id = 'tx1'`).Scan(&createdOK, &expiresInf, &updatedNull)
	if err != nil {
		t.Fatal(err)
	}
	if !createdOK || !expiresInf || !updatedNull {
		t.Errorf("created_at at ms: %v, zero expires_at is -infinity: %v, zero updated_at is NULL: %v; want all true",
			createdOK, expiresInf, updatedNull)
	}
}

// Benchmarks, mirroring the SQLite ones. Each op is a committed
// transaction, with a round trip per statement to the server.

func setUpDevice(t testing.TB, s *Store) store.Device {
	t.Helper()
	return storetest.EnrollDevice(t, s, "u1", "d1")
}

// BenchmarkStore runs the shared benchmarks; every commit waits for the
// disk (synchronous_commit=on), and appends queue on one advisory lock so
// that seqs commit in order.
func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, func(b *testing.B) store.Store { return open(b, freshSchema(b)) })
}

// Before schema version 2, admin tokens were secrets named
// 'admin-token:<hash>'; the migration moves them to admin_tokens, valid
// for 30 days from the upgrade, and sessions gain their new columns.
func TestMigrationToVersion2MovesLegacyAdminTokens(t *testing.T) {
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
	if err := migrateTo(ctx, pool, ms[:1]); err != nil {
		pool.Close()
		t.Fatal(err)
	}
	const (
		hash1 = "n4bQgYhMfWWaL-qgxVrQFaO_TxsrC4Is0V1sFbDwCgg"
		hash2 = "Zm9vYmFyYmF6cXV4LXF1dXgtY29ycmVjdC1ob3JzZQ"
		hash3 = "aW52YWxpZC11dGYtOC1hbmQtYmFkLWNyZWF0ZWQtdGk"
	)
	for _, q := range []string{
		`INSERT INTO secrets (name, value) VALUES ('admin-token:` + hash1 + `', convert_to('{"name":"ci deploy","created":"2025-01-02T03:04:05Z"}', 'UTF8'))`,
		`INSERT INTO secrets (name, value) VALUES ('admin-token:` + hash2 + `', convert_to('not json', 'UTF8'))`,
		`INSERT INTO secrets (name, value) VALUES ('admin-token:` + hash3 + `', convert_to('{"name":"x","created":"yesterday-ish"}', 'UTF8'))`,
		`INSERT INTO secrets (name, value) VALUES ('server-signing-key', '\x0102')`,
		`INSERT INTO users (id, login, email, groups_json, profile_json, status, password_hash, risk, failed_attempts, created_at)
			VALUES ('u1', 'alice', '', '[]', '{}', 'active', '', '', 0, '-infinity')`,
		`INSERT INTO sessions (id, user_id, tx_id, client_ip, user_agent, created_at, expires_at)
			VALUES ('s1', 'u1', 'tx1', '192.0.2.7', 'Firefox', 'epoch', '2031-01-01 00:00:00Z')`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			pool.Close()
			t.Fatalf("%s: %v", q, err)
		}
	}
	pool.Close()

	before := time.Now().Truncate(time.Millisecond)
	s := open(t, cfg)
	defer s.Close()
	after := time.Now()
	wantAllVersionsOnce(t, s)
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
	if se.UserID != "u1" || se.App != "" || se.AMR != nil || !se.AuthTime.IsZero() || se.Risk != "" || se.ExpiresAt.Year() != 2031 {
		t.Errorf("session from version 1 = %+v, want it with no app, methods, auth time or risk", se)
	}
}

// A device's pending challenges and a transaction's are found through the
// partial indexes that hold pending challenges only, also by a generic
// plan (the status is a literal in the query, not a parameter).
func TestPendingChallengesAreFoundByTheirIndexes(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx := t.Context()
	// Pending challenges of a few devices, each of its own transaction,
	// so that the planner's statistics tell the two indexes apart.
	now := time.Now()
	for i := range 4 {
		u := fmt.Sprint("u", i)
		d := storetest.EnrollDevice(t, s, u, fmt.Sprint("dev_", i))
		for j := range 50 {
			id := fmt.Sprint("c", i, "_", j)
			if err := s.CreateChallenge(ctx, store.Challenge{ID: id, TxID: "tx_" + id, DeviceID: d.ID, UserID: u, Kind: "signin",
				Nonce: id, Numbers: []int{1}, Correct: 1, Context: []byte(`{}`), JWS: "jws", Status: store.ChallengePending,
				CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "ANALYZE challenges"); err != nil {
		t.Fatal(err)
	}
	// On a small table a scan is cheapest; the question is whether an
	// index can serve the query at all, and with a generic plan.
	for _, tc := range []struct {
		f     store.ChallengeFilter
		index string
	}{
		{store.ChallengeFilter{DeviceID: "dev_1", Status: store.ChallengePending}, "challenges_device_pending"},
		{store.ChallengeFilter{TxID: "tx_1", Status: store.ChallengePending}, "challenges_tx_pending"},
	} {
		q, a := listChallengesQuery(tc.f)
		if got := genericPlan(t, conn, q, len(a)); !strings.Contains(got, "Index Scan using "+tc.index) || !strings.Contains(got, "Index Cond") {
			t.Errorf("%+v: generic plan\n%s\nwant it to use %s", tc.f, got, tc.index)
		}
	}
}

// A batch of challenge changes sends BEGIN and COMMIT with its statements
// on a connection of its own: one that fails at its last step (an event
// PostgreSQL refuses) or whose fn panics leaves nothing written and the
// connection usable (the pool has only one).
func TestAFailedChangeBatchLeavesNothingAndTheConnectionUsable(t *testing.T) {
	cfg := freshSchema(t)
	cfg.MaxConns = 1
	s := open(t, cfg)
	defer s.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	d := setUpDevice(t, s)
	now := time.Now()
	c := store.Challenge{ID: "c0", DeviceID: d.ID, UserID: d.UserID, Status: store.ChallengePending, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := s.CreateChallenge(ctx, c); err != nil {
		t.Fatal(err)
	}
	approve := func(c *store.Challenge) error { c.Status = store.ChallengeApproved; return nil }
	refused := &store.Audit{Events: []store.AuditEvent{{Time: now, Type: "push.\x00approved", ChallengeID: "c0"}}}
	if _, _, err := s.ChangeChallenges(ctx, []store.ChallengeChange{{ID: "c0", Fn: approve, Audit: []*store.Audit{refused}}}); err == nil {
		t.Fatal("an event with a NUL byte: no error")
	}
	func() {
		defer func() { recover() }()
		s.ChangeChallenges(ctx, []store.ChallengeChange{{ID: "c0", Fn: func(*store.Challenge) error { panic("fn panics") }}})
	}()
	if got, err := s.GetChallenge(ctx, "c0"); err != nil || got.Status != store.ChallengePending {
		t.Fatalf("c0 after the failed batches = %+v, %v; want it pending", got, err)
	}
	if refused.Stored != nil {
		t.Errorf("the failed batch kept events %+v", refused.Stored)
	}
	settled := &store.Audit{Events: []store.AuditEvent{{Time: now, Type: "push.approved", ChallengeID: "c0"}}}
	out, errs, err := s.ChangeChallenges(ctx, []store.ChallengeChange{{ID: "c0", Fn: approve, Audit: []*store.Audit{settled}}})
	if err != nil || errs[0] != nil || out[0].Status != store.ChallengeApproved {
		t.Fatalf("the next batch = %+v, %v, %v; want c0 approved", out, errs, err)
	}
	if es, err := s.ListAudit(ctx, store.AuditFilter{}); err != nil || len(es) != 1 || es[0].Type != "push.approved" || len(settled.Stored) != 1 {
		t.Errorf("audit log = %+v, %v; want push.approved alone", es, err)
	}
}

// BenchmarkLoneSettle settles one challenge with its event, by itself:
// UpdateChallenge (a transaction of BEGIN, the row's lock, the update, the
// audit lock and tail, the events, COMMIT) against a batch of one
// (ChangeChallenges: three round trips).
func BenchmarkLoneSettle(b *testing.B) {
	s := open(b, freshSchema(b))
	defer s.Close()
	ctx := context.Background()
	d := setUpDevice(b, s)
	approve := func(c *store.Challenge) error { c.Status = store.ChallengeApproved; return nil }
	outcome := func() *store.Audit {
		return &store.Audit{For: func(c store.Challenge) []store.AuditEvent {
			return []store.AuditEvent{{Time: time.Now(), Type: "push." + c.Status, ChallengeID: c.ID}}
		}}
	}
	n := 0
	pending := func() string {
		n++
		now := time.Now()
		c := store.Challenge{ID: fmt.Sprintf("c%d", n), DeviceID: d.ID, UserID: d.UserID, Status: store.ChallengePending, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
		if err := s.CreateChallenge(ctx, c); err != nil {
			b.Fatal(err)
		}
		return c.ID
	}
	b.Run("UpdateChallenge", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			id := pending()
			b.StartTimer()
			if _, err := s.UpdateChallenge(ctx, id, approve, outcome()); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ChangeChallenges", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			id := pending()
			b.StartTimer()
			if _, errs, err := s.ChangeChallenges(ctx, []store.ChallengeChange{{ID: id, Fn: approve, Audit: []*store.Audit{outcome()}}}); err != nil || errs[0] != nil {
				b.Fatal(err, errs)
			}
		}
	})
}

// The audit log is indexed by user for store.UserAuditTypes only (so that
// a push's two events enter no index by user), and the server's reads by
// user can use that index with a generic plan; the index by (user, seq)
// is gone.
func TestTheUserAuditIndexHoldsItsTypesOnly(t *testing.T) {
	s := open(t, freshSchema(t))
	defer s.Close()
	ctx := t.Context()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var def string
	if err := conn.QueryRow(ctx, "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'audit_user_type'").Scan(&def); err != nil {
		t.Fatal(err)
	}
	for _, typ := range store.UserAuditTypes {
		if !strings.Contains(def, "'"+typ+"'") {
			t.Errorf("index audit_user_type is\n%s\nwant it to hold %s", def, typ)
		}
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'audit_user'").Scan(&n); err != nil || n != 0 {
		t.Errorf("index audit_user: %d, %v; want it dropped", n, err)
	}
	for _, types := range [][]string{{"signin.success"}, {"session.revoked_all", "password.reset"}, store.UserAuditTypes} {
		q, a := listAuditQuery(store.AuditFilter{UserID: "u1", Types: types, Newest: true, Limit: 6})
		if got := genericPlan(t, conn, q, len(a)); !strings.Contains(got, "using audit_user_type") || !strings.Contains(got, "Index Cond") {
			t.Errorf("types %q: generic plan\n%s\nwant it to use audit_user_type", types, got)
		}
	}
}

// genericPlan is PostgreSQL's generic plan of q (with n parameters), on a
// connection set to plan that way and to avoid scans where it can: whether
// an index can serve q at all.
func genericPlan(t *testing.T, conn *pgxpool.Conn, q string, n int) string {
	t.Helper()
	ctx := t.Context()
	for _, set := range []string{"SET enable_seqscan = off", "SET plan_cache_mode = force_generic_plan"} {
		if _, err := conn.Exec(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	defer conn.Exec(context.Background(), "RESET ALL")
	if _, err := conn.Exec(ctx, "PREPARE plan_of AS "+q); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(context.Background(), "DEALLOCATE plan_of")
	rows, err := conn.Query(ctx, "EXPLAIN EXECUTE plan_of("+strings.Repeat("NULL, ", n-1)+"NULL)")
	if err != nil {
		t.Fatal(err)
	}
	plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "\n")
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/seed-3a5b824e/assent/internal/testvol"
	"github.com/seed-3a5b824e/assent/server/store"
)

// smallVolume is a tmpfs of the given size for the test (testvol.Small).
func smallVolume(t *testing.T, size string) string {
	t.Helper()
	return testvol.Small(t, size, "go test ./server/store/sqlite -run 'TestFull'")
}

// fillVolume writes to path until the volume is full and returns how many
// bytes it wrote.
func fillVolume(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		if isOSNoSpace(err) {
			return 0
		}
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	var n int64
	for {
		w, err := f.Write(buf)
		n += int64(w)
		if err != nil {
			if !isOSNoSpace(err) {
				t.Fatalf("fill %s: %v", path, err)
			}
			return n
		}
	}
}

// waitFor polls cond until it holds or the deadline (generous, for a
// loaded CI machine) passes.
func waitFor(t *testing.T, what string, deadline time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > deadline {
			t.Fatalf("%s: not within %s", what, deadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func testUser(i int) store.User {
	return store.User{
		ID: fmt.Sprintf("usr_%06d", i), Login: fmt.Sprintf("user%06d", i), Email: fmt.Sprintf("user%06d@example.com", i),
		Status: store.UserActive, Profile: map[string]string{"note": strings.Repeat("x", 200)},
		CreatedAt: time.UnixMilli(1_700_000_000_000 + int64(i)).UTC(),
	}
}

// TestFullVolumeRecoversWithoutRestart fills the volume the database is
// on: writes fail with store.ErrNoSpace (not some other error), the store
// gives up its reserve and truncates the WAL, writes keep failing while
// the volume stays full, and once space is freed writes succeed again, the
// reserve comes back, and nothing committed before was lost.
func TestFullVolumeRecoversWithoutRestart(t *testing.T) {
	dir := smallVolume(t, "24m")
	path := filepath.Join(dir, "assent.db")
	s := open(t, path)
	defer closeStore(t, s)
	ctx := context.Background()

	if fileSize(path+"-reserve") != reserveSize || !s.res.Held() {
		t.Fatalf("reserve file = %d bytes (held %v); want %d", fileSize(path+"-reserve"), s.res.Held(), reserveSize)
	}
	const before = 200
	for i := range before {
		if err := s.CreateUser(ctx, testUser(i)); err != nil {
			t.Fatal(err)
		}
	}

	filler := filepath.Join(dir, "filler")
	fillVolume(t, filler)
	// Writes go on into the space the WAL already has, then fail.
	next := before
	var werr error
	for werr == nil && next < before+100_000 {
		werr = s.CreateUser(ctx, testUser(next))
		if werr == nil {
			next++
		}
	}
	if !errors.Is(werr, store.ErrNoSpace) {
		t.Fatalf("write on a full volume: %v; want store.ErrNoSpace", werr)
	}
	if strings.Contains(werr.Error(), "usr_") == false {
		t.Errorf("error %q does not name the operation", werr)
	}
	// The reserve is given up and the WAL truncated into its room...
	waitFor(t, "reserve released and WAL truncated", time.Minute, func() bool {
		return fileSize(path+"-reserve") == 0 && fileSize(path+"-wal") == 0
	})
	if !s.SpaceShort() {
		t.Error("SpaceShort() = false after the reserve was given up")
	}
	// ...and whatever filled the volume takes that too: the store has
	// nothing left to free, and every write fails.
	fillVolume(t, filler)
	if err := s.CreateUser(ctx, testUser(next)); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("write on a volume full again: %v; want store.ErrNoSpace", err)
	}
	if _, err := s.UpdateCounter(ctx, "c", func(c *store.Counter) error { c.Count++; return nil }); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("transaction on a full volume: %v; want store.ErrNoSpace", err)
	}
	if err := s.UseNonce(ctx, "n1", time.Now(), time.Now().Add(time.Hour)); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("UseNonce on a full volume: %v; want store.ErrNoSpace", err)
	}
	// Reads still work.
	if _, err := s.GetUser(ctx, testUser(0).ID); err != nil {
		t.Fatalf("read on a full volume: %v", err)
	}

	// Space comes back: writes succeed again, without reopening.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "a write after space was freed", time.Minute, func() bool {
		err := s.CreateUser(ctx, testUser(next))
		if err == nil {
			next++
		}
		return err == nil
	})
	t.Logf("first write succeeded %s after space was freed", took.Round(time.Millisecond))
	if _, err := s.UpdateCounter(ctx, "c", func(c *store.Counter) error { c.Count++; return nil }); err != nil {
		t.Fatalf("transaction after space was freed: %v", err)
	}
	if err := s.UseNonce(ctx, "n1", time.Now(), time.Now().Add(time.Hour)); err != nil {
		t.Fatalf("UseNonce after space was freed: %v", err)
	}
	// The reserve is written back once there is room for it.
	waitFor(t, "reserve written back", time.Minute, func() bool { return s.res.Held() })
	if got := fileSize(path + "-reserve"); got != reserveSize {
		t.Fatalf("reserve file = %d bytes after recovery; want %d", got, reserveSize)
	}
	if s.SpaceShort() {
		t.Error("SpaceShort() = true with the reserve back")
	}

	// Nothing committed was lost, in this store or after a reopen.
	check := func(s *Store) {
		t.Helper()
		for i := range next {
			u, err := s.GetUser(ctx, testUser(i).ID)
			if err != nil || u.Login != testUser(i).Login {
				t.Fatalf("user %d after recovery: %+v, %v", i, u, err)
			}
		}
		var res string
		if err := s.r.db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
			t.Fatalf("integrity_check = %q, %v", res, err)
		}
	}
	check(s)
	closeStore(t, s)
	s = open(t, path)
	check(s)
}

// TestWALStaysBoundedUnderWriteLoad writes from many goroutines at once,
// small transactions back to back, and looks at the WAL after every
// commit: it never passes walHard by more than the transactions already
// started when it crossed it, and it is cut back below walLimit.
func TestWALStaysBoundedUnderWriteLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	s := open(t, path)
	defer closeStore(t, s)
	ctx := context.Background()

	const writers = 8
	n := 6000
	if testing.Short() {
		n = 2000
	}
	var (
		next  atomic.Int64
		most  atomic.Int64
		wg    sync.WaitGroup
		first error
		once  sync.Once
	)
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				var err error
				if i%2 == 0 {
					err = s.CreateUser(ctx, testUser(i))
				} else {
					_, err = s.UpdateCounter(ctx, fmt.Sprintf("c%d", i%64), func(c *store.Counter) error {
						c.Count++
						c.ExpiresAt = time.Now().Add(time.Hour)
						return nil
					})
				}
				if err != nil {
					once.Do(func() { first = err })
					return
				}
				if w := fileSize(path + "-wal"); w > most.Load() {
					most.Store(w) // a race between writers only loses a lower value
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		t.Fatal(first)
	}
	// Without the bounds this load leaves a WAL of tens of MiB (see the
	// figures in the notes); each writer may add one transaction (a few
	// pages) after the WAL crossed walHard.
	const slack = writers * 64 << 10
	t.Logf("WAL at most %.1f MiB over %d writes", float64(most.Load())/(1<<20), n)
	if got := most.Load(); got > walHard+slack {
		t.Fatalf("WAL reached %d bytes; bound %d", got, walHard+slack)
	}
	// Once the load stops, the checkpointer copies the WAL in full, and the
	// next writer starts it again and cuts the file back to walLimit.
	extra := n
	waitFor(t, "WAL cut back to walLimit after the load", time.Minute, func() bool {
		extra++
		if err := s.CreateUser(ctx, testUser(extra)); err != nil {
			t.Fatal(err)
		}
		return fileSize(path+"-wal") <= walLimit
	})
	for i := 2; i <= n; i += 2 {
		if _, err := s.GetUser(ctx, testUser(i).ID); err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
	}
}

// TestDBErrMapsNoSpace: SQLite's SQLITE_FULL and the system's ENOSPC are
// store.ErrNoSpace, once, with the cause kept; other errors are not.
func TestDBErrMapsNoSpace(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("write: %w", unix.ENOSPC),
		fmt.Errorf("write: %w", unix.EDQUOT),
		&os.PathError{Op: "write", Path: "x", Err: unix.ENOSPC},
	} {
		got := dbErr(err)
		if !errors.Is(got, store.ErrNoSpace) || !errors.Is(got, err) {
			t.Errorf("dbErr(%v) = %v; want ErrNoSpace wrapping it", err, got)
		}
		if again := dbErr(got); strings.Count(again.Error(), store.ErrNoSpace.Error()) != 1 {
			t.Errorf("dbErr twice = %q", again)
		}
	}
	for _, err := range []error{errors.New("disk I/O error"), unix.EIO, context.Canceled} {
		if errors.Is(dbErr(err), store.ErrNoSpace) {
			t.Errorf("dbErr(%v) is ErrNoSpace", err)
		}
	}
}

// TestDatabaseFullIsErrNoSpaceAndRecovers needs no root: SQLite's own
// limit on the file's size (max_page_count on the writer's connection)
// makes it answer SQLITE_FULL, as on a full volume. The writes are
// store.ErrNoSpace, the reserve is given up, and once the limit is raised
// writes succeed again on the same Store and the reserve comes back.
func TestDatabaseFullIsErrNoSpaceAndRecovers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	s := open(t, path)
	defer closeStore(t, s)
	ctx := context.Background()
	if err := s.CreateUser(ctx, testUser(0)); err != nil {
		t.Fatal(err)
	}
	var pages int64
	if err := s.w.db.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.db.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	next, n := 1, 0
	var err error
	for ; n < 10_000; n++ {
		if err = s.CreateUser(ctx, testUser(next)); err != nil {
			break
		}
		next++
	}
	if !errors.Is(err, store.ErrNoSpace) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("write past max_page_count: %v; want store.ErrNoSpace keeping SQLite's message", err)
	}
	if _, err := s.UpdateCounter(ctx, "c", func(c *store.Counter) error { c.Count = 1; c.Last = time.Now(); return nil }); err != nil && !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("transaction past max_page_count: %v; want store.ErrNoSpace or success", err)
	}
	waitFor(t, "reserve given up", time.Minute, func() bool { return !s.res.Held() && fileSize(path+"-reserve") == 0 })

	if _, err := s.w.db.Exec("PRAGMA max_page_count = 1073741823"); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, testUser(next)); err != nil {
		t.Fatalf("write once the limit is raised: %v", err)
	}
	next++
	waitFor(t, "reserve written back", time.Minute, func() bool { return s.res.Held() && fileSize(path+"-reserve") == reserveSize })
	for i := range next {
		if _, err := s.GetUser(ctx, testUser(i).ID); err != nil {
			t.Fatalf("user %d: %v", i, err)
		}
	}
}

// BenchmarkWriteLoadWAL writes from 8 goroutines at once (half new users,
// half counter updates, each its own transaction) and reports the largest
// WAL seen after a commit (wal-max-MiB) and the WAL at the end
// (wal-end-MiB):
//
//	go test ./server/store/sqlite -run '^$' -bench WriteLoadWAL -benchtime 30000x
func BenchmarkWriteLoadWAL(b *testing.B) {
	path := filepath.Join(b.TempDir(), "assent.db")
	s := open(b, path)
	defer closeStore(b, s)
	ctx := context.Background()
	var next, most atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > b.N {
					return
				}
				var err error
				if i%2 == 0 {
					err = s.CreateUser(ctx, testUser(i))
				} else {
					_, err = s.UpdateCounter(ctx, fmt.Sprintf("c%d", i%64), func(c *store.Counter) error {
						c.Count++
						c.ExpiresAt = time.Now().Add(time.Hour)
						return nil
					})
				}
				if err != nil {
					b.Error(err)
					return
				}
				if w := fileSize(path + "-wal"); w > most.Load() {
					most.Store(w)
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(most.Load())/(1<<20), "wal-max-MiB")
	b.ReportMetric(float64(fileSize(path+"-wal"))/(1<<20), "wal-end-MiB")
}

// TestWritersAreNotHeldBetweenTheWALsLimits keeps a reader in an old
// snapshot while the WAL grows past walLimit: the checkpointer copies what
// it can without holding anyone back (a RESTART here would wait for the
// reader, up to its busy timeout, with every writer behind it). Once the
// reader leaves, the WAL is copied and a writer starts it again, cut back
// to walLimit, without a RESTART.
func TestWritersAreNotHeldBetweenTheWALsLimits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	s := open(t, path)
	defer closeStore(t, s)
	ctx := context.Background()
	if err := s.CreateUser(ctx, testUser(0)); err != nil {
		t.Fatal(err)
	}

	// A reader of its own, in a snapshot that the writes below leave behind.
	db, err := sql.Open("sqlite", path+"?_query_only=1")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rtx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rtx.QueryRow("SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}

	i := 0
	write := func() {
		i++
		if err := s.CreateUser(ctx, testUser(i)); err != nil {
			t.Fatal(err)
		}
	}
	// Past walLimit, well short of walHard.
	for fileSize(path+"-wal") < walLimit+(walHard-walLimit)/3 {
		write()
	}
	// The checkpointer polls several times while writes go on.
	for range 25 {
		write()
		time.Sleep(20 * time.Millisecond)
	}
	if w := fileSize(path + "-wal"); w <= walLimit || w >= walHard {
		t.Fatalf("WAL at %d bytes: the test needs it between %d and %d", w, walLimit, walHard)
	}
	if h := s.held.Load(); h != 0 {
		t.Fatalf("%d writers held back with the WAL under walHard (a checkpoint waited for a reader)", h)
	}

	if err := rtx.Rollback(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "WAL copied and started again by a writer", 30*time.Second, func() bool {
		write()
		time.Sleep(20 * time.Millisecond)
		return fileSize(path+"-wal") <= walLimit
	})
	if h := s.held.Load(); h != 0 {
		t.Fatalf("%d writers held back on the way", h)
	}
}

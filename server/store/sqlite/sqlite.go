// Package sqlite is the embedded store.Store of assentd: one SQLite file in
// the data folder, opened with the pure-Go driver modernc.org/sqlite so that
// assentd builds without cgo.
//
// The file is in WAL mode, so readers never wait for the writer. Writes go
// through a pool of exactly one connection whose transactions begin
// IMMEDIATE: the process has a single writer, read-modify-write transactions
// take the write lock before they read, and two of them can never deadlock
// on a lock upgrade (SQLITE_BUSY). Another process on the same file (an
// admin command, say) waits up to busyTimeout for the lock. Reads use a
// separate pool of query-only connections. Statements are prepared once per
// connection and kept (see pool): parsing SQL is half the cost of a read.
//
// An UpdateX function runs while the write connection is held, so it must
// not call back into the Store to write: that call would wait for the
// connection forever.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/seed-3a5b824e/assent/server/store"
)

// busyTimeout is how long a statement waits for a lock another process
// holds before it fails with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// inTx are the queries run inside write transactions, prepared at Open
// (see pool.prepare).
var inTx = []string{
	userGet, userUpdate, deviceGet, deviceUpdate, challengeGet, challengeInsert, challengeUpdate, txGet, txUpdate,
	tokenGet, deviceInsert, tokenConsume, appGet, appUpdate, counterGet, counterPut, grantGet, grantUpdate,
	secretInsert, secretGet, auditInsert, auditTail, nonceUse, deviceTouch, sessionInsert, txInsert,
	gcSelectExpired, gcExpire, gcDeleteNonces, gcDeleteSessions, gcDeleteTokens, gcDeleteTxs,
	gcDeleteCounters, gcDeleteGrants,
}

// Store is a store.Store on one SQLite file.
type Store struct {
	path string
	w    *pool // one connection; every write goes through it
	r    *pool // query-only connections for reads outside transactions
	// cp checkpoints the WAL into the database file, off the writer's
	// path (see checkpointer).
	cp     *sql.DB
	stopCP chan struct{}
	cpDone chan struct{}
	cpOnce sync.Once

	// kick wakes the checkpointer before its next tick.
	kick chan struct{}
	// passMu guards pass, which is closed (and replaced) when the
	// checkpointer ends a checkpoint: what a writer waiting on an
	// oversized WAL waits for.
	passMu sync.Mutex
	pass   chan struct{}
	// full is set when a write fails for want of space and cleared by the
	// next write that commits.
	full atomic.Bool
	// release is set with full and taken by the checkpointer, which gives
	// up the reserve, even if a write succeeded in between.
	release atomic.Bool
	// truncating is set while the checkpointer runs a RESTART or TRUNCATE
	// checkpoint: writers wait for it rather than race it for the lock.
	truncating atomic.Bool
	// held counts writers that walGate held back.
	held atomic.Int64
	res  *reserve
}

// The WAL's bounds. Every commit appends to the WAL; a checkpoint copies it
// into the database file, and once the whole WAL is copied the next writer
// starts it again from the top, unless a reader still reads from its
// frames. Under a steady load a PASSIVE checkpoint may never catch up (new
// frames arrive while it copies, readers keep old frames in use), so the
// WAL could only grow: hence the limits.
const (
	// checkpointEvery is how often the WAL is copied into the database
	// file (PASSIVE: blocks nobody).
	checkpointEvery = time.Second
	// walLimit is the journal_size_limit (a WAL that is started again is
	// cut back to it) and the size past which the checkpointer copies the
	// WAL at every poll (PASSIVE), so that the next writer finds it copied
	// and starts it again itself.
	walLimit = 4 << 20
	// walHard is the size past which the checkpointer copies the whole WAL
	// and waits for readers to leave it (RESTART), and writers wait for
	// that before they start: the bound that holds under any write load.
	walHard = 2 * walLimit
	// walPoll is how often the checkpointer looks at the WAL's size.
	walPoll = 100 * time.Millisecond
	// truncateEvery is how often the WAL is truncated however small it is,
	// so that a quiet node gives its space back.
	truncateEvery = time.Minute
	// fullRetry is how often, while writes fail for want of space, the
	// checkpointer tries to truncate the WAL and the reserve is checked.
	fullRetry = time.Second
	// cpBusyTimeout is how long a TRUNCATE checkpoint waits for the writer
	// and readers; writers wait behind it meanwhile, so it is short.
	cpBusyTimeout = time.Second
)

// checkpointer copies the WAL into the database file from a connection of
// its own. SQLite would otherwise do it inside whichever commit crosses
// 1,000 pages, with an fsync, while every other write waits behind it.
//
// Every second it runs a PASSIVE checkpoint, which blocks neither readers
// nor the writer; while the WAL file is past walLimit (the writer wakes it
// then, see walGate), at every poll. A writer that starts after a
// checkpoint copied every frame, with no reader left in them, starts the
// WAL again from the top, reusing the file's blocks and cutting the file
// back to walLimit: without anyone waiting. Only when the WAL passes
// walHard anyway (readers kept its frames in use, or writes outran the
// copying) does it run a RESTART checkpoint: it waits for the transaction
// in progress, copies every frame and waits for readers to leave the WAL,
// so that the next writer starts it again; new writers wait behind it for
// its few milliseconds. (A RESTART at walLimit held writers for 4–27 ms
// three times a second at 250 pushes/s: most of the round trips' p99.)
// Once a minute, and
// every second while writes fail for want of space, it runs a TRUNCATE
// checkpoint instead, which also truncates the WAL to zero bytes, giving
// its space back. When a write failed for want of space it first deletes
// the reserve file, so that this checkpoint has room to complete (it may
// have to grow the database file), and it writes the reserve back once the
// volume has room for it and writes succeed again.
func (s *Store) checkpointer() {
	defer close(s.cpDone)
	t := time.NewTicker(walPoll)
	defer t.Stop()
	now := time.Now()
	lastPassive, lastTruncate, lastReserve := now, now, now
	// copied is the WAL's size after the last checkpoint its size asked
	// for: the file keeps that size until a writer starts it again or
	// appends, and is not checkpointed again for it.
	copied := int64(-1)
	for {
		select {
		case <-s.stopCP:
			return
		case <-t.C:
		case <-s.kick:
		}
		now := time.Now()
		full := s.full.Load()
		if s.release.Swap(false) {
			_, _ = s.res.release()
		}
		size := s.walSize()
		// New writers wait (walGate) while a RESTART or TRUNCATE runs:
		// otherwise back-to-back transactions can keep the lock from it
		// until its busy timeout ends.
		switch {
		case full && now.Sub(lastTruncate) >= fullRetry,
			size > 0 && now.Sub(lastTruncate) >= truncateEvery:
			s.checkpoint("TRUNCATE")
			lastTruncate, lastPassive = now, now
		case size > walHard && size != copied:
			s.checkpoint("RESTART")
			lastPassive, copied = now, s.walSize()
		case size > walLimit && size != copied:
			_, _ = s.cp.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			lastPassive, copied = now, size
		case now.Sub(lastPassive) >= checkpointEvery:
			_, _ = s.cp.Exec("PRAGMA wal_checkpoint(PASSIVE)")
			lastPassive = now
		}
		s.passed()
		if !full && now.Sub(lastReserve) >= fullRetry && !s.res.Held() {
			lastReserve = now
			s.refillReserve()
		}
	}
}

// checkpoint runs a RESTART or TRUNCATE checkpoint with new writers held
// back.
func (s *Store) checkpoint(mode string) {
	s.truncating.Store(true)
	defer s.truncating.Store(false)
	_, _ = s.cp.Exec("PRAGMA wal_checkpoint(" + mode + ")")
}

// refillReserve writes the reserve file back when the volume has room for
// it and some more.
func (s *Store) refillReserve() {
	free, err := freeSpace(filepath.Dir(s.path))
	if err == nil && free < s.res.size+reserveMargin {
		return
	}
	_ = s.res.fill()
}

// walSize is the size of the WAL file; 0 when there is none.
func (s *Store) walSize() int64 {
	fi, err := os.Stat(s.path + "-wal")
	if err != nil {
		return 0
	}
	return fi.Size()
}

// passed tells writers waiting for a checkpoint that one ended.
func (s *Store) passed() {
	s.passMu.Lock()
	close(s.pass)
	s.pass = make(chan struct{})
	s.passMu.Unlock()
}

// wake asks the checkpointer to look now.
func (s *Store) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// walGate holds a writer back while the checkpointer runs a RESTART or
// TRUNCATE checkpoint, or while the WAL is past walHard (when the checkpointer is
// late), until the checkpointer has ended a checkpoint (whether or not it
// could truncate: a checkpoint that cannot complete must not stop every
// write). The writer never checkpoints itself.
//
// Past walLimit it wakes the checkpointer without waiting: a fast writer
// fills the WAL quicker than the checkpointer polls its size.
func (s *Store) walGate(ctx context.Context) {
	if s.kick == nil {
		return
	}
	if !s.truncating.Load() {
		size := s.walSize()
		if size > walLimit {
			s.wake()
		}
		if size <= walHard {
			return
		}
	}
	s.held.Add(1)
	s.passMu.Lock()
	pass := s.pass
	s.passMu.Unlock()
	s.wake()
	select {
	case <-pass:
	case <-ctx.Done():
	case <-s.stopCP:
	}
}

// writeErr is what every write path returns its database errors through:
// an error for want of space becomes store.ErrNoSpace and starts the
// recovery (see checkpointer).
func (s *Store) writeErr(err error) error {
	if err == nil || !isNoSpace(err) {
		return err
	}
	s.release.Store(true)
	if s.full.CompareAndSwap(false, true) {
		s.wake()
	}
	return noSpaceErr(err)
}

// wrote notes a committed write: space is no longer short.
func (s *Store) wrote() {
	if s.full.Load() {
		s.full.Store(false)
	}
}

// SpaceShort says whether the store is writing without its reserve file,
// which it gave up when a write failed for want of space: the data volume
// is nearly full even when writes succeed. /readyz shows it.
func (s *Store) SpaceShort() bool {
	return !s.res.Held()
}

var _ store.Store = (*Store)(nil)

// Open opens the database at path, creating it (and its folder, mode 0700)
// when missing, with the file mode 0600, and brings its schema up to date.
func Open(path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: open: empty path")
	}
	// The driver treats everything after '?' as its own parameters.
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite: open %s: path must not contain '?'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: create folder: %w", path, err)
	}
	// Create the file ourselves so that it gets 0600 (SQLite would use 0644
	// less umask); SQLite gives the -wal and -shm files the same mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	// Every connection keeps a 16 MiB page cache: a node reads the same
	// devices and challenges over and over. Reads do not map the file:
	// after every write a reader's next transaction unmaps the whole
	// mapping (SQLite's pager drops it when the WAL changed), and with a
	// write per round trip that cost more than the reads it saved (10 %
	// of the server's CPU per push at 250/s; docs/PERFORMANCE.md).
	const pragmas = "&_foreign_keys=1&_synchronous=NORMAL&_pragma=cache_size(-16384)"
	common := fmt.Sprintf("_busy_timeout=%d", busyTimeout.Milliseconds()) + pragmas
	// The writer never checkpoints (wal_autocheckpoint(0): see
	// checkpointer); when it starts the WAL again it cuts the file back to
	// walLimit.
	w, err := sql.Open("sqlite", path+"?"+common+fmt.Sprintf("&_journal_mode=WAL&_txlock=immediate&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(%d)", walLimit))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	ctx := context.Background()
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}

	// The read pool is opened after the writer has put the file in WAL mode,
	// which is a property of the file: query-only connections could not.
	r, err := sql.Open("sqlite", path+"?"+common+"&_query_only=1")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, 2*runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	s := &Store{path: path, w: newPool(w), r: newPool(r), res: newReserve(path+"-reserve", reserveSize)}
	s.w.onErr, s.w.wrote = s.writeErr, s.wrote
	s.w.gate = s.walGate
	// Without room for the reserve the store still opens: the
	// checkpointer writes the reserve once there is room.
	_ = s.res.fill()
	if err := s.r.db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := s.w.prepare(ctx, inTx...); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: prepare: %w", path, err)
	}
	cp, err := sql.Open("sqlite", path+"?"+fmt.Sprintf("_busy_timeout=%d", cpBusyTimeout.Milliseconds())+pragmas)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	cp.SetMaxOpenConns(1)
	cp.SetMaxIdleConns(1)
	cp.SetConnMaxLifetime(0)
	cp.SetConnMaxIdleTime(0)
	s.cp, s.stopCP, s.cpDone = cp, make(chan struct{}), make(chan struct{})
	s.kick, s.pass = make(chan struct{}, 1), make(chan struct{})
	go s.checkpointer()
	return s, nil
}

// Ping checks that both pools answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping %s: %w", s.path, err)
	}
	if err := s.r.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping %s: %w", s.path, err)
	}
	return nil
}

// Close closes the database; calling it again does nothing.
func (s *Store) Close() error {
	// Cheap, and keeps the query planner's statistics current for the next
	// start (https://sqlite.org/lang_analyze.html#pragopt).
	_, _ = s.w.db.Exec("PRAGMA optimize")
	var cpErr error
	s.cpOnce.Do(func() {
		if s.cp != nil {
			close(s.stopCP)
			<-s.cpDone
			_, _ = s.cp.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
			cpErr = s.cp.Close()
		}
	})
	if err := errors.Join(s.r.close(), s.w.close(), cpErr); err != nil {
		return fmt.Errorf("sqlite: close %s: %w", s.path, err)
	}
	return nil
}

// querier is what *sql.DB, *sql.Tx, pool and txq offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is what both *sql.Row and *sql.Rows offer.
type scanner interface {
	Scan(dest ...any) error
}

// errFn carries an UpdateX function's error out of the transaction so that
// it can be returned unchanged.
type errFn struct{ err error }

func (e errFn) Error() string { return e.err.Error() }

// write runs fn in an IMMEDIATE transaction on the write connection and
// commits it when fn returns nil.
//
// Its errors come through writeErr: for want of space they are
// store.ErrNoSpace, and the checkpointer starts the recovery.
func (s *Store) write(ctx context.Context, fn func(tx querier) error) error {
	s.walGate(ctx)
	err := s.writeTx(ctx, fn)
	if err == nil {
		s.wrote()
	}
	return s.writeErr(err)
}

func (s *Store) writeTx(ctx context.Context, fn func(tx querier) error) error {
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	// Also when fn panics: a transaction left open would hold the only
	// write connection for good. After Commit this is a no-op.
	defer tx.Rollback()
	if err := fn(txq{tx, s.w}); err != nil {
		return err
	}
	return tx.Commit()
}

// update is the read-modify-write of every UpdateX: get the row, let fn
// change it, put it back, and return it as a later Get would. The key is
// the row's; fn cannot move it.
func update[T any](ctx context.Context, s *Store, what, id string,
	get func(context.Context, querier, string) (T, error),
	put func(context.Context, querier, string, T) error,
	fn func(*T) error,
) (T, error) {
	var out T
	err := s.write(ctx, func(tx querier) error {
		v, err := get(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return errFn{err}
		}
		if err := put(ctx, tx, id, v); err != nil {
			return err
		}
		out, err = get(ctx, tx, id)
		return err
	})
	if err != nil {
		var fe errFn
		if errors.As(err, &fe) {
			return out, fe.err
		}
		return out, fmt.Errorf("sqlite: update %s %s: %w", what, id, dbErr(err))
	}
	return out, nil
}

// dbErr maps what callers branch on to the store's sentinel errors, keeping
// the driver's error in the chain and the message.
func dbErr(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	if isNoSpace(err) {
		return noSpaceErr(err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("referenced user or device %w: %w", store.ErrNotFound, err)
		}
	}
	return err
}

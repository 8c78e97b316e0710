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
	userGet, userUpdate, deviceGet, deviceUpdate, challengeGet, challengeUpdate, txGet, txUpdate,
	tokenGet, deviceInsert, tokenConsume, appGet, appUpdate, counterGet, counterPut, grantGet, grantUpdate,
	secretInsert, secretGet, auditInsert, auditTail,
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
}

// checkpointEvery is how often the WAL is copied into the database file.
const checkpointEvery = time.Second

// checkpointer copies the WAL into the database file from a connection of
// its own. SQLite would otherwise do it inside whichever commit crosses
// 1,000 pages, with an fsync, while every other write waits behind it.
// A PASSIVE checkpoint blocks neither readers nor the writer.
func (s *Store) checkpointer() {
	defer close(s.cpDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stopCP:
			return
		case <-t.C:
			_, _ = s.cp.Exec("PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
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

	// Reads map the file instead of copying it in with a system call each,
	// and every connection keeps a 16 MiB page cache: a node reads the
	// same devices and challenges over and over.
	common := fmt.Sprintf("_busy_timeout=%d&_foreign_keys=1&_synchronous=NORMAL&_pragma=mmap_size(268435456)&_pragma=cache_size(-16384)",
		busyTimeout.Milliseconds())
	w, err := sql.Open("sqlite", path+"?"+common+"&_journal_mode=WAL&_txlock=immediate&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(67108864)")
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
	s := &Store{path: path, w: newPool(w), r: newPool(r)}
	if err := s.r.db.PingContext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := s.w.prepare(ctx, inTx...); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: prepare: %w", path, err)
	}
	cp, err := sql.Open("sqlite", path+"?"+common)
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	cp.SetMaxOpenConns(1)
	s.cp, s.stopCP, s.cpDone = cp, make(chan struct{}), make(chan struct{})
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
func (s *Store) write(ctx context.Context, fn func(tx querier) error) error {
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

// Package postgres is the store.Store of assentd for several nodes: one
// PostgreSQL database that every node opens, through a pgx connection pool.
//
// Transactions run at READ COMMITTED. An UpdateX reads its row with SELECT
// … FOR NO KEY UPDATE, so that concurrent updates of one row queue behind
// each other and each sees the row as the one before left it; at READ
// COMMITTED a row lock never ends in a serialization failure, and one row
// lock per transaction cannot deadlock, so in practice fn runs once. Only whole-table
// work (GarbageCollect, RevokeSessions, RevokeGrants) could meet another
// transaction in a deadlock; transactions are retried a few times on a deadlock or
// serialization failure, which store allows (fn may run again).
//
// Open applies the embedded migrations under a transaction-level advisory
// lock, so that nodes starting together on a new database do not race. The
// tables live in the first schema of the search_path; a URL may name one
// (…?search_path=assent).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/seed-3a5b824e/assent/server/store"
)

// connectTimeout bounds each connection attempt when the URL sets no
// connect_timeout: a database behind a dropped route fails Open instead of
// hanging it.
const connectTimeout = 10 * time.Second

// Advisory lock keys ("assent" and a number). They hold for the whole
// database, whatever schema the tables are in.
const (
	lockMigrate int64 = 0x617373656e740001
	lockAudit   int64 = 0x617373656e740002
	lockGC      int64 = 0x617373656e740003
)

// maxAttempts is how often a transaction runs when it keeps failing with a
// deadlock or a serialization failure.
const maxAttempts = 3

// Store is a store.Store on a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	// where is host:port/database for messages; never the password.
	where string
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at url (postgres://user:password@host:port/db?…,
// any setting libpq and pgx know) and brings its schema up to date.
// Errors name the host and database, never the password.
func Open(ctx context.Context, url string) (*Store, error) {
	if url == "" {
		// pgx would fall back to PGHOST and friends, or a local socket.
		return nil, errors.New("postgres: open: empty URL")
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message shows the URL with the password masked.
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return openConfig(ctx, cfg)
}

// openConfig opens a pool made from a parsed config; tests set the
// search_path in it.
func openConfig(ctx context.Context, cfg *pgxpool.Config) (*Store, error) {
	cc := cfg.ConnConfig
	where := net.JoinHostPort(cc.Host, fmt.Sprint(cc.Port)) + "/" + cc.Database
	if cc.ConnectTimeout == 0 {
		cc.ConnectTimeout = connectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	// Connect now, so that an unreachable database fails here, by name.
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	if err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open %s: %w", where, err)
	}
	return &Store{pool: pool, where: where}, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping %s: %w", s.where, err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to come back;
// calling it again does nothing.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// querier is what *pgxpool.Pool and pgx.Tx offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// scanner is what both pgx.Row and pgx.Rows offer.
type scanner interface {
	Scan(dest ...any) error
}

// errFn carries an UpdateX function's error out of the transaction so that
// it can be returned unchanged (and is never taken for a database error).
type errFn struct{ err error }

func (e errFn) Error() string { return e.err.Error() }

// write runs fn in a READ COMMITTED transaction and commits it when fn
// returns nil; on a deadlock or serialization failure it runs fn again, up
// to maxAttempts times. A failure for want of space is store.ErrNoSpace.
func (s *Store) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.writeOnce(ctx, fn)
		if err == nil || attempt == maxAttempts || !retryable(err) || ctx.Err() != nil {
			return noSpaceErr(err)
		}
	}
}

func (s *Store) writeOnce(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	// Also when fn panics. After Commit this is a no-op; if ctx is done,
	// the rollback still goes out (or pgx closes the connection).
	defer tx.Rollback(context.WithoutCancel(ctx))
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// retryable says whether a transaction that failed with err may succeed
// when run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	}
	return false
}

// update is the read-modify-write of every UpdateX: lock the row, let fn
// change it, write it back and return it as stored. The key is the row's;
// fn cannot move it. after, when given, runs last in the transaction with
// the row as stored (UpdateChallenge's audit events).
func update[T any](ctx context.Context, s *Store, what, id, lock, put string,
	scan func(scanner) (T, error), args func(T) []any, fn func(*T) error,
	after ...func(pgx.Tx, T) error,
) (T, error) {
	var out T
	err := s.write(ctx, func(tx pgx.Tx) error {
		v, err := scan(tx.QueryRow(ctx, lock, id))
		if err != nil {
			return err
		}
		if err := fn(&v); err != nil {
			return errFn{err}
		}
		a := args(v)
		a[0] = id
		if out, err = scan(tx.QueryRow(ctx, put, a...)); err != nil {
			return err
		}
		for _, f := range after {
			if f != nil {
				if err := f(tx, out); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		var fe errFn
		if errors.As(err, &fe) {
			return out, fe.err
		}
		return out, fmt.Errorf("postgres: update %s %s: %w", what, id, dbErr(err))
	}
	return out, nil
}

// dbErr maps what callers branch on to the store's sentinel errors, keeping
// the driver's error in the chain and the message.
func dbErr(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if isNoSpace(err) {
		return noSpaceErr(err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %w", store.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("referenced user or device %w: %w", store.ErrNotFound, err)
		}
	}
	return err
}

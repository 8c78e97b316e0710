package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

var counters = table{"counters", []string{"key", "count", "window_start", "until", "last", "expires_at"}}

var (
	counterGet    = counters.getSQL()
	counterLock   = counters.lockSQL()
	counterUpdate = counters.updateSQL()
	// counterEnsure gives a key without a row a zero one to lock. An insert
	// racing with another of the same key waits for it to commit (then does
	// nothing) or roll back (then inserts).
	counterEnsure = "INSERT INTO counters (key, count, expires_at) VALUES ($1, 0, '-infinity') ON CONFLICT (key) DO NOTHING"
)

// counterTries bounds how often UpdateCounter looks for its row again when
// GarbageCollect deleted it between the insert and the lock.
const counterTries = 3

func counterArgs(c store.Counter) []any {
	return []any{c.Key, c.Count, ts(c.WindowStart), ts(c.Until), ts(c.Last), tsSet(c.ExpiresAt)}
}

func scanCounter(sc scanner) (store.Counter, error) {
	var (
		c                             store.Counter
		windowStart, until, last, exp pgtype.Timestamptz
	)
	if err := sc.Scan(&c.Key, &c.Count, &windowStart, &until, &last, &exp); err != nil {
		return store.Counter{}, err
	}
	c.WindowStart, c.Until, c.Last, c.ExpiresAt = fromTS(windowStart), fromTS(until), fromTS(last), fromTS(exp)
	return c, nil
}

// UpdateCounter makes sure the key has a row (a zero counter, which reads
// back as store.Counter{Key: key}), locks it and updates it, all in one
// transaction: concurrent updates of one key queue on the row lock, and
// each sees the counter as the one before left it. When fn fails, the
// rollback removes the zero row again.
func (s *Store) UpdateCounter(ctx context.Context, key string, fn func(*store.Counter) error) (store.Counter, error) {
	var read, out store.Counter
	err := s.write(ctx, func(tx pgx.Tx) error {
		c, err := lockCounter(ctx, tx, key)
		if err != nil {
			return err
		}
		read = c
		if err := fn(&c); err != nil {
			return errFn{err}
		}
		c.Key = key
		out, err = scanCounter(tx.QueryRow(ctx, counterUpdate, counterArgs(c)...))
		return err
	})
	if err != nil {
		var fe errFn
		if errors.As(err, &fe) {
			return read, fe.err
		}
		return store.Counter{}, fmt.Errorf("postgres: update counter %s: %w", key, dbErr(err))
	}
	return out, nil
}

// lockCounter returns the key's counter, locked, inserting a zero one when
// there is none. Each statement at READ COMMITTED sees what committed
// before it began, so when the lock finds the row gone (GarbageCollect
// deleted it after the insert saw it), the next insert puts it back.
func lockCounter(ctx context.Context, tx pgx.Tx, key string) (store.Counter, error) {
	for try := 1; ; try++ {
		if _, err := tx.Exec(ctx, counterEnsure, key); err != nil {
			return store.Counter{}, err
		}
		c, err := scanCounter(tx.QueryRow(ctx, counterLock, key))
		if !errors.Is(err, pgx.ErrNoRows) || try == counterTries {
			return c, err
		}
	}
}

func (s *Store) GetCounter(ctx context.Context, key string) (store.Counter, error) {
	c, err := scanCounter(s.pool.QueryRow(ctx, counterGet, key))
	if err != nil {
		return store.Counter{}, fmt.Errorf("postgres: get counter %s: %w", key, dbErr(err))
	}
	return c, nil
}

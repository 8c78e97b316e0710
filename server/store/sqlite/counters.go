package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/seed-3a5b824e/assent/server/store"
)

var counters = table{"counters", []string{"key", "count", "window_start", "until", "last", "expires_at"}}

var (
	counterGet = counters.getSQL()
	// counterPut inserts the counter or overwrites the one there.
	counterPut = counters.insertSQL() + ` ON CONFLICT (key) DO UPDATE SET
	(count, window_start, until, last, expires_at) =
	(excluded.count, excluded.window_start, excluded.until, excluded.last, excluded.expires_at)`
	gcDeleteCounters = "DELETE FROM counters WHERE expires_at <= ?"
)

func counterArgs(c store.Counter) []any {
	return []any{c.Key, c.Count, ms(c.WindowStart), ms(c.Until), ms(c.Last), ms(c.ExpiresAt)}
}

func scanCounter(sc scanner) (store.Counter, error) {
	var (
		c                             store.Counter
		windowStart, until, last, exp int64
	)
	if err := sc.Scan(&c.Key, &c.Count, &windowStart, &until, &last, &exp); err != nil {
		return store.Counter{}, err
	}
	c.WindowStart, c.Until, c.Last, c.ExpiresAt = fromMS(windowStart), fromMS(until), fromMS(last), fromMS(exp)
	return c, nil
}

// UpdateCounter runs in one IMMEDIATE transaction on the single write
// connection, so updates of any counters serialize.
func (s *Store) UpdateCounter(ctx context.Context, key string, fn func(*store.Counter) error) (store.Counter, error) {
	var read, out store.Counter
	err := s.write(ctx, func(tx querier) error {
		c, err := scanCounter(tx.QueryRowContext(ctx, counterGet, key))
		if errors.Is(err, sql.ErrNoRows) {
			c, err = store.Counter{Key: key}, nil
		}
		if err != nil {
			return err
		}
		read = c
		if err := fn(&c); err != nil {
			return errFn{err}
		}
		c.Key = key
		if _, err := tx.ExecContext(ctx, counterPut, counterArgs(c)...); err != nil {
			return err
		}
		out, err = scanCounter(tx.QueryRowContext(ctx, counterGet, key))
		return err
	})
	if err != nil {
		var fe errFn
		if errors.As(err, &fe) {
			return read, fe.err
		}
		return store.Counter{}, fmt.Errorf("sqlite: update counter %s: %w", key, dbErr(err))
	}
	return out, nil
}

func (s *Store) GetCounter(ctx context.Context, key string) (store.Counter, error) {
	c, err := scanCounter(s.r.QueryRowContext(ctx, counterGet, key))
	if err != nil {
		return store.Counter{}, fmt.Errorf("sqlite: get counter %s: %w", key, dbErr(err))
	}
	return c, nil
}

// PutCounters writes each counter as it is (store.CounterPutter) and
// leaves it as a read would return it.
func (s *Store) PutCounters(ctx context.Context, cs []store.Counter) error {
	err := s.write(ctx, func(tx querier) error {
		for _, c := range cs {
			if _, err := tx.ExecContext(ctx, counterPut, counterArgs(c)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: put %d counters: %w", len(cs), dbErr(err))
	}
	for i := range cs {
		c := &cs[i]
		c.WindowStart, c.Until, c.Last, c.ExpiresAt = fromMS(ms(c.WindowStart)), fromMS(ms(c.Until)), fromMS(ms(c.Last)), fromMS(ms(c.ExpiresAt))
	}
	return nil
}

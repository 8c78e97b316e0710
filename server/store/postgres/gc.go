package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/seed-3a5b824e/assent/server/store"
)

// A key is inserted, or taken over once its record has expired (an expiry
// not after now); when neither happens no row changes and the key is a
// replay. Racing uses of one key queue on the key's index entry, and the
// later ones see the first one's expiry.
const nonceUse = `INSERT INTO nonces (key, expires_at) VALUES ($1, $2)
ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= $3`

const (
	// DO NOTHING waits for a racing insert of the same name to commit or
	// roll back; when it did commit, secretGet (a new statement with a new
	// snapshot) sees its value.
	secretInsert = "INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value"
	secretGet    = "SELECT value FROM secrets WHERE name = $1"

	gcDeleteNonces   = "DELETE FROM nonces WHERE expires_at <= $1"
	gcDeleteSessions = "DELETE FROM sessions WHERE expires_at <= $1"
	gcDeleteTokens   = "DELETE FROM enroll_tokens WHERE expires_at <= $1"
	gcDeleteTxs      = "DELETE FROM transactions WHERE expires_at <= $1"
	gcDeleteCounters = "DELETE FROM counters WHERE expires_at <= $1"
)

// gcExpire returns exactly the challenges it changed: one that an
// UpdateChallenge answered while this statement waited for its row lock is
// re-checked, found no longer pending, and left alone.
var gcExpire = `WITH e AS (UPDATE challenges SET status = 'expired', reason = $1
	WHERE status = 'pending' AND expires_at <= $2
	RETURNING ` + challenges.columns() + `, seq)
SELECT ` + challenges.columns() + ` FROM e ORDER BY created_at, seq`

func (s *Store) UseNonce(ctx context.Context, key string, now, expires time.Time) error {
	tag, err := s.pool.Exec(ctx, nonceUse, key, tsSet(expires), tsSet(now))
	if err != nil {
		return fmt.Errorf("postgres: use nonce: %w", dbErr(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: use nonce: %w", store.ErrReplay)
	}
	return nil
}

// UseNonces records several one-time keys in one transaction
// (store.NonceBatcher), sent with its BEGIN and COMMIT in one round trip.
// The keys go in key order (a key twice in the batch in the order given),
// so that two nodes' batches naming the same keys never wait on each
// other in a circle.
func (s *Store) UseNonces(ctx context.Context, us []store.NonceUse) ([]error, error) {
	order := make([]int, len(us))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return strings.Compare(us[a].Key, us[b].Key) })
	var (
		errs []error
		err  error
	)
	for attempt := 1; ; attempt++ {
		errs, err = s.useNonces(ctx, us, order)
		if err == nil || attempt == maxAttempts || !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: use %d nonces: %w", len(us), dbErr(err))
	}
	return errs, nil
}

func (s *Store) useNonces(ctx context.Context, us []store.NonceUse, order []int) ([]error, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release(ctx, conn)
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	for _, i := range order {
		b.Queue(nonceUse, us[i].Key, tsSet(us[i].Expires), tsSet(us[i].Now))
	}
	b.Queue("COMMIT")
	br := conn.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		br.Close()
		return nil, err
	}
	errs := make([]error, len(us))
	for _, i := range order {
		tag, err := br.Exec()
		if err != nil {
			br.Close()
			return nil, err
		}
		if tag.RowsAffected() == 0 {
			errs[i] = fmt.Errorf("postgres: use nonce: %w", store.ErrReplay)
		}
	}
	if err := committed(br); err != nil {
		return nil, err
	}
	return errs, nil
}

func (s *Store) GetSecret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	if err := s.pool.QueryRow(ctx, secretGet, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("postgres: get secret %s: %w", name, dbErr(err))
	}
	return v, nil
}

func (s *Store) PutSecretIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, secretInsert, name, blob(value)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		// Secrets are never deleted, so the value there stays there.
		err = s.pool.QueryRow(ctx, secretGet, name).Scan(&v)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: put secret %s: %w", name, dbErr(err))
	}
	return v, nil
}

// GarbageCollect expires pending challenges with ExpiresAt <= now and
// deletes used nonces past expiry, expired sessions and counters, and
// enrollment tokens, transactions and grants expired more than
// store.GCGrace ago (admin tokens are kept, expired or not). Nodes collecting at once take
// turns (an advisory lock): the second finds nothing left, rather than the
// two locking the same rows in different orders.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (store.GCResult, error) {
	var res store.GCResult
	at, grace := tsSet(now), tsSet(now.Add(-store.GCGrace))
	err := s.write(ctx, func(tx pgx.Tx) error {
		res = store.GCResult{}
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockGC); err != nil {
			return err
		}
		expired, err := list(ctx, tx, scanChallenge, gcExpire, store.ExpiredReason, at)
		if err != nil {
			return err
		}
		res.Expired = expired
		for _, d := range []struct {
			query  string
			before any
		}{
			{gcDeleteNonces, at},
			{gcDeleteSessions, at},
			{gcDeleteTokens, grace},
			{gcDeleteTxs, grace},
			{gcDeleteCounters, at},
			{gcDeleteGrants, grace},
		} {
			tag, err := tx.Exec(ctx, d.query, d.before)
			if err != nil {
				return err
			}
			res.Deleted += tag.RowsAffected()
		}
		if len(expired) == 0 {
			return nil
		}
		// The events commit with the expiry (the audit lock taken last,
		// as everywhere): a crash cannot leave an expired challenge
		// without its push.expired.
		events := make([]store.AuditEvent, len(expired))
		for i, c := range expired {
			events[i] = store.ExpiredEvent(c, now)
		}
		res.Audits, err = appendAudits(ctx, tx, events)
		return err
	})
	if err != nil {
		return store.GCResult{}, fmt.Errorf("postgres: garbage collect: %w", err)
	}
	return res, nil
}

package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// A key is inserted, or taken over once its record is past expiry; when
// neither happens no row changes and the key is a replay.
const nonceUse = `INSERT INTO nonces (key, expires_at) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at <= ?`

const (
	secretInsert = "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"
	secretGet    = "SELECT value FROM secrets WHERE name = ?"

	gcExpire         = "UPDATE challenges SET status = 'expired', reason = ? WHERE status = 'pending' AND expires_at <= ?"
	gcDeleteNonces   = "DELETE FROM nonces WHERE expires_at <= ?"
	gcDeleteSessions = "DELETE FROM sessions WHERE expires_at <= ?"
	gcDeleteTokens   = "DELETE FROM enroll_tokens WHERE expires_at <= ?"
	gcDeleteTxs      = "DELETE FROM transactions WHERE expires_at <= ?"
)

var gcSelectExpired = challenges.selectSQL() + " WHERE status = 'pending' AND expires_at <= ? ORDER BY created_at, rowid"

func (s *Store) UseNonce(ctx context.Context, key string, now, expires time.Time) error {
	res, err := s.w.ExecContext(ctx, nonceUse, key, ms(expires), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("sqlite: use nonce: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: use nonce: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("sqlite: use nonce: %w", store.ErrReplay)
	}
	return nil
}

// UseNonces records several one-time keys in one transaction
// (store.NonceBatcher).
func (s *Store) UseNonces(ctx context.Context, us []store.NonceUse) ([]error, error) {
	var errs []error
	err := s.write(ctx, func(tx querier) error {
		errs = make([]error, len(us))
		for i, u := range us {
			n, err := execRows(ctx, tx, nonceUse, u.Key, ms(u.Expires), u.Now.UnixMilli())
			if err != nil {
				return err
			}
			if n == 0 {
				errs[i] = fmt.Errorf("sqlite: use nonce: %w", store.ErrReplay)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: use %d nonces: %w", len(us), dbErr(err))
	}
	return errs, nil
}

func (s *Store) GetSecret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	if err := s.r.QueryRowContext(ctx, secretGet, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("sqlite: get secret %s: %w", name, dbErr(err))
	}
	return v, nil
}

func (s *Store) PutSecretIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error) {
	var v []byte
	err := s.write(ctx, func(tx querier) error {
		_, err := tx.ExecContext(ctx, secretInsert, name, blob(value))
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, secretGet, name).Scan(&v)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: put secret %s: %w", name, err)
	}
	return v, nil
}

// GarbageCollect expires pending challenges with ExpiresAt <= now and
// deletes used nonces past expiry, expired sessions and counters, and
// enrollment tokens, transactions and grants expired more than
// store.GCGrace ago. Admin tokens are kept, expired or not.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (store.GCResult, error) {
	var res store.GCResult
	at := now.UnixMilli()
	err := s.write(ctx, func(tx querier) error {
		expired, err := list(ctx, tx, scanChallenge, gcSelectExpired, at)
		if err != nil {
			return err
		}
		if len(expired) > 0 {
			_, err := tx.ExecContext(ctx, gcExpire, store.ExpiredReason, at)
			if err != nil {
				return err
			}
			events := make([]store.AuditEvent, len(expired))
			for i := range expired {
				expired[i].Status, expired[i].Reason = store.ChallengeExpired, store.ExpiredReason
				events[i] = store.ExpiredEvent(expired[i], now)
			}
			// The events commit with the expiry: a crash cannot leave an
			// expired challenge without its push.expired.
			if res.Audits, err = appendAudits(ctx, tx, nil, events); err != nil {
				return err
			}
		}
		res.Expired = expired

		grace := now.Add(-store.GCGrace).UnixMilli()
		for _, d := range []struct {
			query  string
			before int64
		}{
			{gcDeleteNonces, at},
			{gcDeleteSessions, at},
			{gcDeleteTokens, grace},
			{gcDeleteTxs, grace},
			{gcDeleteCounters, at},
			{gcDeleteGrants, grace},
		} {
			r, err := tx.ExecContext(ctx, d.query, d.before)
			if err != nil {
				return err
			}
			n, err := r.RowsAffected()
			if err != nil {
				return err
			}
			res.Deleted += n
		}
		return nil
	})
	if err != nil {
		return store.GCResult{}, fmt.Errorf("sqlite: garbage collect: %w", err)
	}
	return res, nil
}

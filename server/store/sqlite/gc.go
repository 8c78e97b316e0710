package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// A key is inserted, or taken over once its record is past expiry; when
// neither happens no row changes and the key is a replay.
const nonceUse = `INSERT INTO nonces (key, expires_at) VALUES (?, ?)
ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at WHERE nonces.expires_at < ?`

func (s *Store) UseNonce(ctx context.Context, key string, expires time.Time) error {
	res, err := s.w.ExecContext(ctx, nonceUse, key, ms(expires), time.Now().UnixMilli())
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

func (s *Store) GetSecret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	if err := s.r.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v); err != nil {
		return nil, fmt.Errorf("sqlite: get secret %s: %w", name, dbErr(err))
	}
	return v, nil
}

func (s *Store) PutSecretIfAbsent(ctx context.Context, name string, value []byte) ([]byte, error) {
	var v []byte
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", name, blob(value))
		if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", name).Scan(&v)
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: put secret %s: %w", name, err)
	}
	return v, nil
}

// GarbageCollect expires pending challenges with ExpiresAt <= now and
// deletes used nonces past expiry, expired sessions, and enrollment tokens
// and transactions expired more than gcGrace ago.
func (s *Store) GarbageCollect(ctx context.Context, now time.Time) (store.GCResult, error) {
	var res store.GCResult
	at := now.UnixMilli()
	err := s.write(ctx, func(tx *sql.Tx) error {
		expired, err := list(ctx, tx, scanChallenge,
			challenges.selectSQL()+" WHERE status = ? AND expires_at <= ? ORDER BY created_at, rowid",
			store.ChallengePending, at)
		if err != nil {
			return err
		}
		if len(expired) > 0 {
			_, err := tx.ExecContext(ctx, "UPDATE challenges SET status = ? WHERE status = ? AND expires_at <= ?",
				store.ChallengeExpired, store.ChallengePending, at)
			if err != nil {
				return err
			}
			for i := range expired {
				expired[i].Status = store.ChallengeExpired
			}
		}
		res.Expired = expired

		grace := now.Add(-gcGrace).UnixMilli()
		for _, d := range []struct {
			query  string
			before int64
		}{
			{"DELETE FROM nonces WHERE expires_at <= ?", at},
			{"DELETE FROM sessions WHERE expires_at <= ?", at},
			{"DELETE FROM enroll_tokens WHERE expires_at <= ?", grace},
			{"DELETE FROM transactions WHERE expires_at <= ?", grace},
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

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

var transactions = table{"transactions", []string{
	"id", "app", "kind", "user_id", "status", "data", "client_ip", "user_agent",
	"created_at", "updated_at", "expires_at",
}}

var sessions = table{"sessions", []string{
	"id", "user_id", "tx_id", "client_ip", "user_agent", "app", "amr_json", "auth_time", "risk",
	"created_at", "expires_at", "revoked_at",
}}

var (
	txInsert = transactions.insertSQL()
	txGet    = transactions.getSQL()
	txLock   = transactions.lockSQL()
	txUpdate = transactions.updateSQL()

	sessionInsert    = sessions.insertSQL()
	sessionGet       = sessions.getSQL()
	sessionRevoke    = "UPDATE sessions SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL"
	sessionRevokeOne = "UPDATE sessions SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1"
)

func txArgs(t store.Transaction) []any {
	return []any{
		t.ID, t.App, t.Kind, t.UserID, t.Status, blob(t.Data), t.ClientIP, t.UserAgent,
		tsSet(t.CreatedAt), ts(t.UpdatedAt), tsSet(t.ExpiresAt),
	}
}

func scanTx(sc scanner) (store.Transaction, error) {
	var (
		t                         store.Transaction
		created, updated, expires pgtype.Timestamptz
	)
	err := sc.Scan(&t.ID, &t.App, &t.Kind, &t.UserID, &t.Status, &t.Data, &t.ClientIP, &t.UserAgent,
		&created, &updated, &expires)
	if err != nil {
		return store.Transaction{}, err
	}
	t.Data = fromBlob(t.Data)
	t.CreatedAt, t.UpdatedAt, t.ExpiresAt = fromTS(created), fromTS(updated), fromTS(expires)
	return t, nil
}

func (s *Store) CreateTransaction(ctx context.Context, t store.Transaction) error {
	if _, err := s.pool.Exec(ctx, txInsert, txArgs(t)...); err != nil {
		return fmt.Errorf("postgres: create transaction %s: %w", t.ID, dbErr(err))
	}
	return nil
}

func (s *Store) GetTransaction(ctx context.Context, id string) (store.Transaction, error) {
	t, err := scanTx(s.pool.QueryRow(ctx, txGet, id))
	if err != nil {
		return store.Transaction{}, fmt.Errorf("postgres: get transaction %s: %w", id, dbErr(err))
	}
	return t, nil
}

func (s *Store) UpdateTransaction(ctx context.Context, id string, fn func(*store.Transaction) error) (store.Transaction, error) {
	return update(ctx, s, "transaction", id, txLock, txUpdate, scanTx, txArgs, fn)
}

func sessionArgs(se store.Session) []any {
	return []any{
		se.ID, se.UserID, se.TxID, se.ClientIP, se.UserAgent, se.App, encodeList(se.AMR), ts(se.AuthTime), se.Risk,
		tsSet(se.CreatedAt), tsSet(se.ExpiresAt), ts(se.RevokedAt),
	}
}

func scanSession(sc scanner) (store.Session, error) {
	var (
		se                                  store.Session
		amr                                 []byte
		authTime, created, expires, revoked pgtype.Timestamptz
	)
	err := sc.Scan(&se.ID, &se.UserID, &se.TxID, &se.ClientIP, &se.UserAgent, &se.App, &amr, &authTime, &se.Risk,
		&created, &expires, &revoked)
	if err != nil {
		return store.Session{}, err
	}
	if se.AMR, err = decodeList[string]("amr", amr); err != nil {
		return store.Session{}, err
	}
	se.AuthTime, se.CreatedAt, se.ExpiresAt, se.RevokedAt = fromTS(authTime), fromTS(created), fromTS(expires), fromTS(revoked)
	return se, nil
}

func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	_, err := s.pool.Exec(ctx, sessionInsert, sessionArgs(se)...)
	if err != nil {
		return fmt.Errorf("postgres: create session for user %s: %w", se.UserID, dbErr(err))
	}
	return nil
}

func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	se, err := scanSession(s.pool.QueryRow(ctx, sessionGet, id))
	if err != nil {
		return store.Session{}, fmt.Errorf("postgres: get session: %w", dbErr(err))
	}
	return se, nil
}

func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, sessionRevokeOne, id, ts(now))
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: revoke session: %w", dbErr(err))
	}
	return nil
}

// RevokeSessions runs in a retried transaction: its row locks, taken in
// whatever order the scan finds the rows, could meet GarbageCollect's
// deleting expired sessions in a deadlock.
func (s *Store) RevokeSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	var n int64
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sessionRevoke, userID, ts(now))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: revoke sessions of user %s: %w", userID, dbErr(err))
	}
	return int(n), nil
}

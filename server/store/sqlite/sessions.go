package sqlite

import (
	"context"
	"fmt"
	"time"

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
	txUpdate = transactions.updateSQL()

	sessionInsert    = sessions.insertSQL()
	sessionGet       = sessions.getSQL()
	sessionRevoke    = "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at = 0"
	sessionRevokeOne = "UPDATE sessions SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?"
)

func txArgs(t store.Transaction) []any {
	return []any{
		t.ID, t.App, t.Kind, t.UserID, t.Status, blob(t.Data), t.ClientIP, t.UserAgent,
		ms(t.CreatedAt), ms(t.UpdatedAt), ms(t.ExpiresAt),
	}
}

func scanTx(sc scanner) (store.Transaction, error) {
	var (
		t                         store.Transaction
		created, updated, expires int64
	)
	err := sc.Scan(&t.ID, &t.App, &t.Kind, &t.UserID, &t.Status, &t.Data, &t.ClientIP, &t.UserAgent,
		&created, &updated, &expires)
	if err != nil {
		return store.Transaction{}, err
	}
	t.Data = fromBlob(t.Data)
	t.CreatedAt, t.UpdatedAt, t.ExpiresAt = fromMS(created), fromMS(updated), fromMS(expires)
	return t, nil
}

func getTx(ctx context.Context, q querier, id string) (store.Transaction, error) {
	return scanTx(q.QueryRowContext(ctx, txGet, id))
}

func putTx(ctx context.Context, q querier, id string, t store.Transaction) error {
	_, err := q.ExecContext(ctx, txUpdate, append(txArgs(t)[1:], id)...)
	return err
}

// PutTransactions writes each transaction as it is (store.TransactionPutter)
// and leaves it as a read would return it.
func (s *Store) PutTransactions(ctx context.Context, ts []store.Transaction) ([]error, error) {
	var errs []error
	err := s.write(ctx, func(tx querier) error {
		errs = make([]error, len(ts))
		for i, t := range ts {
			n, err := execRows(ctx, tx, txUpdate, append(txArgs(t)[1:], t.ID)...)
			if err != nil {
				return err
			}
			if n == 0 {
				errs[i] = fmt.Errorf("sqlite: put transaction %s: %w", t.ID, store.ErrNotFound)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: put %d transactions: %w", len(ts), dbErr(err))
	}
	for i := range ts {
		t := &ts[i]
		t.Data = fromBlob(blob(t.Data))
		t.CreatedAt, t.UpdatedAt, t.ExpiresAt = fromMS(ms(t.CreatedAt)), fromMS(ms(t.UpdatedAt)), fromMS(ms(t.ExpiresAt))
	}
	return errs, nil
}

func (s *Store) CreateTransaction(ctx context.Context, t store.Transaction) error {
	if _, err := s.w.ExecContext(ctx, txInsert, txArgs(t)...); err != nil {
		return fmt.Errorf("sqlite: create transaction %s: %w", t.ID, dbErr(err))
	}
	return nil
}

// CreateTransactions creates transactions in one transaction of the
// database, all or none (store.TransactionCreator).
func (s *Store) CreateTransactions(ctx context.Context, ts []store.Transaction) error {
	return insertAll(ctx, s, "transactions", txInsert, txArgs, ts)
}

func (s *Store) GetTransaction(ctx context.Context, id string) (store.Transaction, error) {
	t, err := getTx(ctx, s.r, id)
	if err != nil {
		return store.Transaction{}, fmt.Errorf("sqlite: get transaction %s: %w", id, dbErr(err))
	}
	return t, nil
}

func (s *Store) UpdateTransaction(ctx context.Context, id string, fn func(*store.Transaction) error) (store.Transaction, error) {
	return update(ctx, s, "transaction", id, getTx, putTx, fn)
}

func sessionArgs(se store.Session) []any {
	return []any{
		se.ID, se.UserID, se.TxID, se.ClientIP, se.UserAgent, se.App, encodeList(se.AMR), ms(se.AuthTime), se.Risk,
		ms(se.CreatedAt), ms(se.ExpiresAt), ms(se.RevokedAt),
	}
}

func scanSession(sc scanner) (store.Session, error) {
	var (
		se                                  store.Session
		amr                                 string
		authTime, created, expires, revoked int64
	)
	err := sc.Scan(&se.ID, &se.UserID, &se.TxID, &se.ClientIP, &se.UserAgent, &se.App, &amr, &authTime, &se.Risk,
		&created, &expires, &revoked)
	if err != nil {
		return store.Session{}, err
	}
	if se.AMR, err = decodeList[string]("amr", amr); err != nil {
		return store.Session{}, err
	}
	se.AuthTime, se.CreatedAt, se.ExpiresAt, se.RevokedAt = fromMS(authTime), fromMS(created), fromMS(expires), fromMS(revoked)
	return se, nil
}

func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	_, err := s.w.ExecContext(ctx, sessionInsert, sessionArgs(se)...)
	if err != nil {
		return fmt.Errorf("sqlite: create session for user %s: %w", se.UserID, dbErr(err))
	}
	return nil
}

// CreateSessions creates sessions in one transaction, all or none
// (store.SessionBatcher).
func (s *Store) CreateSessions(ctx context.Context, ss []store.Session) error {
	return insertAll(ctx, s, "sessions", sessionInsert, sessionArgs, ss)
}

// insertAll runs insert for each of vs in one transaction, all or none.
func insertAll[T any](ctx context.Context, s *Store, what, insert string, args func(T) []any, vs []T) error {
	err := s.write(ctx, func(tx querier) error {
		for _, v := range vs {
			if _, err := tx.ExecContext(ctx, insert, args(v)...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: create %d %s: %w", len(vs), what, dbErr(err))
	}
	return nil
}

func (s *Store) GetSession(ctx context.Context, id string) (store.Session, error) {
	se, err := scanSession(s.r.QueryRowContext(ctx, sessionGet, id))
	if err != nil {
		return store.Session{}, fmt.Errorf("sqlite: get session: %w", dbErr(err))
	}
	return se, nil
}

func (s *Store) RevokeSession(ctx context.Context, id string, now time.Time) error {
	res, err := s.w.ExecContext(ctx, sessionRevokeOne, ms(now), id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: revoke session: %w", err)
	}
	return nil
}

func (s *Store) RevokeSessions(ctx context.Context, userID string, now time.Time) (int, error) {
	res, err := s.w.ExecContext(ctx, sessionRevoke, ms(now), userID)
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke sessions of user %s: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke sessions of user %s: %w", userID, err)
	}
	return int(n), nil
}

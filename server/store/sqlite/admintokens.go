package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

var adminTokens = table{"admin_tokens", []string{"id", "hash", "name", "created_at", "expires_at", "revoked_at"}}

var (
	adminTokenInsert = adminTokens.insertSQL()
	adminTokenByHash = adminTokens.selectSQL() + " WHERE hash = ?"
	adminTokenList   = adminTokens.selectSQL() + " ORDER BY created_at, id"
	adminTokenRevoke = "UPDATE admin_tokens SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?"
)

func adminTokenArgs(t store.AdminToken) []any {
	return []any{t.ID, t.Hash, t.Name, ms(t.CreatedAt), ms(t.ExpiresAt), ms(t.RevokedAt)}
}

func scanAdminToken(sc scanner) (store.AdminToken, error) {
	var (
		t                         store.AdminToken
		created, expires, revoked int64
	)
	if err := sc.Scan(&t.ID, &t.Hash, &t.Name, &created, &expires, &revoked); err != nil {
		return store.AdminToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromMS(created), fromMS(expires), fromMS(revoked)
	return t, nil
}

func (s *Store) CreateAdminToken(ctx context.Context, t store.AdminToken) error {
	if _, err := s.w.ExecContext(ctx, adminTokenInsert, adminTokenArgs(t)...); err != nil {
		return fmt.Errorf("sqlite: create admin token %s: %w", t.ID, dbErr(err))
	}
	return nil
}

func (s *Store) GetAdminToken(ctx context.Context, hash string) (store.AdminToken, error) {
	t, err := scanAdminToken(s.r.QueryRowContext(ctx, adminTokenByHash, hash))
	if err != nil {
		return store.AdminToken{}, fmt.Errorf("sqlite: get admin token: %w", dbErr(err))
	}
	return t, nil
}

func (s *Store) ListAdminTokens(ctx context.Context) ([]store.AdminToken, error) {
	toks, err := list(ctx, s.r, scanAdminToken, adminTokenList)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list admin tokens: %w", err)
	}
	return toks, nil
}

func (s *Store) RevokeAdminToken(ctx context.Context, id string, now time.Time) error {
	res, err := s.w.ExecContext(ctx, adminTokenRevoke, ms(now), id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: revoke admin token %s: %w", id, err)
	}
	return nil
}

package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

var adminTokens = table{"admin_tokens", []string{"id", "hash", "name", "created_at", "expires_at", "revoked_at"}}

var (
	adminTokenInsert = adminTokens.insertSQL()
	adminTokenByHash = adminTokens.selectSQL() + " WHERE hash = $1"
	adminTokenList   = adminTokens.selectSQL() + " ORDER BY created_at, id"
	adminTokenRevoke = "UPDATE admin_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1"
)

func adminTokenArgs(t store.AdminToken) []any {
	return []any{t.ID, t.Hash, t.Name, tsSet(t.CreatedAt), tsSet(t.ExpiresAt), ts(t.RevokedAt)}
}

func scanAdminToken(sc scanner) (store.AdminToken, error) {
	var (
		t                         store.AdminToken
		created, expires, revoked pgtype.Timestamptz
	)
	if err := sc.Scan(&t.ID, &t.Hash, &t.Name, &created, &expires, &revoked); err != nil {
		return store.AdminToken{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromTS(created), fromTS(expires), fromTS(revoked)
	return t, nil
}

func (s *Store) CreateAdminToken(ctx context.Context, t store.AdminToken) error {
	if _, err := s.pool.Exec(ctx, adminTokenInsert, adminTokenArgs(t)...); err != nil {
		return fmt.Errorf("postgres: create admin token %s: %w", t.ID, dbErr(err))
	}
	return nil
}

func (s *Store) GetAdminToken(ctx context.Context, hash string) (store.AdminToken, error) {
	t, err := scanAdminToken(s.pool.QueryRow(ctx, adminTokenByHash, hash))
	if err != nil {
		return store.AdminToken{}, fmt.Errorf("postgres: get admin token: %w", dbErr(err))
	}
	return t, nil
}

func (s *Store) ListAdminTokens(ctx context.Context) ([]store.AdminToken, error) {
	toks, err := list(ctx, s.pool, scanAdminToken, adminTokenList)
	if err != nil {
		return nil, fmt.Errorf("postgres: list admin tokens: %w", err)
	}
	return toks, nil
}

func (s *Store) RevokeAdminToken(ctx context.Context, id string, now time.Time) error {
	tag, err := s.pool.Exec(ctx, adminTokenRevoke, id, ts(now))
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: revoke admin token %s: %w", id, dbErr(err))
	}
	return nil
}

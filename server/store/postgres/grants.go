package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

var grants = table{"grants", []string{
	"id", "kind", "client_id", "user_id", "lookup", "family", "data",
	"created_at", "expires_at", "used_at", "revoked_at",
}}

var (
	grantInsert    = grants.insertSQL()
	grantGet       = grants.getSQL()
	grantLock      = grants.lockSQL()
	grantUpdate    = grants.updateSQL()
	grantByLookup  = grants.selectSQL() + " WHERE kind = $1 AND lookup = $2 AND lookup <> ''"
	grantDelete    = "DELETE FROM grants WHERE id = $1"
	gcDeleteGrants = "DELETE FROM grants WHERE expires_at <= $1"
)

// errGrantFilter refuses a filter that would select every grant.
var errGrantFilter = errors.New("store: a grant filter needs a kind, client, user or family")

func grantArgs(g store.Grant) []any {
	return []any{
		g.ID, g.Kind, g.ClientID, g.UserID, g.Lookup, g.Family, blob(g.Data),
		tsSet(g.CreatedAt), tsSet(g.ExpiresAt), ts(g.UsedAt), ts(g.RevokedAt),
	}
}

func scanGrant(sc scanner) (store.Grant, error) {
	var (
		g                               store.Grant
		created, expires, used, revoked pgtype.Timestamptz
	)
	err := sc.Scan(&g.ID, &g.Kind, &g.ClientID, &g.UserID, &g.Lookup, &g.Family, &g.Data,
		&created, &expires, &used, &revoked)
	if err != nil {
		return store.Grant{}, err
	}
	g.Data = fromBlob(g.Data)
	g.CreatedAt, g.ExpiresAt, g.UsedAt, g.RevokedAt = fromTS(created), fromTS(expires), fromTS(used), fromTS(revoked)
	return g, nil
}

// grantWhere is the condition of a filter, its arguments added to a.
func grantWhere(f store.GrantFilter, a *args) (string, error) {
	if f.Kind == "" && f.ClientID == "" && f.UserID == "" && f.Family == "" {
		return "", errGrantFilter
	}
	var where []string
	if f.Kind != "" {
		where = append(where, "kind = "+a.add(f.Kind))
	}
	if f.ClientID != "" {
		where = append(where, "client_id = "+a.add(f.ClientID))
	}
	if f.UserID != "" {
		where = append(where, "user_id = "+a.add(f.UserID))
	}
	if f.Family != "" {
		where = append(where, "family = "+a.add(f.Family))
	}
	if !f.Live.IsZero() {
		where = append(where, "revoked_at IS NULL AND expires_at > "+a.add(tsSet(f.Live)))
	}
	return strings.Join(where, " AND "), nil
}

func (s *Store) CreateGrant(ctx context.Context, g store.Grant) error {
	if _, err := s.pool.Exec(ctx, grantInsert, grantArgs(g)...); err != nil {
		return fmt.Errorf("postgres: create grant %s: %w", g.ID, dbErr(err))
	}
	return nil
}

func (s *Store) GetGrant(ctx context.Context, id string) (store.Grant, error) {
	g, err := scanGrant(s.pool.QueryRow(ctx, grantGet, id))
	if err != nil {
		return store.Grant{}, fmt.Errorf("postgres: get grant %s: %w", id, dbErr(err))
	}
	return g, nil
}

func (s *Store) GetGrantByLookup(ctx context.Context, kind, lookup string) (store.Grant, error) {
	g, err := scanGrant(s.pool.QueryRow(ctx, grantByLookup, kind, lookup))
	if err != nil {
		return store.Grant{}, fmt.Errorf("postgres: get %s grant by lookup: %w", kind, dbErr(err))
	}
	return g, nil
}

func (s *Store) UpdateGrant(ctx context.Context, id string, fn func(*store.Grant) error) (store.Grant, error) {
	return update(ctx, s, "grant", id, grantLock, grantUpdate, scanGrant, grantArgs, fn)
}

func (s *Store) ListGrants(ctx context.Context, f store.GrantFilter) ([]store.Grant, error) {
	var a args
	where, err := grantWhere(f, &a)
	if err != nil {
		return nil, fmt.Errorf("postgres: list grants: %w", err)
	}
	gs, err := list(ctx, s.pool, scanGrant, grants.selectSQL()+" WHERE "+where+" ORDER BY created_at, id", a...)
	if err != nil {
		return nil, fmt.Errorf("postgres: list grants: %w", err)
	}
	return gs, nil
}

// RevokeGrants may lock many rows, in an order another transaction's may
// cross; write retries it on a deadlock.
func (s *Store) RevokeGrants(ctx context.Context, f store.GrantFilter, now time.Time) (int, error) {
	a := args{ts(now)}
	where, err := grantWhere(f, &a)
	if err != nil {
		return 0, fmt.Errorf("postgres: revoke grants: %w", dbErr(err))
	}
	q := "UPDATE grants SET revoked_at = $1 WHERE " + where + " AND revoked_at IS NULL"
	var n int64
	err = s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, q, a...)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("postgres: revoke grants: %w", dbErr(err))
	}
	return int(n), nil
}

func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, grantDelete, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: delete grant %s: %w", id, dbErr(err))
	}
	return nil
}

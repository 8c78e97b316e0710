package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

var grants = table{"grants", []string{
	"id", "kind", "client_id", "user_id", "lookup", "family", "data",
	"created_at", "expires_at", "used_at", "revoked_at",
}}

var (
	grantInsert    = grants.insertSQL()
	grantGet       = grants.getSQL()
	grantUpdate    = grants.updateSQL()
	grantByLookup  = grants.selectSQL() + " WHERE kind = ? AND lookup = ? AND lookup <> ''"
	grantDelete    = "DELETE FROM grants WHERE id = ?"
	gcDeleteGrants = "DELETE FROM grants WHERE expires_at <= ?"
)

// errGrantFilter refuses a filter that would select every grant.
var errGrantFilter = errors.New("store: a grant filter needs a kind, client, user or family")

func grantArgs(g store.Grant) []any {
	return []any{
		g.ID, g.Kind, g.ClientID, g.UserID, g.Lookup, g.Family, blob(g.Data),
		ms(g.CreatedAt), ms(g.ExpiresAt), ms(g.UsedAt), ms(g.RevokedAt),
	}
}

func scanGrant(sc scanner) (store.Grant, error) {
	var (
		g                               store.Grant
		created, expires, used, revoked int64
	)
	err := sc.Scan(&g.ID, &g.Kind, &g.ClientID, &g.UserID, &g.Lookup, &g.Family, &g.Data,
		&created, &expires, &used, &revoked)
	if err != nil {
		return store.Grant{}, err
	}
	g.Data = fromBlob(g.Data)
	g.CreatedAt, g.ExpiresAt, g.UsedAt, g.RevokedAt = fromMS(created), fromMS(expires), fromMS(used), fromMS(revoked)
	return g, nil
}

func getGrant(ctx context.Context, q querier, id string) (store.Grant, error) {
	return scanGrant(q.QueryRowContext(ctx, grantGet, id))
}

func putGrant(ctx context.Context, q querier, id string, g store.Grant) error {
	_, err := q.ExecContext(ctx, grantUpdate, append(grantArgs(g)[1:], id)...)
	return err
}

// grantWhere is the condition of a filter and its arguments; there are few
// enough combinations for the pool to keep a statement for each.
func grantWhere(f store.GrantFilter) (string, []any, error) {
	if f.Kind == "" && f.ClientID == "" && f.UserID == "" && f.Family == "" {
		return "", nil, errGrantFilter
	}
	var (
		where []string
		args  []any
	)
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	if f.Kind != "" {
		add("kind = ?", f.Kind)
	}
	if f.ClientID != "" {
		add("client_id = ?", f.ClientID)
	}
	if f.UserID != "" {
		add("user_id = ?", f.UserID)
	}
	if f.Family != "" {
		add("family = ?", f.Family)
	}
	if !f.Live.IsZero() {
		add("revoked_at = 0 AND expires_at > ?", ms(f.Live))
	}
	return strings.Join(where, " AND "), args, nil
}

func (s *Store) CreateGrant(ctx context.Context, g store.Grant) error {
	if _, err := s.w.ExecContext(ctx, grantInsert, grantArgs(g)...); err != nil {
		return fmt.Errorf("sqlite: create grant %s: %w", g.ID, dbErr(err))
	}
	return nil
}

func (s *Store) GetGrant(ctx context.Context, id string) (store.Grant, error) {
	g, err := getGrant(ctx, s.r, id)
	if err != nil {
		return store.Grant{}, fmt.Errorf("sqlite: get grant %s: %w", id, dbErr(err))
	}
	return g, nil
}

func (s *Store) GetGrantByLookup(ctx context.Context, kind, lookup string) (store.Grant, error) {
	g, err := scanGrant(s.r.QueryRowContext(ctx, grantByLookup, kind, lookup))
	if err != nil {
		return store.Grant{}, fmt.Errorf("sqlite: get %s grant by lookup: %w", kind, dbErr(err))
	}
	return g, nil
}

func (s *Store) UpdateGrant(ctx context.Context, id string, fn func(*store.Grant) error) (store.Grant, error) {
	return update(ctx, s, "grant", id, getGrant, putGrant, fn)
}

func (s *Store) ListGrants(ctx context.Context, f store.GrantFilter) ([]store.Grant, error) {
	where, args, err := grantWhere(f)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list grants: %w", err)
	}
	gs, err := list(ctx, s.r, scanGrant, grants.selectSQL()+" WHERE "+where+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list grants: %w", err)
	}
	return gs, nil
}

func (s *Store) RevokeGrants(ctx context.Context, f store.GrantFilter, now time.Time) (int, error) {
	where, args, err := grantWhere(f)
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke grants: %w", err)
	}
	res, err := s.w.ExecContext(ctx, "UPDATE grants SET revoked_at = ? WHERE "+where+" AND revoked_at = 0",
		append([]any{ms(now)}, args...)...)
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke grants: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlite: revoke grants: %w", err)
	}
	return int(n), nil
}

func (s *Store) DeleteGrant(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, grantDelete, id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete grant %s: %w", id, err)
	}
	return nil
}

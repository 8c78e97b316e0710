package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

var users = table{"users", []string{
	"id", "login", "email", "groups_json", "profile_json", "status", "password_hash",
	"risk", "risk_since", "failed_attempts", "locked_until", "created_at",
}}

var (
	userInsert  = users.insertSQL()
	userGet     = users.getSQL()
	userLock    = users.lockSQL()
	userUpdate  = users.updateSQL()
	userByLogin = users.selectSQL() + " WHERE login = $1"
	userList    = users.selectSQL() + " ORDER BY login"
)

func userArgs(u store.User) []any {
	return []any{
		u.ID, u.Login, u.Email, encodeList(u.Groups), encodeMap(u.Profile), u.Status, u.PasswordHash,
		u.Risk, ts(u.RiskSince), u.FailedAttempts, ts(u.LockedUntil), tsSet(u.CreatedAt),
	}
}

func scanUser(sc scanner) (store.User, error) {
	var (
		u                                 store.User
		groups, profile                   []byte
		riskSince, lockedUntil, createdAt pgtype.Timestamptz
	)
	err := sc.Scan(&u.ID, &u.Login, &u.Email, &groups, &profile, &u.Status, &u.PasswordHash,
		&u.Risk, &riskSince, &u.FailedAttempts, &lockedUntil, &createdAt)
	if err != nil {
		return store.User{}, err
	}
	if u.Groups, err = decodeList[string]("groups", groups); err != nil {
		return store.User{}, err
	}
	if u.Profile, err = decodeMap("profile", profile); err != nil {
		return store.User{}, err
	}
	u.RiskSince, u.LockedUntil, u.CreatedAt = fromTS(riskSince), fromTS(lockedUntil), fromTS(createdAt)
	return u, nil
}

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if _, err := s.pool.Exec(ctx, userInsert, userArgs(u)...); err != nil {
		return fmt.Errorf("postgres: create user %s: %w", u.ID, dbErr(err))
	}
	return nil
}

func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, userGet, id))
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: get user %s: %w", id, dbErr(err))
	}
	return u, nil
}

func (s *Store) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, userByLogin, login))
	if err != nil {
		return store.User{}, fmt.Errorf("postgres: get user by login %q: %w", login, dbErr(err))
	}
	return u, nil
}

func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	us, err := list(ctx, s.pool, scanUser, userList)
	if err != nil {
		return nil, fmt.Errorf("postgres: list users: %w", err)
	}
	return us, nil
}

func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*store.User) error) (store.User, error) {
	return update(ctx, s, "user", id, userLock, userUpdate, scanUser, userArgs, fn)
}

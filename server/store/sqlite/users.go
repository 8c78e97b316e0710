package sqlite

import (
	"context"
	"fmt"

	"github.com/seed-3a5b824e/assent/server/store"
)

var users = table{"users", []string{
	"id", "login", "email", "groups_json", "profile_json", "status", "password_hash",
	"risk", "risk_since", "failed_attempts", "locked_until", "created_at",
}}

var (
	userInsert  = users.insertSQL()
	userGet     = users.getSQL()
	userUpdate  = users.updateSQL()
	userByLogin = users.selectSQL() + " WHERE login = ?"
	userList    = users.selectSQL() + " ORDER BY login"
)

func userArgs(u store.User) []any {
	return []any{
		u.ID, u.Login, u.Email, encodeList(u.Groups), encodeMap(u.Profile), u.Status, u.PasswordHash,
		u.Risk, ms(u.RiskSince), u.FailedAttempts, ms(u.LockedUntil), ms(u.CreatedAt),
	}
}

func scanUser(sc scanner) (store.User, error) {
	var (
		u                                 store.User
		groups, profile                   string
		riskSince, lockedUntil, createdAt int64
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
	u.RiskSince, u.LockedUntil, u.CreatedAt = fromMS(riskSince), fromMS(lockedUntil), fromMS(createdAt)
	return u, nil
}

func getUser(ctx context.Context, q querier, id string) (store.User, error) {
	return scanUser(q.QueryRowContext(ctx, userGet, id))
}

func putUser(ctx context.Context, q querier, id string, u store.User) error {
	_, err := q.ExecContext(ctx, userUpdate, append(userArgs(u)[1:], id)...)
	return err
}

func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	if _, err := s.w.ExecContext(ctx, userInsert, userArgs(u)...); err != nil {
		return fmt.Errorf("sqlite: create user %s: %w", u.ID, dbErr(err))
	}
	return nil
}

func (s *Store) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := getUser(ctx, s.r, id)
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: get user %s: %w", id, dbErr(err))
	}
	return u, nil
}

func (s *Store) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, userByLogin, login))
	if err != nil {
		return store.User{}, fmt.Errorf("sqlite: get user by login %q: %w", login, dbErr(err))
	}
	return u, nil
}

func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	us, err := list(ctx, s.r, scanUser, userList)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list users: %w", err)
	}
	return us, nil
}

func (s *Store) UpdateUser(ctx context.Context, id string, fn func(*store.User) error) (store.User, error) {
	return update(ctx, s, "user", id, getUser, putUser, fn)
}

package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

var apps = table{"apps", []string{"id", "name", "type", "builtin", "config", "created_at"}}

var (
	appInsert = apps.insertSQL()
	appGet    = apps.getSQL()
	appLock   = apps.lockSQL()
	appUpdate = apps.updateSQL()
	appByName = apps.selectSQL() + " WHERE name = $1"
	appList   = apps.selectSQL() + " ORDER BY name"
	appDelete = "DELETE FROM apps WHERE id = $1"
)

func appArgs(a store.App) []any {
	return []any{a.ID, a.Name, a.Type, a.Builtin, blob(a.Config), tsSet(a.CreatedAt)}
}

func scanApp(sc scanner) (store.App, error) {
	var (
		a       store.App
		created pgtype.Timestamptz
	)
	if err := sc.Scan(&a.ID, &a.Name, &a.Type, &a.Builtin, &a.Config, &created); err != nil {
		return store.App{}, err
	}
	a.Config = fromBlob(a.Config)
	a.CreatedAt = fromTS(created)
	return a, nil
}

func (s *Store) CreateApp(ctx context.Context, a store.App) error {
	if _, err := s.pool.Exec(ctx, appInsert, appArgs(a)...); err != nil {
		return fmt.Errorf("postgres: create app %s: %w", a.ID, dbErr(err))
	}
	return nil
}

func (s *Store) GetApp(ctx context.Context, id string) (store.App, error) {
	a, err := scanApp(s.pool.QueryRow(ctx, appGet, id))
	if err != nil {
		return store.App{}, fmt.Errorf("postgres: get app %s: %w", id, dbErr(err))
	}
	return a, nil
}

func (s *Store) GetAppByName(ctx context.Context, name string) (store.App, error) {
	a, err := scanApp(s.pool.QueryRow(ctx, appByName, name))
	if err != nil {
		return store.App{}, fmt.Errorf("postgres: get app by name %q: %w", name, dbErr(err))
	}
	return a, nil
}

func (s *Store) ListApps(ctx context.Context) ([]store.App, error) {
	as, err := list(ctx, s.pool, scanApp, appList)
	if err != nil {
		return nil, fmt.Errorf("postgres: list apps: %w", err)
	}
	return as, nil
}

func (s *Store) UpdateApp(ctx context.Context, id string, fn func(*store.App) error) (store.App, error) {
	return update(ctx, s, "app", id, appLock, appUpdate, scanApp, appArgs, fn)
}

func (s *Store) DeleteApp(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, appDelete, id)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("postgres: delete app %s: %w", id, dbErr(err))
	}
	return nil
}

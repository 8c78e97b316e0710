package sqlite

import (
	"context"
	"fmt"

	"github.com/seed-3a5b824e/assent/server/store"
)

var apps = table{"apps", []string{"id", "name", "type", "builtin", "config", "created_at"}}

var (
	appInsert = apps.insertSQL()
	appGet    = apps.getSQL()
	appUpdate = apps.updateSQL()
	appByName = apps.selectSQL() + " WHERE name = ?"
	appList   = apps.selectSQL() + " ORDER BY name"
	appDelete = "DELETE FROM apps WHERE id = ?"
)

func appArgs(a store.App) []any {
	return []any{a.ID, a.Name, a.Type, a.Builtin, blob(a.Config), ms(a.CreatedAt)}
}

func scanApp(sc scanner) (store.App, error) {
	var (
		a       store.App
		created int64
	)
	if err := sc.Scan(&a.ID, &a.Name, &a.Type, &a.Builtin, &a.Config, &created); err != nil {
		return store.App{}, err
	}
	a.Config = fromBlob(a.Config)
	a.CreatedAt = fromMS(created)
	return a, nil
}

func getApp(ctx context.Context, q querier, id string) (store.App, error) {
	return scanApp(q.QueryRowContext(ctx, appGet, id))
}

func putApp(ctx context.Context, q querier, id string, a store.App) error {
	_, err := q.ExecContext(ctx, appUpdate, append(appArgs(a)[1:], id)...)
	return err
}

func (s *Store) CreateApp(ctx context.Context, a store.App) error {
	if _, err := s.w.ExecContext(ctx, appInsert, appArgs(a)...); err != nil {
		return fmt.Errorf("sqlite: create app %s: %w", a.ID, dbErr(err))
	}
	return nil
}

func (s *Store) GetApp(ctx context.Context, id string) (store.App, error) {
	a, err := getApp(ctx, s.r, id)
	if err != nil {
		return store.App{}, fmt.Errorf("sqlite: get app %s: %w", id, dbErr(err))
	}
	return a, nil
}

func (s *Store) GetAppByName(ctx context.Context, name string) (store.App, error) {
	a, err := scanApp(s.r.QueryRowContext(ctx, appByName, name))
	if err != nil {
		return store.App{}, fmt.Errorf("sqlite: get app by name %q: %w", name, dbErr(err))
	}
	return a, nil
}

func (s *Store) ListApps(ctx context.Context) ([]store.App, error) {
	as, err := list(ctx, s.r, scanApp, appList)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list apps: %w", err)
	}
	return as, nil
}

func (s *Store) UpdateApp(ctx context.Context, id string, fn func(*store.App) error) (store.App, error) {
	return update(ctx, s, "app", id, getApp, putApp, fn)
}

func (s *Store) DeleteApp(ctx context.Context, id string) error {
	res, err := s.w.ExecContext(ctx, appDelete, id)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("sqlite: delete app %s: %w", id, err)
	}
	return nil
}

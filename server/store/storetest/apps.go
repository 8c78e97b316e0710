package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

func newApp(id, name string) store.App {
	return store.App{
		ID:        id,
		Name:      name,
		Type:      store.AppOIDC,
		Config:    []byte(`{"redirect_uris":["https://` + name + `.example.com/cb"],"secret_hash":"x"}`),
		CreatedAt: base,
	}
}

var appTests = []test{
	{name: "AppFieldsRoundTrip", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a := newApp("a1", "wiki")
		a.Builtin = true
		must(t, "CreateApp", s.CreateApp(ctx, a))
		got, err := s.GetApp(ctx, "a1")
		must(t, "GetApp", err)
		same(t, "GetApp", got, a)
		got, err = s.GetAppByName(ctx, "wiki")
		must(t, "GetAppByName", err)
		same(t, "GetAppByName", got, a)
	}},
	{name: "AppWithoutConfigOrTimeRoundTrips", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, a := range []store.App{
			{ID: "a-nil", Name: "nil", Type: store.AppWeb},
			{ID: "a-empty", Name: "empty", Type: store.AppEmbedded, Config: []byte{}},
		} {
			must(t, "CreateApp "+a.ID, s.CreateApp(ctx, a))
			got, err := s.GetApp(ctx, a.ID)
			must(t, "GetApp", err)
			same(t, "GetApp "+a.ID, got, a)
		}
	}},
	{name: "CreateAppWithTakenIDOrNameIsConflict", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a := newApp("a1", "wiki")
		must(t, "CreateApp", s.CreateApp(ctx, a))
		wantErr(t, "CreateApp taken ID", s.CreateApp(ctx, newApp("a1", "mail")), store.ErrConflict)
		wantErr(t, "CreateApp taken name", s.CreateApp(ctx, newApp("a2", "wiki")), store.ErrConflict)
		got, err := s.GetApp(ctx, "a1")
		must(t, "GetApp", err)
		same(t, "GetApp after conflicts", got, a)
		_, err = s.GetApp(ctx, "a2")
		wantErr(t, "GetApp a2", err, store.ErrNotFound)
		_, err = s.GetAppByName(ctx, "mail")
		wantErr(t, "GetAppByName mail", err, store.ErrNotFound)
	}},
	{name: "MissingAppIsNotFound", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, err := s.GetApp(ctx, "nope")
		wantErr(t, "GetApp", err, store.ErrNotFound)
		_, err = s.GetAppByName(ctx, "nope")
		wantErr(t, "GetAppByName", err, store.ErrNotFound)
		called := false
		_, err = s.UpdateApp(ctx, "nope", func(*store.App) error { called = true; return nil })
		wantErr(t, "UpdateApp", err, store.ErrNotFound)
		if called {
			t.Error("UpdateApp called fn for a missing app")
		}
		wantErr(t, "DeleteApp", s.DeleteApp(ctx, "nope"), store.ErrNotFound)
	}},
	{name: "ListAppsSortsByName", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		got, err := s.ListApps(ctx)
		must(t, "ListApps empty", err)
		if len(got) != 0 {
			t.Fatalf("ListApps on an empty store = %d apps", len(got))
		}
		// Neither ID order nor creation order is name order; byte order
		// puts "Zed" before "alpha".
		for _, a := range [][2]string{{"a1", "carol"}, {"a2", "alpha"}, {"a3", "dave"}, {"a4", "bob"}, {"a5", "Zed"}} {
			must(t, "CreateApp", s.CreateApp(ctx, newApp(a[0], a[1])))
		}
		got, err = s.ListApps(ctx)
		must(t, "ListApps", err)
		var names []string
		for _, a := range got {
			names = append(names, a.Name)
			same(t, "ListApps "+a.ID, a, newApp(a.ID, a.Name))
		}
		if want := []string{"Zed", "alpha", "bob", "carol", "dave"}; !slices.Equal(names, want) {
			t.Errorf("ListApps names = %q, want %q", names, want)
		}
	}},
	{name: "UpdateAppAppliesFnAndReturnsTheStoredApp", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a := newApp("a1", "wiki")
		must(t, "CreateApp", s.CreateApp(ctx, a))
		change := func(a *store.App) error {
			a.Name = "wiki2"
			a.Type = store.AppRADIUS
			a.Builtin = true
			a.Config = []byte(`{"networks":["192.0.2.0/24"]}`)
			a.CreatedAt = base.Add(time.Hour)
			return nil
		}
		got, err := s.UpdateApp(ctx, "a1", func(got *store.App) error {
			same(t, "fn argument", *got, a)
			return change(got)
		})
		must(t, "UpdateApp", err)
		want := a
		must(t, "change", change(&want))
		same(t, "UpdateApp result", got, want)
		stored, err := s.GetAppByName(ctx, "wiki2")
		must(t, "GetAppByName new name", err)
		same(t, "GetAppByName after UpdateApp", stored, want)
		_, err = s.GetAppByName(ctx, "wiki")
		wantErr(t, "GetAppByName old name", err, store.ErrNotFound)
		// The old name is free again.
		must(t, "CreateApp with the old name", s.CreateApp(ctx, newApp("a2", "wiki")))
	}},
	{name: "UpdateAppFnErrorWritesNothingAndIsReturned", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a := newApp("a1", "wiki")
		must(t, "CreateApp", s.CreateApp(ctx, a))
		_, err := s.UpdateApp(ctx, "a1", func(a *store.App) error {
			a.Name = "changed"
			a.Config[0] = '['
			return errFn
		})
		wantErr(t, "UpdateApp", err, errFn)
		got, err := s.GetApp(ctx, "a1")
		must(t, "GetApp", err)
		same(t, "GetApp after failed update", got, a)
	}},
	{name: "UpdateAppCannotChangeID", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a := newApp("a1", "wiki")
		must(t, "CreateApp", s.CreateApp(ctx, a))
		got, err := s.UpdateApp(ctx, "a1", func(a *store.App) error {
			a.ID = "a2"
			a.Type = store.AppWeb
			return nil
		})
		must(t, "UpdateApp", err)
		want := a
		want.Type = store.AppWeb
		same(t, "UpdateApp result", got, want)
		_, err = s.GetApp(ctx, "a2")
		wantErr(t, "GetApp a2", err, store.ErrNotFound)
	}},
	{name: "UpdateAppToTakenNameIsConflictAndWritesNothing", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "CreateApp a1", s.CreateApp(ctx, newApp("a1", "wiki")))
		a2 := newApp("a2", "mail")
		must(t, "CreateApp a2", s.CreateApp(ctx, a2))
		_, err := s.UpdateApp(ctx, "a2", func(a *store.App) error {
			a.Name = "wiki"
			a.Type = store.AppWeb
			return nil
		})
		wantErr(t, "UpdateApp", err, store.ErrConflict)
		got, err := s.GetApp(ctx, "a2")
		must(t, "GetApp", err)
		same(t, "GetApp after conflict", got, a2)
	}},
	{name: "ConcurrentUpdateAppLosesNoUpdate", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a := newApp("a1", "wiki")
		a.Config = nil
		must(t, "CreateApp", s.CreateApp(ctx, a))
		errs := race(func(int) error {
			_, err := s.UpdateApp(ctx, "a1", func(a *store.App) error {
				a.Config = append(a.Config, 'x')
				return nil
			})
			return err
		})
		for i, err := range errs {
			must(t, fmt.Sprint("UpdateApp ", i), err)
		}
		got, err := s.GetApp(ctx, "a1")
		must(t, "GetApp", err)
		if len(got.Config) != concurrency {
			t.Errorf("Config has %d bytes after %d concurrent appends, want %d", len(got.Config), concurrency, concurrency)
		}
	}},
	{name: "DeleteAppRemovesOnlyThatApp", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "CreateApp a1", s.CreateApp(ctx, newApp("a1", "wiki")))
		a2 := newApp("a2", "mail")
		a2.Builtin = true
		must(t, "CreateApp a2", s.CreateApp(ctx, a2))
		must(t, "DeleteApp", s.DeleteApp(ctx, "a1"))
		wantErr(t, "DeleteApp again", s.DeleteApp(ctx, "a1"), store.ErrNotFound)
		_, err := s.GetApp(ctx, "a1")
		wantErr(t, "GetApp a1", err, store.ErrNotFound)
		_, err = s.GetAppByName(ctx, "wiki")
		wantErr(t, "GetAppByName wiki", err, store.ErrNotFound)
		got, err := s.ListApps(ctx)
		must(t, "ListApps", err)
		if len(got) != 1 {
			t.Fatalf("ListApps = %d apps after DeleteApp, want 1", len(got))
		}
		same(t, "ListApps", got[0], a2)
		// ID and name are free again.
		must(t, "CreateApp a1 again", s.CreateApp(ctx, newApp("a1", "wiki")))
	}},
}

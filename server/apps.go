package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/seed-3a5b824e/assent/server/store"
)

// The app registry: every app that people sign in to is a record, so that
// sign-on rules and sessions name something an administrator made, never
// a name a caller chose. A fresh server has two built-in apps.
const (
	// AppAccount is the hosted account page (/account).
	AppAccount = "account"
	// AppAdmin is the admin area (/admin).
	AppAdmin = "admin"
)

// builtinApps are made on every start when missing and cannot be removed.
var builtinApps = []string{AppAccount, AppAdmin}

// AppTypes are the types an administrator may register today; the
// protocol fronts add theirs.
var AppTypes = []string{store.AppWeb, store.AppEmbedded}

// Errors of the registry that callers branch on.
var (
	ErrAppExists   = errors.New("an app with that name exists already")
	ErrAppNotFound = errors.New("no app with that name")
	ErrAppBuiltin  = errors.New("built-in apps cannot be removed")
)

// errUnknownApp is what interact and /signin answer for a name that is not
// registered.
func errUnknownApp(name string) error {
	return apiErr(http.StatusBadRequest, "unknown_app",
		"no app named %q is registered on this server; an administrator adds it with 'assentd app add NAME'", truncate(name, 64))
}

// ValidAppName says whether a name can be registered: 1 to 64 lower-case
// letters, digits, dots, dashes and underscores, starting with a letter or
// digit.
func ValidAppName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case i > 0 && (r == '.' || r == '-' || r == '_'):
		default:
			return false
		}
	}
	return true
}

// ensureBuiltinApps makes the built-in apps a fresh store lacks; several
// nodes starting at once agree (a conflict means another made it).
func (s *Server) ensureBuiltinApps(ctx context.Context) error {
	for _, name := range builtinApps {
		if _, err := s.st.GetAppByName(ctx, name); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("app registry: %w", err)
		}
		a := store.App{ID: newID("app_"), Name: name, Type: store.AppWeb, Builtin: true, CreatedAt: s.now()}
		if err := s.st.CreateApp(ctx, a); err != nil && !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("app registry: create built-in app %s: %w", name, err)
		}
	}
	return nil
}

// AddApp registers an app of type web or embedded.
func (s *Server) AddApp(ctx context.Context, name, typ string) (store.App, error) {
	if !ValidAppName(name) {
		return store.App{}, fmt.Errorf("app name %q: want 1 to 64 lower-case letters, digits, '.', '-' or '_', starting with a letter or digit", name)
	}
	if typ == "" {
		typ = store.AppWeb
	}
	if !slices.Contains(AppTypes, typ) {
		return store.App{}, fmt.Errorf("app type %q: want one of %s", typ, strings.Join(AppTypes, ", "))
	}
	a := store.App{ID: newID("app_"), Name: name, Type: typ, CreatedAt: s.now()}
	if err := s.st.CreateApp(ctx, a); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.App{}, fmt.Errorf("%q: %w", name, ErrAppExists)
		}
		return store.App{}, err
	}
	s.audit(ctx, store.AuditEvent{Type: "app.created", Detail: map[string]string{"app": name, "type": typ}})
	return a, nil
}

// RemoveApp unregisters an app. Sessions made for it stay until they end,
// but no new transaction can name it.
func (s *Server) RemoveApp(ctx context.Context, name string) error {
	a, err := s.st.GetAppByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%q: %w", name, ErrAppNotFound)
	} else if err != nil {
		return err
	}
	if a.Builtin {
		return fmt.Errorf("%q: %w", name, ErrAppBuiltin)
	}
	if err := s.st.DeleteApp(ctx, a.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%q: %w", name, ErrAppNotFound)
		}
		return err
	}
	s.audit(ctx, store.AuditEvent{Type: "app.removed", Detail: map[string]string{"app": name}})
	return nil
}

// ListApps lists the registered apps by name.
func (s *Server) ListApps(ctx context.Context) ([]store.App, error) { return s.st.ListApps(ctx) }

// App finds a registered app by name: errUnknownApp (400 unknown_app)
// when there is none, the internal error when the store fails.
func (s *Server) App(ctx context.Context, name string) (store.App, error) {
	if !ValidAppName(name) {
		return store.App{}, errUnknownApp(name)
	}
	a, err := s.st.GetAppByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return store.App{}, errUnknownApp(name)
	} else if err != nil {
		return store.App{}, s.internal("load app", err)
	}
	return a, nil
}

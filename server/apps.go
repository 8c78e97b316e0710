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
	// ErrAppInvalid: a name, type or setting the registry refuses; the
	// error's text says which and why.
	ErrAppInvalid = errors.New("invalid app")
)

// invalidApp is a refusal of a name, type or setting, in plain words.
type invalidApp struct{ error }

func (invalidApp) Is(target error) bool { return target == ErrAppInvalid }

func invalidf(format string, args ...any) error { return invalidApp{fmt.Errorf(format, args...)} }

// AppField is one setting an app kind takes.
type AppField struct {
	Name, Label, Hint string
	// List takes several values (one a line on the admin page); Flag is
	// a yes or no ("true").
	List, Flag bool
}

// AppSetting is one setting of an app, as people see it.
type AppSetting struct{ Name, Value string }

// AppKind is a type of app that a protocol front adds to the registry:
// its settings, how they are checked, and what is said once.
type AppKind struct {
	Type  string
	Label string
	// Fields are the settings the admin page, the admin API and the
	// command line take.
	Fields []AppField
	// Configure checks a new app's settings and makes its Config; a
	// non-empty secret is shown to the administrator once, never again.
	Configure func(ctx context.Context, name string, settings map[string][]string) (config []byte, secret string, err error)
	// Describe lists an app's settings for people, never a secret.
	Describe func(config []byte) []AppSetting
}

// RegisterAppKind adds a front's type of app to the registry.
func (s *Server) RegisterAppKind(k AppKind) {
	s.eng.kindsMu.Lock()
	defer s.eng.kindsMu.Unlock()
	if s.eng.kinds == nil {
		s.eng.kinds = map[string]AppKind{}
	}
	s.eng.kinds[k.Type] = k
}

// AppKinds are the registered kinds, by type.
func (s *Server) AppKinds() []AppKind {
	s.eng.kindsMu.Lock()
	defer s.eng.kindsMu.Unlock()
	out := make([]AppKind, 0, len(s.eng.kinds))
	for _, k := range s.eng.kinds {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b AppKind) int { return strings.Compare(a.Type, b.Type) })
	return out
}

func (s *Server) appKind(typ string) (AppKind, bool) {
	s.eng.kindsMu.Lock()
	defer s.eng.kindsMu.Unlock()
	k, ok := s.eng.kinds[typ]
	return k, ok
}

// DescribeApp lists an app's settings for people (none for web and
// embedded apps).
func (s *Server) DescribeApp(a store.App) []AppSetting {
	if k, ok := s.appKind(a.Type); ok && k.Describe != nil {
		return k.Describe(a.Config)
	}
	return nil
}

// AddAppOfKind registers an app of any type on offer, with its settings;
// the secret, when the kind makes one, is to be shown once.
func (s *Server) AddAppOfKind(ctx context.Context, name, typ string, settings map[string][]string) (store.App, string, error) {
	if typ == "" || slices.Contains(AppTypes, typ) {
		for k, v := range settings {
			if len(v) > 0 {
				return store.App{}, "", invalidf("setting %q: %s apps take no settings", k, typ)
			}
		}
		a, err := s.AddApp(ctx, name, typ)
		return a, "", err
	}
	k, ok := s.appKind(typ)
	if !ok {
		var types []string
		for _, k := range s.AppKinds() {
			types = append(types, k.Type)
		}
		return store.App{}, "", invalidf("app type %q: want one of %s", typ, strings.Join(append(slices.Clone(AppTypes), types...), ", "))
	}
	if !ValidAppName(name) {
		return store.App{}, "", invalidf("app name %q: want 1 to 64 lower-case letters, digits, '.', '-' or '_', starting with a letter or digit", name)
	}
	if _, err := s.st.GetAppByName(ctx, name); err == nil {
		return store.App{}, "", fmt.Errorf("%q: %w", name, ErrAppExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.App{}, "", err
	}
	for key := range settings {
		if !slices.ContainsFunc(k.Fields, func(f AppField) bool { return f.Name == key }) {
			return store.App{}, "", invalidf("setting %q: a %s takes none such (it takes %s)", key, k.Label, fieldNames(k.Fields))
		}
	}
	config, secret, err := k.Configure(ctx, name, settings)
	if err != nil {
		return store.App{}, "", invalidApp{err}
	}
	a, err := s.RegisterApp(ctx, name, typ, config)
	if err != nil {
		return store.App{}, "", err
	}
	return a, secret, nil
}

func fieldNames(fs []AppField) string {
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	return strings.Join(names, ", ")
}

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
	if typ == "" {
		typ = store.AppWeb
	}
	if !slices.Contains(AppTypes, typ) {
		return store.App{}, invalidf("app type %q: want one of %s", typ, strings.Join(AppTypes, ", "))
	}
	return s.RegisterApp(ctx, name, typ, nil)
}

// RegisterApp registers an app of any type with its type's settings
// (what a protocol front keeps in Config; the front checks them).
func (s *Server) RegisterApp(ctx context.Context, name, typ string, config []byte) (store.App, error) {
	if !ValidAppName(name) {
		return store.App{}, invalidf("app name %q: want 1 to 64 lower-case letters, digits, '.', '-' or '_', starting with a letter or digit", name)
	}
	if !slices.Contains([]string{store.AppWeb, store.AppEmbedded, store.AppOIDC, store.AppRADIUS}, typ) {
		return store.App{}, invalidf("app type %q is not one this server knows", typ)
	}
	a := store.App{ID: newID("app_"), Name: name, Type: typ, Config: config, CreatedAt: s.now()}
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

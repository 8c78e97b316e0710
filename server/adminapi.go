package server

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server/store"
)

// adminRoutes registers the admin API (/v1/admin/…). Every handler checks
// the caller's token itself, so that none is reachable without one however
// it is registered.
func (s *Server) adminRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /v1/admin/users", s.handleAdminAddUser)
	m.HandleFunc("POST /v1/admin/users/{login}/enroll", s.handleAdminEnroll)
	m.HandleFunc("POST /v1/admin/users/{login}/reset-risk", s.handleAdminResetRisk)
	m.HandleFunc("POST /v1/admin/push", s.handleAdminPush)
	m.HandleFunc("GET /v1/admin/apps", s.handleAdminListApps)
	m.HandleFunc("POST /v1/admin/apps", s.handleAdminAddApp)
	m.HandleFunc("DELETE /v1/admin/apps/{name}", s.handleAdminRemoveApp)
}

// requireAdmin lets a request on when it carries a valid admin token
// (Authorization: Bearer aat_…); otherwise it answers 401 unauthorized —
// alike for a missing, unknown, expired or revoked token — or 503
// unavailable when the store cannot say, and returns false.
func (s *Server) requireAdmin(w http.ResponseWriter, r *http.Request) bool {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	var err error = errAdminAuth
	if strings.EqualFold(scheme, "Bearer") {
		err = s.checkAdminToken(r.Context(), strings.TrimSpace(tok))
	}
	if err != nil {
		if err == errAdminAuth {
			w.Header().Set("WWW-Authenticate", `Bearer realm="assent-admin"`)
		}
		writeError(w, err)
		return false
	}
	return true
}

// storeDown says whether the store fails to answer a ping: what tells a
// failed database from a refused request when an error does not say.
func (s *Server) storeDown(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return s.st.Ping(ctx) != nil
}

// AdminUser is the body of POST /v1/admin/users.
type AdminUser struct {
	Login    string   `json:"login"`
	Email    string   `json:"email,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	Password string   `json:"password,omitempty"`
}

func (s *Server) handleAdminAddUser(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r) {
		return
	}
	var req AdminUser
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	u, err := s.AddUser(r.Context(), NewUser{Login: req.Login, Email: req.Email, Groups: req.Groups, Password: req.Password})
	switch {
	case errors.Is(err, ErrUserExists):
		writeError(w, apiErr(http.StatusConflict, "user_exists", "%v", err))
		return
	case err != nil && s.storeDown(r.Context()):
		writeError(w, s.unavailable("admin: add user", err))
		return
	case err != nil:
		writeError(w, apiErr(http.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": u.ID, "login": u.Login})
}

// adminUser finds the user an admin request names: 404 no_user only when
// there truly is none, 503 when the store fails.
func (s *Server) adminUser(ctx context.Context, login string) (store.User, error) {
	u, err := s.st.GetUserByLogin(ctx, NormalizeLogin(login))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, apiErr(http.StatusNotFound, "no_user",
			"no user %q; add one with POST /v1/admin/users or 'assentd user add'", truncate(login, 64))
	} else if err != nil {
		return store.User{}, s.unavailable("admin: load user", err)
	}
	return u, nil
}

// AdminLink is the answer of POST /v1/admin/users/{login}/enroll.
type AdminLink struct {
	Link      string    `json:"link"`
	ExpiresAt time.Time `json:"expiresAt"`
}

func (s *Server) handleAdminEnroll(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r) {
		return
	}
	u, err := s.adminUser(r.Context(), r.PathValue("login"))
	if err != nil {
		writeError(w, err)
		return
	}
	if u.Status != store.UserActive {
		writeError(w, apiErr(http.StatusConflict, "user_inactive", "user %q is %s; enrollment links are made only for active users", u.Login, u.Status))
		return
	}
	link, err := s.NewEnrollLink(r.Context(), u.Login)
	if err != nil {
		if s.storeDown(r.Context()) {
			writeError(w, s.unavailable("admin: enroll link", err))
		} else {
			writeError(w, s.internal("admin: enroll link", err))
		}
		return
	}
	writeJSON(w, http.StatusOK, AdminLink{Link: link.String(), ExpiresAt: link.Expires})
}

// AdminPush is the body of POST /v1/admin/push: a test push to a user's
// devices, outside any sign-in (what an administrator sends to check a
// device works, and what assent-load drives).
type AdminPush struct {
	Login string `json:"login"`
}

// AdminPushResult says what was sent.
type AdminPushResult struct {
	ChallengeIDs []string  `json:"challengeIds"`
	Number       int       `json:"number"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

func (s *Server) handleAdminPush(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r) {
		return
	}
	var req AdminPush
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	u, err := s.adminUser(r.Context(), req.Login)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.SendPush(r.Context(), PushRequest{User: u, Kind: push.KindStepUp, NumberChallenge: true, UserVerification: push.UVNone,
		Context: push.ChallengeContext{App: "Test push from an administrator", ClientIP: clientIP(r)}})
	if err != nil {
		if errors.Is(err, errInternal) && s.storeDown(r.Context()) {
			err = errUnavailable
		}
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AdminPushResult{ChallengeIDs: res.ChallengeIDs, Number: res.Number, ExpiresAt: res.ExpiresAt})
}

// AdminApp is one app of the registry as the admin API shows it: its
// settings as people read them, never a secret.
type AdminApp struct {
	ID        string       `json:"id"`
	Name      string       `json:"name"`
	Type      string       `json:"type"`
	Builtin   bool         `json:"builtin"`
	CreatedAt time.Time    `json:"createdAt"`
	Settings  []AppSetting `json:"settings,omitempty"`
	// Secret is the app's secret (an OpenID Connect client's), in the
	// answer that made it only: it is never shown again.
	Secret string `json:"secret,omitempty"`
}

// AdminApps is the answer of GET /v1/admin/apps.
type AdminApps struct {
	Apps []AdminApp `json:"apps"`
}

// AdminNewApp is the body of POST /v1/admin/apps. Settings are those of
// the type (an OpenID Connect client's redirect_uri, post_logout_uri,
// public, id_token_alg).
type AdminNewApp struct {
	Name     string              `json:"name"`
	Type     string              `json:"type,omitempty"`
	Settings map[string][]string `json:"settings,omitempty"`
}

func (s *Server) adminApp(a store.App) AdminApp {
	return AdminApp{ID: a.ID, Name: a.Name, Type: a.Type, Builtin: a.Builtin, CreatedAt: a.CreatedAt.UTC(), Settings: s.DescribeApp(a)}
}

func (s *Server) handleAdminListApps(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r) {
		return
	}
	apps, err := s.ListApps(r.Context())
	if err != nil {
		writeError(w, s.unavailable("admin: list apps", err))
		return
	}
	out := AdminApps{Apps: make([]AdminApp, 0, len(apps))}
	for _, a := range apps {
		out.Apps = append(out.Apps, s.adminApp(a))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleAdminAddApp(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r) {
		return
	}
	var req AdminNewApp
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	a, secret, err := s.AddAppOfKind(r.Context(), req.Name, req.Type, req.Settings)
	switch {
	case errors.Is(err, ErrAppExists):
		writeError(w, apiErr(http.StatusConflict, "app_exists", "%v; GET /v1/admin/apps lists the registered apps", err))
		return
	case errors.Is(err, ErrAppInvalid):
		writeError(w, apiErr(http.StatusBadRequest, "bad_request", "%v", err))
		return
	case err != nil:
		writeError(w, s.unavailable("admin: add app", err))
		return
	}
	out := s.adminApp(a)
	out.Secret = secret
	writeJSON(w, http.StatusCreated, out)
}

func (s *Server) handleAdminRemoveApp(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r) {
		return
	}
	name := r.PathValue("name")
	err := s.RemoveApp(r.Context(), name)
	switch {
	case errors.Is(err, ErrAppNotFound):
		writeError(w, apiErr(http.StatusNotFound, "unknown_app", "no app named %q is registered; GET /v1/admin/apps lists them", truncate(name, 64)))
	case errors.Is(err, ErrAppBuiltin):
		writeError(w, apiErr(http.StatusConflict, "builtin_app", "%q is built in (the account page and the admin area need it) and cannot be removed", truncate(name, 64)))
	case err != nil:
		writeError(w, s.unavailable("admin: remove app", err))
	default:
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	}
}

// AdminRiskReset is the answer of POST /v1/admin/users/{login}/reset-risk.
type AdminRiskReset struct {
	Login string `json:"login"`
	Risk  string `json:"risk"`
	// Was is the risk level before the reset ("low" when there was
	// nothing to reset).
	Was string `json:"was"`
}

func (s *Server) handleAdminResetRisk(w http.ResponseWriter, r *http.Request) {
	if !s.requireAdmin(w, r) {
		return
	}
	u, err := s.adminUser(r.Context(), r.PathValue("login"))
	if err != nil {
		writeError(w, err)
		return
	}
	was, err := s.ResetUserRisk(r.Context(), u.ID, "admin API")
	switch {
	case errors.Is(err, errNoUser):
		writeError(w, apiErr(http.StatusNotFound, "no_user", "no user %q", u.Login))
		return
	case err != nil:
		writeError(w, s.unavailable("admin: reset risk", err))
		return
	}
	writeJSON(w, http.StatusOK, AdminRiskReset{Login: u.Login, Risk: "low", Was: was})
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Admin API tokens are kept as secrets named by the token's hash, so the
// database holds nothing a caller could present.
const adminTokenPrefix = "admin-token:"

// NewAdminToken makes an API token for the admin endpoints (/v1/admin/…).
func (s *Server) NewAdminToken(ctx context.Context, name string) (string, error) {
	tok := "aat_" + crypto.RandomToken(32)
	meta, _ := json.Marshal(map[string]string{"name": name, "created": s.now().UTC().Format(time.RFC3339)})
	if _, err := s.st.PutSecretIfAbsent(ctx, adminTokenPrefix+crypto.HashToken(tok), meta); err != nil {
		return "", err
	}
	s.audit(ctx, store.AuditEvent{Type: "admin.token_created", Detail: map[string]string{"name": name}})
	return tok, nil
}

var errAdminAuth = apiErr(http.StatusUnauthorized, "unauthorized", "send an admin API token: Authorization: Bearer aat_… (make one with 'assentd admin-token')")

func (s *Server) requireAdmin(w http.ResponseWriter, r *http.Request) bool {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || !strings.HasPrefix(tok, "aat_") {
		writeError(w, errAdminAuth)
		return false
	}
	key := adminTokenPrefix + crypto.HashToken(tok)
	if s.adminTokens.known(key, s.now()) {
		return true
	}
	if _, err := s.st.GetSecret(r.Context(), key); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			writeError(w, s.internal("admin: check token", err))
			return false
		}
		writeError(w, errAdminAuth)
		return false
	}
	s.adminTokens.remember(key, s.now())
	return true
}

// tokenCache remembers admin tokens found in the store for a little while,
// so that a busy admin client does not cost a read per request.
type tokenCache struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

const tokenCacheTTL = 30 * time.Second

func (c *tokenCache) known(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.seen[key]
	return ok && now.Sub(at) < tokenCacheTTL
}

func (c *tokenCache) remember(key string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil || len(c.seen) > 1000 {
		c.seen = map[string]time.Time{}
	}
	c.seen[key] = now
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
	if errors.Is(err, ErrUserExists) {
		writeError(w, apiErr(http.StatusConflict, "user_exists", "%v", err))
		return
	} else if err != nil {
		writeError(w, apiErr(http.StatusBadRequest, "bad_request", "%v", err))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": u.ID, "login": u.Login})
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
	link, err := s.NewEnrollLink(r.Context(), r.PathValue("login"))
	if err != nil {
		writeError(w, apiErr(http.StatusNotFound, "no_user", "%v", err))
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
	u, err := s.st.GetUserByLogin(r.Context(), NormalizeLogin(req.Login))
	if err != nil {
		writeError(w, apiErr(http.StatusNotFound, "no_user", "no user %q", truncate(req.Login, 64)))
		return
	}
	res, err := s.SendPush(r.Context(), PushRequest{User: u, Kind: push.KindStepUp, NumberChallenge: true, UserVerification: push.UVNone,
		Context: push.ChallengeContext{App: "Test push from an administrator", ClientIP: clientIP(r)}})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, AdminPushResult{ChallengeIDs: res.ChallengeIDs, Number: res.Number, ExpiresAt: res.ExpiresAt})
}

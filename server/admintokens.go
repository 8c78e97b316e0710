package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Admin API tokens: "aat_" and 256 random bits, shown once. The store keeps
// only the token's SHA-256 (crypto.HashToken) with a public ID ("tok_…"),
// a name, and when it expires or was revoked; a copy of the database
// grants nothing.
const (
	// AdminTokenPrefix starts every admin API token.
	AdminTokenPrefix = "aat_"
	// DefaultAdminTokenTTL is how long a token lasts unless told otherwise.
	DefaultAdminTokenTTL = 720 * time.Hour
	// MaxAdminTokenTTL is the longest a token may last.
	MaxAdminTokenTTL = 8760 * time.Hour
	// adminTokenRecheck is the longest a node trusts a token it found in
	// the store before it reads it again: a revocation or an expiry
	// reaches every node within that.
	adminTokenRecheck = time.Second
	// adminTokenLen is the length of "aat_" and 32 random bytes in
	// base64url; anything else is refused before the store is asked.
	adminTokenLen = len(AdminTokenPrefix) + 43
)

// ErrAdminTokenNotFound: no admin token has the ID given.
var ErrAdminTokenNotFound = errors.New("no admin token with that ID")

// CheckAdminTokenTTL says what is wrong with a token lifetime, if anything.
func CheckAdminTokenTTL(ttl time.Duration) error {
	switch {
	case ttl <= 0:
		return errors.New("an admin token must expire in the future; give a positive duration such as 720h (30 days)")
	case ttl > MaxAdminTokenTTL:
		return fmt.Errorf("at most %s (a year); make a new token when this one runs out", fmtHours(MaxAdminTokenTTL))
	}
	return nil
}

func fmtHours(d time.Duration) string { return fmt.Sprintf("%dh", int64(d/time.Hour)) }

// NewAdminToken makes an API token for the admin endpoints (/v1/admin/…)
// that lasts DefaultAdminTokenTTL.
func (s *Server) NewAdminToken(ctx context.Context, name string) (string, error) {
	tok, _, err := s.IssueAdminToken(ctx, name, DefaultAdminTokenTTL)
	return tok, err
}

// IssueAdminToken makes an admin API token that expires after ttl. It
// returns the token, which is not kept anywhere, and its stored record.
func (s *Server) IssueAdminToken(ctx context.Context, name string, ttl time.Duration) (string, store.AdminToken, error) {
	if err := CheckAdminTokenTTL(ttl); err != nil {
		return "", store.AdminToken{}, fmt.Errorf("ttl %s: %w", ttl, err)
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = "api"
	}
	if len(name) > 64 {
		return "", store.AdminToken{}, fmt.Errorf("token name %q: at most 64 bytes", truncate(name, 64))
	}
	tok := AdminTokenPrefix + crypto.RandomToken(32)
	now := s.now()
	t := store.AdminToken{ID: newID("tok_"), Hash: crypto.HashToken(tok), Name: name, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if err := s.st.CreateAdminToken(ctx, t); err != nil {
		return "", store.AdminToken{}, fmt.Errorf("store the admin token: %w", err)
	}
	s.audit(ctx, store.AuditEvent{Type: "admin.token_created", Detail: map[string]string{
		"name": name, "id": t.ID, "expires": t.ExpiresAt.UTC().Format(time.RFC3339)}})
	return tok, t, nil
}

// ListAdminTokens lists every admin token, oldest first. The records hold
// no secret: only hashes.
func (s *Server) ListAdminTokens(ctx context.Context) ([]store.AdminToken, error) {
	return s.st.ListAdminTokens(ctx)
}

// RevokeAdminToken revokes the token with that ID and returns its record;
// every node refuses it within a second. A token revoked before is left as
// it was, and already says so.
func (s *Server) RevokeAdminToken(ctx context.Context, id string) (t store.AdminToken, already bool, err error) {
	ts, err := s.st.ListAdminTokens(ctx)
	if err != nil {
		return store.AdminToken{}, false, err
	}
	i := slices.IndexFunc(ts, func(t store.AdminToken) bool { return t.ID == id })
	if i < 0 {
		return store.AdminToken{}, false, fmt.Errorf("%q: %w", truncate(id, 64), ErrAdminTokenNotFound)
	}
	t = ts[i]
	if !t.RevokedAt.IsZero() {
		return t, true, nil
	}
	now := s.now()
	if err := s.st.RevokeAdminToken(ctx, id, now); errors.Is(err, store.ErrNotFound) {
		return store.AdminToken{}, false, fmt.Errorf("%q: %w", truncate(id, 64), ErrAdminTokenNotFound)
	} else if err != nil {
		return store.AdminToken{}, false, err
	}
	t.RevokedAt = now
	s.audit(ctx, store.AuditEvent{Type: "admin.token_revoked", Detail: map[string]string{"id": t.ID, "name": t.Name}})
	return t, false, nil
}

// AdminTokenState says whether a token works at now: "active", "expired"
// or "revoked".
func AdminTokenState(t store.AdminToken, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	}
	return "active"
}

// errAdminAuth is the one answer for a missing, malformed, unknown, expired
// or revoked token: a caller learns nothing about which.
var errAdminAuth = apiErr(http.StatusUnauthorized, "unauthorized",
	"send a valid admin API token: Authorization: Bearer aat_…; this one is missing, unknown, expired or revoked "+
		"(make one with 'assentd admin-token'; 'assentd admin-token list' shows which are active)")

// errUnavailable is the answer when the database does not answer: the
// request may work when tried again, and nothing about the caller is
// decided by it.
var errUnavailable = apiErr(http.StatusServiceUnavailable, "unavailable",
	"the server cannot reach its database; try again shortly")

// unavailable logs a store failure and returns errUnavailable; a store out
// of space is errNoSpace instead (see noSpace).
func (s *Server) unavailable(op string, err error) error {
	if errors.Is(err, store.ErrNoSpace) {
		return s.noSpace(op, err)
	}
	s.log.Error(op, "err", err)
	s.metrics.errors.WithLabelValues(op).Inc()
	return errUnavailable
}

// checkAdminToken says whether a presented token is one the store holds,
// unexpired and unrevoked: nil when it is, errAdminAuth when it is not,
// errUnavailable when the store cannot say.
func (s *Server) checkAdminToken(ctx context.Context, tok string) error {
	if len(tok) != adminTokenLen || !strings.HasPrefix(tok, AdminTokenPrefix) {
		return errAdminAuth
	}
	hash := crypto.HashToken(tok)
	// The time before the read: a positive answer is trusted for at most
	// adminTokenRecheck after the store was asked, whatever it said.
	now := s.now()
	if s.adminTokens.known(hash, now) {
		return nil
	}
	t, err := s.st.GetAdminToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return errAdminAuth
	} else if err != nil {
		return s.unavailable("admin: check token", err)
	}
	// The lookup is by hash; compare it again in constant time so that a
	// backend that matched loosely (a collation, a prefix) grants nothing.
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 || AdminTokenState(t, now) != "active" {
		return errAdminAuth
	}
	s.adminTokens.remember(hash, now, t.ExpiresAt)
	return nil
}

// tokenCache remembers admin tokens found valid in the store for at most
// adminTokenRecheck of the server clock, and never past their expiry, so
// that a busy admin client does not cost a read per request while a
// revocation on any node is honoured by every node within a second.
type tokenCache struct {
	mu   sync.Mutex
	seen map[string]tokenSeen
}

type tokenSeen struct{ at, until time.Time }

// maxCachedTokens bounds the cache; only valid tokens get in, so it holds
// few.
const maxCachedTokens = 1000

func (c *tokenCache) known(hash string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.seen[hash]
	// A clock that went back is no reason to trust longer.
	return ok && !now.Before(e.at) && now.Before(e.until)
}

func (c *tokenCache) remember(hash string, now, expires time.Time) {
	until := now.Add(adminTokenRecheck)
	if expires.Before(until) {
		until = expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil || len(c.seen) >= maxCachedTokens {
		c.seen = map[string]tokenSeen{}
	}
	c.seen[hash] = tokenSeen{at: now, until: until}
}

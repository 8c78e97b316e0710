package server

// What a protocol front (server/oidc; later server/radius) uses of the
// engine. A front is a package of its own that calls these; the engine
// knows nothing of its protocol. It signs people in through the hosted
// pages (SignInURL), reads what the browser's session proves
// (BrowserSignIn, SignInMeets) and keeps its own objects in the store as
// grants.

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Store is the node's store.
func (s *Server) Store() store.Store { return s.st }

// Now is the engine's clock.
func (s *Server) Now() time.Time { return s.now() }

// Logger is the node's logger.
func (s *Server) Logger() *slog.Logger { return s.log }

// Org is the organisation's name.
func (s *Server) Org() string { return s.opts.Org }

// Seal seals a secret at rest with the node's seal key, bound to aad
// (where it lives); Open opens it.
func (s *Server) Seal(plain, aad []byte) []byte { return s.sealer.Seal(plain, aad) }

// Open opens what Seal sealed with the same aad.
func (s *Server) Open(sealed, aad []byte) ([]byte, error) { return s.sealer.Open(sealed, aad) }

// Audit appends to the audit log.
func (s *Server) Audit(ctx context.Context, e store.AuditEvent) { s.audit(ctx, e) }

// ClientIP is where a request comes from (behind trusted proxies, the
// client they name).
func (s *Server) ClientIP(r *http.Request) string { return clientIP(r) }

// Handle serves a front's endpoints on the public listener, with the
// same metrics and client address as the engine's own.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Levels a sign-in can be asked to reach beyond its app's rule.
const (
	// LevelMFA is two factors, one of them a device (or a code from it), a
	// passkey or a same-device proof.
	LevelMFA = "mfa"
	// LevelMFAUV is LevelMFA with the person verified on the possession
	// factor (the app lock, or a passkey's user verification).
	LevelMFAUV = "mfa-uv"
	// LevelPhR is LevelMFA with a phishing-resistant possession factor: a
	// passkey or a proof from the Assent app on the same computer.
	LevelPhR = "phr"
)

// Levels are the levels a sign-in may ask for, weakest first.
var Levels = []string{LevelMFA, LevelMFAUV, LevelPhR}

// levelAction is what a level asks, as a rule's action.
func levelAction(level string) (policy.Action, bool) {
	a := policy.Action{Factors: 2, Possession: true, Authenticators: policy.DefaultAuthenticators(),
		UserVerification: policy.UVPreferred, NumberChallenge: policy.NumberAlways, Reauthenticate: 30 * 24 * time.Hour}
	switch level {
	case LevelMFA:
		return a, true
	case LevelMFAUV:
		// A code carries no verification of the person.
		a.Authenticators, a.UserVerification = []string{policy.AuthPush, policy.AuthWebAuthn, policy.AuthSameDevice}, policy.UVRequired
		return a, true
	case LevelPhR:
		a.Authenticators, a.PhishingResistant = slices.Clone(policy.PhishingResistantAuthenticators), policy.PhishingRequired
		return a, true
	}
	return policy.Action{}, false
}

// LevelOf is the strongest level a session's amr reaches ("" for none):
// the last of Levels it meets.
func LevelOf(amr []string) string {
	for i := len(Levels) - 1; i >= 0; i-- {
		if levelMet(amr, Levels[i]) {
			return Levels[i]
		}
	}
	return ""
}

// levelMet says whether amr reaches level.
func levelMet(amr []string, level string) bool {
	if level == "" {
		return true
	}
	a, ok := levelAction(level)
	if !ok {
		return false
	}
	return factorsMeet(&policy.Decision{Action: a}, authsOf(amr))
}

// SignInRequest is what a front asks of a sign-in on the hosted pages.
type SignInRequest struct {
	// App is the registered app's name.
	App string
	// Return is where the browser goes when it is signed in: a path on
	// this origin.
	Return string
	// AuthAfter asks for a full authentication at or after this time
	// (OpenID Connect's prompt=login and max_age): a session whose
	// authTime is earlier counts for nothing.
	AuthAfter time.Time
	// Level asks for at least this level (LevelMFA, LevelMFAUV).
	Level string
	// Login fills the login field when the browser is not signed in (a
	// hint; it decides nothing).
	Login string
}

// SignInURL is the hosted sign-in page for a request.
func (s *Server) SignInURL(req SignInRequest) string {
	q := url.Values{"app": {req.App}}
	if req.Return != "" {
		q.Set("return", req.Return)
	}
	if !req.AuthAfter.IsZero() {
		q.Set("after", strconv.FormatInt(req.AuthAfter.Unix(), 10))
	}
	if req.Level != "" {
		q.Set("level", req.Level)
	}
	if req.Login != "" {
		q.Set("login", req.Login)
	}
	return PathSignIn + "?" + q.Encode()
}

// SignIn is what a browser's session proves.
type SignIn struct {
	SessionID string
	UserID    string
	Login     string
	// App is the app the session was made for.
	App       string
	AMR       []string
	AuthTime  time.Time
	Risk      string
	ExpiresAt time.Time
}

// BrowserSignIn is the browser's session, reloaded and checked (not
// revoked or expired, its user active).
func (s *Server) BrowserSignIn(r *http.Request) (SignIn, bool) {
	sess, u, _, ok := s.web.signedIn(r)
	if !ok {
		return SignIn{}, false
	}
	return SignIn{SessionID: sess.ID, UserID: u.ID, Login: u.Login, App: sess.App, AMR: sess.AMR, AuthTime: sess.AuthTime,
		Risk: sess.Risk, ExpiresAt: sess.ExpiresAt}, true
}

// SignInMeets says whether a browser's session may stand for a sign-in
// to req.App now: it serves the app (made for it, or its factors meet the
// app's rule within the rule's frequency), its authentication is not
// older than req.AuthAfter, and it reaches req.Level.
func (s *Server) SignInMeets(r *http.Request, si SignIn, req SignInRequest) bool {
	sess, u, err := s.loadSession(r.Context(), si.SessionID)
	if err != nil || u.ID != si.UserID {
		return false
	}
	if sess.AuthTime.Before(req.AuthAfter.Truncate(time.Second)) || !levelMet(sess.AMR, req.Level) {
		return false
	}
	return s.sessionServes(sess, u, req.App, clientIP(r))
}

// EndBrowserSession signs this browser out: its session is revoked and
// its cookie cleared.
func (s *Server) EndBrowserSession(w http.ResponseWriter, r *http.Request) {
	if sess, u, _, ok := s.web.signedIn(r); ok {
		if err := s.st.RevokeSession(r.Context(), sess.ID, s.now()); err != nil {
			s.log.Error("end browser session", "err", err)
		} else {
			s.audit(r.Context(), store.AuditEvent{Type: "session.revoked", UserID: u.ID, ClientIP: clientIP(r)})
		}
	}
	s.web.setCookie(w, "session", "", -1)
}

// User loads a user by ID.
func (s *Server) User(ctx context.Context, id string) (store.User, error) {
	return s.st.GetUser(ctx, id)
}

// AllowSource counts an unauthenticated request of a front (an authorize
// or a device authorization) against its source's rate, the same one the
// engine's own sign-in steps use (--source-rate); false means the source
// must wait.
func (s *Server) AllowSource(r *http.Request) bool { return s.allowRequest(clientIP(r)) == nil }

// Source is the unit a limit counts a request's source by: an IPv4
// address or an IPv6 /64.
func (s *Server) Source(r *http.Request) string { return sourceOf(clientIP(r)) }

// signedOutEvents are the audit events after which none of a user's
// earlier sign-ins stands: "sign out everywhere" and a password reset.
var signedOutEvents = []string{"session.revoked_all", "password.reset"}

// SignedOutSince says whether every session of the user was ended (signed
// out everywhere, or the password reset) after t: what a front's tokens
// from a sign-in at t must not outlive.
func (s *Server) SignedOutSince(ctx context.Context, userID string, t time.Time) (bool, error) {
	evs, err := s.st.ListAudit(ctx, store.AuditFilter{UserID: userID, Types: signedOutEvents, Since: t})
	if err != nil {
		return false, err
	}
	for _, ev := range evs {
		if ev.Time.After(t) {
			return true, nil
		}
	}
	return false, nil
}

// RequestMeta is where a front's request comes from, as the engine weighs
// it: the address (risk, zones, throttles, the push's "where from"), what
// asked (shown in the push as the browser is), and a stable id of the
// asking device when there is one (risk's known devices).
type RequestMeta struct {
	IP        string
	UserAgent string
	Device    string
	// NoNumber says the front's client cannot show a number: a push the
	// rule wants with a number challenge is refused before it is sent
	// (403 number_challenge_unavailable), not sent and wasted.
	NoNumber bool
	// NoSession says the front makes no use of a session: a success
	// makes none.
	NoSession bool
}

// Do runs one step of the engine's embedded API in process — interact,
// then the remediations its answers offer — as a front that is not a
// browser does (a RADIUS server asking for a password and a push).
func (s *Server) Do(ctx context.Context, step string, req sdk.Request, m RequestMeta) (*sdk.Response, error) {
	return s.Step(ctx, step, req, reqMeta{ip: m.IP, userAgent: truncate(m.UserAgent, 256), device: m.Device,
		front: true, noNumber: m.NoNumber, noSession: m.NoSession})
}

// Done is closed when the node closes: a front's listeners stop then.
func (s *Server) Done() <-chan struct{} { return s.done }

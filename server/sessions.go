package server

// Sessions carry what they prove: the user, the app they were made for,
// the factors used (RFC 8176 amr values), when the person authenticated
// originally, and the risk at the time. Every use reloads the session and
// checks it again — revoked, expired, its user disabled — and a session
// stands in for another app's sign-in only as far as its factors meet that
// app's rule (DESIGN.md, "Sessions").

import (
	"context"
	"errors"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

// AMR values (RFC 8176), and email, which the RFC does not name.
const (
	AMRPassword = "pwd"
	AMRPush     = "swk" // a push approved with the device's software key
	AMROTP      = "otp"
	AMREmail    = "email"
	AMRUser     = "user" // the app lock verified the person
	AMRMFA      = "mfa"
)

// authEnrolled is the factor of a sign-in that enrolled the account's
// first device: the device proved its key as it enrolled.
const authEnrolled = "enrolled"

var amrOfAuth = map[string]string{
	authEnrolled:     AMRPush,
	sdk.AuthPassword: AMRPassword,
	sdk.AuthPush:     AMRPush,
	sdk.AuthTOTP:     AMROTP,
	sdk.AuthEmail:    AMREmail,
}

// amrFor lists the amr values of the authenticators passed; uv says the
// person was verified on the device. mfa is added when a knowledge and a
// possession factor were both used.
func amrFor(done []string, uv bool) []string {
	var out []string
	for _, a := range done {
		if v, ok := amrOfAuth[a]; ok && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if uv && slices.Contains(out, AMRPush) {
		out = append(out, AMRUser)
	}
	if slices.Contains(out, AMRPassword) && slices.ContainsFunc(out, func(v string) bool { return v != AMRPassword && v != AMRUser }) {
		out = append(out, AMRMFA)
	}
	return out
}

// authsOf is the other way: the authenticators a session's amr stands for,
// and whether the person was verified.
func authsOf(amr []string) (done []string, uv bool) {
	for _, v := range amr {
		for a, m := range amrOfAuth {
			if m == v && a != authEnrolled && !slices.Contains(done, a) {
				done = append(done, a)
			}
		}
	}
	slices.Sort(done)
	return done, slices.Contains(amr, AMRUser)
}

// hasKnowledge and hasPossession say which kinds of factor a list of passed
// authenticators holds for a rule: a possession factor counts when the
// rule allows it, and a push only with user verification where the rule
// requires it.
func hasKnowledge(done []string) bool { return slices.Contains(done, sdk.AuthPassword) }

func hasPossession(d *policy.Decision, done []string, uv bool) bool {
	return slices.ContainsFunc(done, func(a string) bool {
		if a == authEnrolled {
			return true
		}
		if a == sdk.AuthPassword || !slices.Contains(d.Authenticators, a) {
			return false
		}
		if a == sdk.AuthPush && d.UserVerification == policy.UVRequired && !uv {
			return false
		}
		return true
	})
}

// factorsMeet says whether passed authenticators satisfy a rule: two
// factors are a password and a possession factor; one factor with
// possession is a possession factor (never a password); one without is
// either.
func factorsMeet(d *policy.Decision, done []string, uv bool) bool {
	if d == nil || d.Deny {
		return false
	}
	know, have := hasKnowledge(done), hasPossession(d, done, uv)
	switch {
	case d.Factors >= 2:
		return know && have
	case d.Possession:
		return have
	}
	return know || have
}

var errSession = apiErr(http.StatusUnauthorized, "invalid_session", "this session is not valid (unknown, expired or revoked); sign in again")

// loadSession reloads a session by its hash and checks it is still good:
// not revoked, not expired, its user active.
func (s *Server) loadSession(ctx context.Context, id string) (store.Session, store.User, error) {
	if id == "" {
		return store.Session{}, store.User{}, errSession
	}
	sess, err := s.st.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, store.User{}, errSession
	} else if err != nil {
		return store.Session{}, store.User{}, s.internal("load session", err)
	}
	if !sess.RevokedAt.IsZero() || !s.now().Before(sess.ExpiresAt) {
		return store.Session{}, store.User{}, errSession
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Session{}, store.User{}, errSession
	} else if err != nil {
		return store.Session{}, store.User{}, s.internal("load session user", err)
	}
	if u.Status != store.UserActive {
		return store.Session{}, store.User{}, errSession
	}
	return sess, u, nil
}

// sessionUser checks a session token and returns the session and its user.
func (s *Server) sessionUser(ctx context.Context, token string) (store.Session, store.User, error) {
	if token == "" || len(token) > 128 {
		return store.Session{}, store.User{}, errSession
	}
	return s.loadSession(ctx, crypto.HashToken(token))
}

// adminMaxAge is how recent a sign-in the admin area wants, whatever the
// policy says.
const adminMaxAge = 15 * time.Minute

// sessionServes says whether a session may be used for an app without a
// new sign-in: it was made for that app, or its factors meet the app's
// rule within the rule's re-authentication frequency. The rule is the one
// that matches the session's user, the network it is used from and the
// risk it was made at. The admin area also wants a sign-in of the last 15
// minutes.
func (s *Server) sessionServes(sess store.Session, u store.User, app, ip string) bool {
	d := s.opts.Policy.SignOnFor(policy.Input{App: app, Groups: u.Groups, IP: net.ParseIP(ip), Risk: sess.Risk})
	if d.Deny {
		return false
	}
	age := s.now().Sub(sess.AuthTime)
	if app == AppAdmin && age >= adminMaxAge {
		return false
	}
	if sess.App == app {
		return true
	}
	done, uv := authsOf(sess.AMR)
	return d.Reauthenticate > 0 && age < d.Reauthenticate && factorsMeet(&d, done, uv)
}

func bearer(r *http.Request) string {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

// handleSession says whose a session is and what it proves (GET
// /v1/session). With ?app=NAME it answers only when the session serves
// that app (403 step_up_required otherwise), so that an app never takes a
// session made for another with weaker factors.
func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	sess, u, err := s.sessionUser(r.Context(), bearer(r))
	if err != nil {
		writeError(w, err)
		return
	}
	if app := r.URL.Query().Get("app"); app != "" {
		if _, err := s.App(r.Context(), app); err != nil {
			writeError(w, err)
			return
		}
		if !s.sessionServes(sess, u, app, sess.ClientIP) {
			writeError(w, apiErr(http.StatusForbidden, "step_up_required",
				"this session was made for %q and does not meet the sign-in rule of %q; sign in to %q", sess.App, app, app))
			return
		}
	}
	writeJSON(w, http.StatusOK, sdk.SessionUser{User: u.Login, App: sess.App, AMR: sess.AMR, AuthTime: sess.AuthTime,
		Risk: sess.Risk, ExpiresAt: sess.ExpiresAt})
}

// handleSignOut ends a session (DELETE /v1/session).
func (s *Server) handleSignOut(w http.ResponseWriter, r *http.Request) {
	sess, u, err := s.sessionUser(r.Context(), bearer(r))
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.st.RevokeSession(r.Context(), sess.ID, s.now()); err != nil {
		writeError(w, s.internal("sign out: revoke session", err))
		return
	}
	s.audit(r.Context(), store.AuditEvent{Type: "session.revoked", UserID: u.ID, ClientIP: clientIP(r)})
	w.WriteHeader(http.StatusNoContent)
}

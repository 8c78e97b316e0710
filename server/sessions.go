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

// AMR values (RFC 8176), and email, which the RFC does not name, and phr,
// which says the possession factor was bound to this server's origin (a
// passkey or a same-device proof), so that a page relaying the sign-in
// could not have used it.
const (
	AMRPassword = "pwd"
	AMRPush     = "swk" // a key in software: the device key (push, same-device), a synced passkey
	AMRHardware = "hwk" // a key in hardware: a device-bound passkey or security key
	AMROTP      = "otp"
	AMREmail    = "email"
	AMRUser     = "user" // the person was verified: the app lock, or the passkey's user verification
	AMRMFA      = "mfa"
	AMRPhR      = "phr"
)

// authEnrolled is the factor of a sign-in that enrolled the account's
// first device: the device proved its key as it enrolled. authPhR is a
// phishing-resistant factor a reused session stands for (its amr says phr,
// not which kind).
const (
	authEnrolled = "enrolled"
	authPhR      = "phr"
)

// factors are what a person has passed: the authenticators, whether a push
// was approved with the person verified (UV), whether a phishing-resistant
// factor verified them (PRUV), and whether a passkey was device-bound
// (HWK).
type factors struct {
	Done          []string
	UV, PRUV, HWK bool
}

func (st *txState) factors() factors {
	return factors{Done: st.Done, UV: st.UV, PRUV: st.PRUV, HWK: st.HWK}
}

// phishingResistant says whether an authenticator is bound to the origin.
func phishingResistant(a string) bool {
	return a == sdk.AuthWebAuthn || a == sdk.AuthSameDevice || a == authPhR
}

// amrFor lists the amr values of the factors passed. mfa is added when a
// knowledge and a possession factor were both used, or a passkey or
// same-device proof verified the person (a multi-factor authenticator).
func amrFor(fs factors) []string {
	var out []string
	add := func(v string) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	pr := false
	for _, a := range fs.Done {
		switch a {
		case sdk.AuthPassword:
			add(AMRPassword)
		case sdk.AuthPush, authEnrolled:
			add(AMRPush)
		case sdk.AuthTOTP:
			add(AMROTP)
		case sdk.AuthEmail:
			add(AMREmail)
		case sdk.AuthWebAuthn:
			if fs.HWK {
				add(AMRHardware)
			} else {
				add(AMRPush)
			}
			pr = true
		case sdk.AuthSameDevice:
			add(AMRPush)
			pr = true
		}
	}
	if pr {
		add(AMRPhR)
	}
	if (fs.UV && slices.Contains(fs.Done, sdk.AuthPush)) || (fs.PRUV && pr) {
		add(AMRUser)
	}
	other := slices.ContainsFunc(out, func(v string) bool { return v != AMRPassword && v != AMRUser && v != AMRPhR })
	if (slices.Contains(out, AMRPassword) && other) || (fs.PRUV && pr) {
		add(AMRMFA)
	}
	return out
}

// authsOf is the other way: the factors a session's amr stands for. A
// phr session stands for a phishing-resistant factor (authPhR), verified
// when the amr says user.
func authsOf(amr []string) factors {
	var fs factors
	add := func(a string) {
		if !slices.Contains(fs.Done, a) {
			fs.Done = append(fs.Done, a)
		}
	}
	for _, v := range amr {
		switch v {
		case AMRPassword:
			add(sdk.AuthPassword)
		case AMRPush:
			add(sdk.AuthPush)
		case AMROTP:
			add(sdk.AuthTOTP)
		case AMREmail:
			add(sdk.AuthEmail)
		case AMRPhR:
			add(authPhR)
		}
	}
	slices.Sort(fs.Done)
	fs.UV = slices.Contains(amr, AMRUser)
	fs.PRUV = fs.UV && slices.Contains(amr, AMRPhR)
	fs.HWK = slices.Contains(amr, AMRHardware)
	return fs
}

// allows says whether a rule accepts an authenticator as its possession
// factor: a phishing-resistant rule only passkeys and same-device proofs.
func allows(d *policy.Decision, a string) bool {
	if a == authPhR {
		return allows(d, sdk.AuthWebAuthn) || allows(d, sdk.AuthSameDevice)
	}
	if d.PhishingResistant == policy.PhishingRequired && !phishingResistant(a) {
		return false
	}
	return slices.Contains(d.Authenticators, a)
}

// hasKnowledge and hasPossession say which kinds of factor passed
// authenticators hold for a rule. A password is knowledge, and so is a
// passkey's or the app's verification of the person (a PIN or biometric
// on a phishing-resistant factor the rule allows). A possession factor
// counts when the rule allows it, and only with the person verified where
// the rule requires it.
func hasKnowledge(d *policy.Decision, fs factors) bool {
	if slices.Contains(fs.Done, sdk.AuthPassword) {
		return true
	}
	return fs.PRUV && slices.ContainsFunc(fs.Done, func(a string) bool { return phishingResistant(a) && allows(d, a) })
}

func hasPossession(d *policy.Decision, fs factors) bool {
	return slices.ContainsFunc(fs.Done, func(a string) bool {
		switch {
		case a == authEnrolled:
			return d.PhishingResistant != policy.PhishingRequired
		case a == sdk.AuthPassword || !allows(d, a):
			return false
		case d.UserVerification != policy.UVRequired:
			return true
		case a == sdk.AuthPush:
			return fs.UV
		case phishingResistant(a):
			return fs.PRUV
		}
		return true
	})
}

// factorsMeet says whether passed authenticators satisfy a rule: two
// factors are knowledge and a possession factor; one factor with
// possession is a possession factor (never a password); one without is
// either.
func factorsMeet(d *policy.Decision, fs factors) bool {
	if d == nil || d.Deny {
		return false
	}
	know, have := hasKnowledge(d, fs), hasPossession(d, fs)
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
	return d.Reauthenticate > 0 && age < d.Reauthenticate && factorsMeet(&d, authsOf(sess.AMR))
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

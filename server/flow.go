package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

// flow is one step of a transaction being worked on.
type flow struct {
	s      *Server
	ctx    context.Context
	handle string
	tx     store.Transaction
	st     txState
	meta   reqMeta
}

// remediations are the steps the transaction may take now.
func (f *flow) remediations() []string {
	switch f.st.Step {
	case stepIdentify:
		if f.st.Kind == sdk.KindRecovery {
			return []string{sdk.RemIdentifyRecovery}
		}
		return []string{sdk.RemIdentify, sdk.RemIdentifyRecovery}
	case stepPassword:
		return []string{sdk.RemChallengeAuth}
	case stepSelect:
		return []string{sdk.RemSelectAuth}
	case stepPush, stepEmail:
		return []string{sdk.RemChallengePoll, sdk.RemSelectAuth}
	case stepTOTP:
		return []string{sdk.RemChallengeAuth, sdk.RemSelectAuth}
	case stepEnroll:
		return []string{sdk.RemEnrollAuth, sdk.RemEnrollPoll}
	case stepProfile:
		return []string{sdk.RemEnrollProfile}
	case stepReset:
		return []string{sdk.RemResetAuth}
	}
	return nil
}

// user is the user the transaction is about; ok is false for an unknown
// login.
func (f *flow) user() (store.User, bool, error) {
	if !f.st.Known || f.tx.UserID == "" {
		return store.User{}, false, nil
	}
	u, err := f.s.st.GetUser(f.ctx, f.tx.UserID)
	if err != nil {
		return store.User{}, false, f.s.internal("load user", err)
	}
	return u, true, nil
}

// move stores next as the transaction's state and answers with it.
func (f *flow) move(next txState, userID string) (*sdk.Response, error) {
	tx, err := f.s.advance(f.ctx, f.tx, f.st.Gen, next, store.TxActive, userID)
	if err != nil {
		return nil, err
	}
	f.tx, f.st = tx, next
	return f.s.respond(f.ctx, f.handle, tx, next)
}

func (f *flow) audit(typ string, detail map[string]string) {
	f.s.audit(f.ctx, store.AuditEvent{Type: typ, UserID: f.tx.UserID, TxID: f.tx.ID, ClientIP: f.meta.ip, Detail: detail})
}

func (f *flow) identify(login, kind string) (*sdk.Response, error) {
	login = NormalizeLogin(login)
	if login == "" || len(login) > maxLoginLength {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "login is required (at most %d bytes)", maxLoginLength)
	}
	u, err := f.s.st.GetUserByLogin(f.ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, f.s.internal("identify: load user", err)
	}
	known := err == nil && u.Status == store.UserActive
	next := txState{Kind: kind, Gen: f.st.Gen, Login: login, Device: f.st.Device, Known: known, Risk: Risk{Level: policy.RiskLow},
		Session: f.st.Session, SessionUser: f.st.SessionUser, SessionAt: f.st.SessionAt}
	if known {
		next.Risk = f.s.assessRisk(f.ctx, u, f.meta.ip, f.st.Device)
		f.s.audit(f.ctx, store.AuditEvent{Type: "risk.assessed", UserID: u.ID, TxID: f.tx.ID, ClientIP: f.meta.ip,
			Detail: map[string]string{"risk": next.Risk.Level, "reasons": strings.Join(next.Risk.Reasons, "; "), "kind": kind}})
	}
	// Whether the login exists is not revealed: an unknown one goes on
	// to the same next step, and fails there like a wrong password.
	switch kind {
	case sdk.KindSignIn:
		d := f.s.opts.Policy.SignOnFor(policy.Input{
			App: f.tx.App, Groups: u.Groups, IP: net.ParseIP(f.meta.ip), Risk: next.Risk.Level,
			NewDevice: slices.Contains(next.Risk.Reasons, "new device"),
		})
		next.Decision = &d
		next.Step = stepPassword
		if known && d.Passwordless() && f.s.hasDevice(f.ctx, u.ID) {
			next.Step = stepSelect
		}
		if known && !d.Deny && d.Reauthenticate > 0 && next.SessionUser == u.ID && f.s.now().Sub(next.SessionAt) < d.Reauthenticate {
			// Signed in recently enough for this rule: no factors asked.
			next.Done = []string{"session"}
			f.s.audit(f.ctx, store.AuditEvent{Type: "signin.session_reused", UserID: u.ID, TxID: f.tx.ID, ClientIP: f.meta.ip,
				Detail: map[string]string{"rule": d.Rule}})
			return f.succeed(next, u)
		}
	case sdk.KindRecovery:
		next.Step = stepSelect
		f.tx.Kind = sdk.KindRecovery
	}
	return f.move(next, u.ID)
}

var errBadCredentials = apiErr(http.StatusUnauthorized, "invalid_credentials", "login or password is wrong")

func (s *Server) lockedErr(u store.User) error {
	return apiErr(http.StatusTooManyRequests, "account_locked",
		"too many failed attempts; this account is locked until %s", u.LockedUntil.UTC().Format(time.RFC3339))
}

func (f *flow) challenge(req sdk.Request) (*sdk.Response, error) {
	switch {
	case f.st.Step == stepPassword && req.Authenticator == sdk.AuthPassword:
		return f.checkPassword(req.Passcode)
	case f.st.Step == stepTOTP && req.Authenticator == sdk.AuthTOTP:
		return f.checkTOTP(req.Passcode)
	}
	want := sdk.AuthPassword
	if f.st.Step == stepTOTP {
		want = sdk.AuthTOTP
	}
	return nil, apiErr(http.StatusBadRequest, "bad_request", "authenticator must be %q at this step", want)
}

func (f *flow) checkPassword(password string) (*sdk.Response, error) {
	if len(password) > maxPasswordLength {
		return nil, errBadCredentials
	}
	u, known, err := f.user()
	if err != nil {
		return nil, err
	}
	known = known && u.PasswordHash != ""
	hash := f.s.dummyHash
	if known {
		hash = u.PasswordHash
	}
	ok, herr := crypto.VerifyPassword(password, hash)
	if herr != nil {
		f.s.log.Error("password: stored hash unreadable", "user", u.ID, "err", herr)
	}
	if known && f.s.now().Before(u.LockedUntil) {
		f.audit("signin.locked", nil)
		return nil, f.s.lockedErr(u)
	}
	if !known || !ok {
		f.audit("signin.password_failed", nil)
		if known {
			f.s.recordFailure(f.ctx, u.ID, "wrong password")
		}
		return nil, errBadCredentials
	}
	f.audit("signin.password_ok", nil)
	next := f.st
	next.Done = append(slices.Clone(next.Done), sdk.AuthPassword)
	return f.next(next, u)
}

// next decides where a transaction goes once a factor is passed.
func (f *flow) next(st txState, u store.User) (*sdk.Response, error) {
	switch st.Kind {
	case sdk.KindSignIn:
		d := st.Decision
		if d.Deny {
			f.audit("signin.denied", map[string]string{"rule": d.Rule})
			return f.end(store.TxFailed, "denied by rule "+d.Rule,
				apiErr(http.StatusForbidden, "access_denied", "sign-in to this app is not allowed here (rule %q); ask your administrator", d.Rule))
		}
		possession := slices.ContainsFunc(st.Done, func(a string) bool { return a != sdk.AuthPassword })
		complete := (d.Factors == 1 && len(st.Done) > 0) || (st.done(sdk.AuthPassword) && possession)
		if !complete {
			if len(f.optionsFor(st, u)) > 0 {
				st.Step = stepSelect
				return f.move(st, "")
			}
			if f.s.opts.Policy.Enrollment.SelfService && !f.s.hasDevice(f.ctx, u.ID) {
				st.Step = stepEnroll
				return f.move(st, "")
			}
			return nil, apiErr(http.StatusForbidden, "no_second_factor",
				"this account has no Assent device for the second factor; ask an administrator for an enrollment link")
		}
		if missing := f.missingProfile(u); len(missing) > 0 {
			st.Step = stepProfile
			return f.move(st, "")
		}
		return f.succeed(st, u)
	case sdk.KindRecovery:
		need := 1
		if f.s.opts.Policy.Recovery.SecondAuthenticator {
			need = 2
		}
		if len(st.Done) >= need {
			st.Step = stepReset
			return f.move(st, "")
		}
		st.Step = stepSelect
		return f.move(st, "")
	case sdk.KindEnroll:
		if st.Step == stepEnroll {
			return f.succeed(st, u)
		}
		st.Step = stepEnroll
		return f.move(st, "")
	}
	return nil, errInternal
}

// optionsFor lists the authenticators the person may choose now: allowed
// by the policy, available to the user, not passed already. For an
// unknown login (recovery) it lists what the policy allows, so that the
// answer is the same as for a real user.
func (f *flow) optionsFor(st txState, u store.User) []string {
	var allowed []string
	switch st.Kind {
	case sdk.KindSignIn:
		if st.Decision == nil {
			return nil
		}
		allowed = st.Decision.Authenticators
	case sdk.KindRecovery:
		allowed = f.s.opts.Policy.Recovery.Authenticators
	case sdk.KindEnroll:
		allowed = []string{sdk.AuthPush, sdk.AuthTOTP}
	}
	hasDev := st.Known && f.s.hasDevice(f.ctx, u.ID)
	var out []string
	for _, a := range allowed {
		if st.done(a) {
			continue
		}
		if !st.Known && st.Kind == sdk.KindRecovery {
			if a != sdk.AuthEmail || f.s.opts.Mailer != nil {
				out = append(out, a)
			}
			continue
		}
		switch a {
		case sdk.AuthPush, sdk.AuthTOTP:
			if hasDev {
				out = append(out, a)
			}
		case sdk.AuthEmail:
			if u.Email != "" && f.s.opts.Mailer != nil {
				out = append(out, a)
			}
		}
	}
	return out
}

func (f *flow) selectAuthenticator(auth string) (*sdk.Response, error) {
	u, known, err := f.user()
	if err != nil {
		return nil, err
	}
	if known && f.s.now().Before(u.LockedUntil) {
		return nil, f.s.lockedErr(u)
	}
	opts := f.optionsFor(f.st, u)
	if !slices.Contains(opts, auth) {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "authenticator must be one of: %s", strings.Join(opts, ", "))
	}
	next := f.st
	next.Push, next.Email = nil, nil
	f.cancelPush(f.st, "a new authenticator was chosen")
	switch auth {
	case sdk.AuthPush:
		ps, err := f.sendPush(u, known)
		if err != nil {
			return nil, err
		}
		next.Push, next.Step = ps, stepPush
	case sdk.AuthTOTP:
		next.Step = stepTOTP
	case sdk.AuthEmail:
		es, err := f.sendMagicLink(u, known)
		if err != nil {
			return nil, err
		}
		next.Email, next.Step = es, stepEmail
	}
	return f.move(next, "")
}

// ErrPushLimited means the MFA-fatigue guard stopped a push.
var errPushLimited = apiErr(http.StatusTooManyRequests, "push_limited",
	"too many pushes went unanswered lately, so no more are sent for now; use a code from the Assent app instead")

func (f *flow) sendPush(u store.User, known bool) (*pushState, error) {
	pol := f.s.opts.Policy
	now := f.s.now()
	if !known {
		// Nothing is sent, but the answer looks the same.
		_, correct := pickNumbers()
		return &pushState{Number: correct, ExpiresAt: now.Add(pol.Push.Expiry)}, nil
	}
	unanswered, err := f.s.unansweredPushes(f.ctx, u.ID, now.Add(-pol.Push.Window))
	if err != nil {
		return nil, f.s.internal("count unanswered pushes", err)
	}
	if unanswered >= pol.Push.MaxUnanswered {
		f.audit("push.limited", map[string]string{"unanswered": fmt.Sprint(unanswered), "window": pol.Push.Window.String()})
		return nil, errPushLimited
	}
	kind, numberChallenge, uv := push.KindSignIn, true, push.UVPreferred
	switch f.st.Kind {
	case sdk.KindSignIn:
		numberChallenge = f.st.Decision.NumberChallengeFor(f.st.Risk.Level)
		uv = f.st.Decision.UserVerification
	case sdk.KindRecovery:
		kind = push.KindRecovery
	case sdk.KindEnroll:
		kind = push.KindEnroll
	}
	res, err := f.s.SendPush(f.ctx, PushRequest{
		TxID: f.tx.ID, User: u, Kind: kind, NumberChallenge: numberChallenge, UserVerification: uv,
		Context: push.ChallengeContext{App: f.tx.App, ClientIP: f.tx.ClientIP, UserAgent: f.tx.UserAgent,
			Risk: f.st.Risk.Level, RiskReasons: f.st.Risk.Reasons},
	})
	if err != nil {
		return nil, err
	}
	return &pushState{ChallengeIDs: res.ChallengeIDs, Number: res.Number, ExpiresAt: res.ExpiresAt, UV: uv}, nil
}

// unansweredPushes counts the pushes since a time that nobody answered. A
// push goes to every device of the user, so the count is that of the
// device that got the most unanswered ones.
func (s *Server) unansweredPushes(ctx context.Context, userID string, since time.Time) (int, error) {
	cs, err := s.st.ListChallenges(ctx, store.ChallengeFilter{UserID: userID, Since: since})
	if err != nil {
		return 0, err
	}
	perDevice := map[string]int{}
	most := 0
	for _, c := range cs {
		switch c.Status {
		case store.ChallengePending, store.ChallengeExpired, store.ChallengeCancelled:
			// A push answered on another device, which cancelled this
			// one, was answered.
			if c.Status == store.ChallengeCancelled && c.Reason == reasonAnsweredElsewhere {
				continue
			}
			perDevice[c.DeviceID]++
			most = max(most, perDevice[c.DeviceID])
		}
	}
	return most, nil
}

func (f *flow) cancelPush(st txState, reason string) {
	if st.Push == nil {
		return
	}
	for _, id := range st.Push.ChallengeIDs {
		f.s.cancelChallenge(f.ctx, id, reason)
	}
}

// poll reports on the push or the email link a transaction waits for.
func (f *flow) poll() (*sdk.Response, error) {
	u, _, err := f.user()
	if err != nil {
		return nil, err
	}
	now := f.s.now()
	back := f.st
	back.Step, back.Push, back.Email = stepSelect, nil, nil
	if f.st.Step == stepEmail {
		e := f.st.Email
		switch {
		case e.Clicked:
			next := f.st
			next.Done = append(slices.Clone(next.Done), sdk.AuthEmail)
			next.Email = nil
			return f.next(next, u)
		case !now.Before(e.ExpiresAt):
			if _, err := f.move(back, ""); err != nil {
				return nil, err
			}
			return nil, apiErr(http.StatusRequestTimeout, "email_expired", "the link in the email was not opened in time; send another or choose another way")
		}
		return f.s.respond(f.ctx, f.handle, f.tx, f.st)
	}
	var cs []store.Challenge
	for _, id := range f.st.Push.ChallengeIDs {
		c, err := f.s.st.GetChallenge(f.ctx, id)
		if err != nil {
			return nil, f.s.internal("poll: load challenge", err)
		}
		cs = append(cs, c)
	}
	pending := len(cs) == 0 && now.Before(f.st.Push.ExpiresAt) // an unknown login's push "waits"
	reason := store.ChallengeExpired
	for _, c := range cs {
		switch c.Status {
		case store.ChallengeApproved:
			next := f.st
			next.Done = append(slices.Clone(next.Done), sdk.AuthPush)
			next.Push = nil
			f.audit("factor.push_ok", map[string]string{"device": c.DeviceID})
			return f.next(next, u)
		case store.ChallengePending:
			if now.Before(c.ExpiresAt) {
				pending = true
			}
		case store.ChallengeCancelled, store.ChallengeExpired:
		default:
			reason = c.Status
		}
	}
	if pending {
		return f.s.respond(f.ctx, f.handle, f.tx, f.st)
	}
	// The push is over without an approval: say why, and go back to
	// choosing an authenticator (or end, if the person reported it).
	switch reason {
	case store.ChallengeReported:
		return f.end(store.TxFailed, "push reported",
			apiErr(http.StatusForbidden, "push_reported", "the push was reported as not made by the account holder; this transaction has ended"))
	case store.ChallengeDenied:
		if _, err := f.move(back, ""); err != nil {
			return nil, err
		}
		return nil, apiErr(http.StatusForbidden, "push_denied", "the push was denied on the device; send another or use a code")
	case store.ChallengeFailed:
		if _, err := f.move(back, ""); err != nil {
			return nil, err
		}
		return nil, apiErr(http.StatusForbidden, "wrong_number", "the push was not approved: a wrong number was picked or the device did not verify its user; send another push")
	}
	if _, err := f.move(back, ""); err != nil {
		return nil, err
	}
	return nil, apiErr(http.StatusRequestTimeout, "push_expired", "the push was not answered in time; send another or use a code")
}

var (
	errBadCode  = apiErr(http.StatusUnauthorized, "invalid_code", "the code is wrong or too old; type the code the app shows now")
	errCodeUsed = apiErr(http.StatusUnauthorized, "code_used", "this code was used already; wait for the next one")
)

func (f *flow) checkTOTP(passcode string) (*sdk.Response, error) {
	code := strings.TrimSpace(passcode)
	if (len(code) != 6 && len(code) != 8) || strings.Trim(code, "0123456789") != "" {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "a code is 6 or 8 digits")
	}
	u, known, err := f.user()
	if err != nil {
		return nil, err
	}
	if !known {
		f.audit("totp.refused", nil)
		return nil, errBadCode
	}
	if f.s.now().Before(u.LockedUntil) {
		return nil, f.s.lockedErr(u)
	}
	d, err := f.s.verifyTOTP(f.ctx, u, code)
	switch {
	case errors.Is(err, errCodeUsed):
		f.s.audit(f.ctx, store.AuditEvent{Type: "totp.replayed", UserID: u.ID, DeviceID: d.ID, TxID: f.tx.ID, ClientIP: f.meta.ip})
		f.s.recordFailure(f.ctx, u.ID, "totp code reused")
		return nil, errCodeUsed
	case errors.Is(err, errBadCode):
		f.audit("totp.refused", nil)
		f.s.recordFailure(f.ctx, u.ID, "wrong totp code")
		return nil, errBadCode
	case err != nil:
		return nil, err
	}
	f.s.audit(f.ctx, store.AuditEvent{Type: "totp.accepted", UserID: u.ID, DeviceID: d.ID, TxID: f.tx.ID, ClientIP: f.meta.ip})
	next := f.st
	next.Done = append(slices.Clone(next.Done), sdk.AuthTOTP)
	return f.next(next, u)
}

// verifyTOTP checks a code against each of the user's devices and records
// the step it matched, so that no step is accepted twice.
func (s *Server) verifyTOTP(ctx context.Context, u store.User, code string) (store.Device, error) {
	now := s.now()
	for _, d := range s.activeDevices(ctx, u.ID) {
		secret, err := s.sealer.Open(d.TOTPSecret, totpAAD(d.ID))
		if err != nil {
			s.log.Error("totp: open secret", "device", d.ID, "err", err)
			continue
		}
		p := crypto.OTPParams{Secret: secret, Algorithm: d.TOTPAlgorithm, Digits: d.TOTPDigits, Period: d.TOTPPeriod}
		step, ok, err := crypto.VerifyTOTP(p, code, now, 1)
		if err != nil || !ok {
			continue
		}
		_, err = s.st.UpdateDevice(ctx, d.ID, func(d *store.Device) error {
			if step <= d.TOTPLastStep {
				return errCodeUsed
			}
			d.TOTPLastStep = step
			return nil
		})
		if errors.Is(err, errCodeUsed) {
			return d, errCodeUsed
		} else if err != nil {
			return d, s.internal("totp: record step", err)
		}
		return d, nil
	}
	return store.Device{}, errBadCode
}

// recordFailure counts a failed factor check and locks the user past the
// limit.
func (s *Server) recordFailure(ctx context.Context, userID, reason string) {
	now := s.now()
	locked := false
	u, err := s.st.UpdateUser(ctx, userID, func(u *store.User) error {
		u.FailedAttempts++
		if u.FailedAttempts >= s.opts.MaxFailures {
			u.LockedUntil, u.FailedAttempts, locked = now.Add(s.opts.LockoutDuration), 0, true
		}
		return nil
	})
	if err != nil {
		s.log.Error("record failed attempt", "err", err)
		return
	}
	if locked {
		s.audit(ctx, store.AuditEvent{Type: "user.locked", UserID: u.ID,
			Detail: map[string]string{"reason": reason, "until": u.LockedUntil.UTC().Format(time.RFC3339)}})
	}
}

// enroll offers an enrollment link (enroll-authenticator) and waits for the
// new device (enroll-poll).
func (f *flow) enroll(start bool) (*sdk.Response, error) {
	u, known, err := f.user()
	if err != nil {
		return nil, err
	}
	if !known {
		return nil, errInternal
	}
	now := f.s.now()
	if start {
		link, err := f.s.NewEnrollLink(f.ctx, u.Login)
		if err != nil {
			return nil, f.s.internal("enroll: make link", err)
		}
		next := f.st
		next.Enroll = &enrollState{ExpiresAt: link.Expires}
		for _, d := range f.s.activeDevices(f.ctx, u.ID) {
			next.Enroll.Known = append(next.Enroll.Known, d.ID)
		}
		resp, err := f.move(next, "")
		if err != nil {
			return nil, err
		}
		// The link is a bearer secret: it is answered once and not kept.
		resp.Enrollment = &sdk.Enrollment{Link: link.String(), ExpiresAt: link.Expires}
		return resp, nil
	}
	e := f.st.Enroll
	if e == nil {
		return nil, apiErr(http.StatusBadRequest, "remediation_not_available", "call enroll-authenticator first to get a link")
	}
	var added *store.Device
	for _, d := range f.s.activeDevices(f.ctx, u.ID) {
		if !slices.Contains(e.Known, d.ID) {
			added = &d
			break
		}
	}
	if added == nil {
		if !now.Before(e.ExpiresAt) {
			next := f.st
			next.Enroll = nil
			if _, err := f.move(next, ""); err != nil {
				return nil, err
			}
			return nil, apiErr(http.StatusRequestTimeout, "enroll_expired", "the enrollment link expired before a device used it; ask for a new one")
		}
		return f.s.respond(f.ctx, f.handle, f.tx, f.st)
	}
	// Every other device hears of the new one.
	for _, d := range f.s.activeDevices(f.ctx, u.ID) {
		if d.ID != added.ID {
			f.s.notice(f.ctx, d.ID, fmt.Sprintf("A new device, %q, was added to your account.", added.Name))
		}
	}
	f.s.mailUser(f.ctx, u, "A device was added to your account",
		fmt.Sprintf("The device %q (%s) was added to your %s account %s at %s.\n\nIf this was not you, tell your administrator at once.",
			added.Name, added.Platform, f.s.opts.Org, u.Login, now.UTC().Format(time.RFC1123)))
	f.audit("enroll.self_service", map[string]string{"device": added.ID, "name": added.Name})
	next := f.st
	next.Done = append(slices.Clone(next.Done), "enroll")
	next.Enroll = nil
	return f.next(next, u)
}

func (f *flow) missingProfile(u store.User) []string {
	var missing []string
	for _, attr := range f.s.opts.Policy.Profile.Required {
		if profileValue(u, attr) == "" {
			missing = append(missing, attr)
		}
	}
	return missing
}

func profileValue(u store.User, attr string) string {
	if attr == "email" {
		return u.Email
	}
	return u.Profile[attr]
}

// profile stores the attributes progressive profiling asked for.
func (f *flow) profile(values map[string]string) (*sdk.Response, error) {
	u, _, err := f.user()
	if err != nil {
		return nil, err
	}
	missing := f.missingProfile(u)
	for _, attr := range missing {
		v := strings.TrimSpace(values[attr])
		if v == "" {
			return nil, apiErr(http.StatusBadRequest, "profile_incomplete", "%s is required", attr)
		}
		if len(v) > 256 || !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 }) {
			return nil, apiErr(http.StatusBadRequest, "bad_request", "%s must be printable text of at most 256 bytes", attr)
		}
		if attr == "email" {
			if a, err := mail.ParseAddress(v); err != nil || a.Address != v {
				return nil, apiErr(http.StatusBadRequest, "bad_request", "email %q is not an address such as name@example.com", v)
			}
		}
	}
	u, err = f.s.st.UpdateUser(f.ctx, u.ID, func(u *store.User) error {
		if u.Profile == nil {
			u.Profile = map[string]string{}
		}
		for _, attr := range missing {
			v := strings.TrimSpace(values[attr])
			if attr == "email" {
				u.Email = v
			} else {
				u.Profile[attr] = v
			}
		}
		return nil
	})
	if err != nil {
		return nil, f.s.internal("profile: update user", err)
	}
	f.audit("profile.updated", map[string]string{"attributes": strings.Join(missing, ",")})
	return f.succeed(f.st, u)
}

// reset sets a new password after recovery, revokes every session of the
// user and tells them.
func (f *flow) reset(password string) (*sdk.Response, error) {
	u, known, err := f.user()
	if err != nil || !known {
		return nil, errTxEnded
	}
	if err := f.s.checkNewPassword(u, password); err != nil {
		return nil, err
	}
	hash := crypto.HashPassword(password, f.s.opts.PasswordParams)
	now := f.s.now()
	u, err = f.s.st.UpdateUser(f.ctx, u.ID, func(u *store.User) error {
		u.PasswordHash, u.FailedAttempts, u.LockedUntil = hash, 0, time.Time{}
		return nil
	})
	if err != nil {
		return nil, f.s.internal("reset: update user", err)
	}
	n, err := f.s.st.RevokeSessions(f.ctx, u.ID, now)
	if err != nil {
		return nil, f.s.internal("reset: revoke sessions", err)
	}
	f.audit("password.reset", map[string]string{"sessionsRevoked": fmt.Sprint(n), "factors": strings.Join(f.st.Done, ",")})
	for _, d := range f.s.activeDevices(f.ctx, u.ID) {
		f.s.notice(f.ctx, d.ID, "Your password was reset and every session was signed out.")
	}
	f.s.mailUser(f.ctx, u, "Your password was reset",
		fmt.Sprintf("The password of your %s account %s was reset at %s, and every session was signed out.\n\nIf this was not you, tell your administrator at once.",
			f.s.opts.Org, u.Login, now.UTC().Format(time.RFC1123)))
	return f.succeed(f.st, u)
}

// checkNewPassword applies the policy's password rules.
func (s *Server) checkNewPassword(u store.User, password string) error {
	min := s.opts.Policy.Password.MinLength
	switch {
	case utf8.RuneCountInString(password) < min:
		return apiErr(http.StatusBadRequest, "password_rejected", "the password must have at least %d characters", min)
	case len(password) > maxPasswordLength:
		return apiErr(http.StatusBadRequest, "password_rejected", "the password must have at most %d bytes", maxPasswordLength)
	case u.Login != "" && strings.Contains(strings.ToLower(password), strings.ToLower(strings.Split(u.Login, "@")[0])):
		return apiErr(http.StatusBadRequest, "password_rejected", "the password must not contain the login")
	}
	if u.PasswordHash != "" {
		if same, _ := crypto.VerifyPassword(password, u.PasswordHash); same {
			return apiErr(http.StatusBadRequest, "password_rejected", "the new password must differ from the old one")
		}
	}
	return nil
}

// succeed ends a transaction: a new session for sign-in and recovery.
func (f *flow) succeed(st txState, u store.User) (*sdk.Response, error) {
	now := f.s.now()
	done := st
	done.Step = stepDone
	if _, err := f.s.advance(f.ctx, f.tx, f.st.Gen, done, store.TxSuccess, u.ID); err != nil {
		return nil, err
	}
	u, err := f.s.st.UpdateUser(f.ctx, u.ID, func(u *store.User) error { u.FailedAttempts = 0; return nil })
	if err != nil {
		return nil, f.s.internal("success: load user", err)
	}
	if st.Kind == sdk.KindEnroll {
		return &sdk.Response{Status: sdk.StatusSuccess, Kind: st.Kind, User: u.Login, Message: "The device was added."}, nil
	}
	token := crypto.RandomToken(32)
	sess := store.Session{ID: crypto.HashToken(token), UserID: u.ID, TxID: f.tx.ID, ClientIP: f.tx.ClientIP, UserAgent: f.tx.UserAgent,
		CreatedAt: now, ExpiresAt: now.Add(f.s.opts.SessionTTL)}
	if err := f.s.st.CreateSession(f.ctx, sess); err != nil {
		return nil, f.s.internal("success: store session", err)
	}
	detail := map[string]string{"factors": strings.Join(st.Done, ","), "app": f.tx.App, "kind": st.Kind,
		"risk": st.Risk.Level, "device": st.Device, "network": networkOf(f.tx.ClientIP)}
	if st.Decision != nil {
		detail["rule"] = st.Decision.Rule
	}
	f.s.audit(f.ctx, store.AuditEvent{Type: "signin.success", UserID: u.ID, TxID: f.tx.ID, ClientIP: f.tx.ClientIP, Detail: detail})
	f.s.metrics.signIns.WithLabelValues(st.Kind, "success").Inc()
	return &sdk.Response{Status: sdk.StatusSuccess, Kind: st.Kind, User: u.Login, Session: &sdk.Session{Token: token, ExpiresAt: sess.ExpiresAt}}, nil
}

// end finishes a transaction without success; with err it answers err.
func (f *flow) end(status, reason string, err error) (*sdk.Response, error) {
	done := f.st
	done.Step, done.Reason = stepDone, reason
	if _, aerr := f.s.advance(f.ctx, f.tx, f.st.Gen, done, status, ""); aerr != nil {
		return nil, aerr
	}
	f.cancelPush(f.st, reason)
	f.audit("signin.ended", map[string]string{"reason": reason, "kind": f.st.Kind})
	f.s.metrics.signIns.WithLabelValues(f.st.Kind, "failed").Inc()
	if err != nil {
		return nil, err
	}
	return &sdk.Response{Status: sdk.StatusEnded, Kind: f.st.Kind}, nil
}

// respond renders the state of a transaction for the client.
func (s *Server) respond(ctx context.Context, handle string, tx store.Transaction, st txState) (*sdk.Response, error) {
	exp := tx.ExpiresAt
	resp := &sdk.Response{StateHandle: handle, Status: sdk.StatusActive, ExpiresAt: &exp, Kind: st.Kind}
	f := &flow{s: s, ctx: ctx, tx: tx, st: st}
	u, _, _ := f.user()
	authField := func(opts ...string) sdk.Field {
		return sdk.Field{Name: "authenticator", Options: opts, Required: true}
	}
	passcode := sdk.Field{Name: "passcode", Type: "string", Required: true, Secret: true}
	var selectRem sdk.Remediation
	switch st.Step {
	case stepSelect, stepPush, stepEmail, stepTOTP:
		selectRem = sdk.Remediation{Name: sdk.RemSelectAuth, Fields: []sdk.Field{authField(f.optionsFor(st, u)...)}}
	}
	switch st.Step {
	case stepIdentify:
		login := []sdk.Field{{Name: "login", Type: "string", Required: true}}
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemIdentifyRecovery, Fields: login}}
		if st.Kind == sdk.KindSignIn {
			resp.Remediation = append([]sdk.Remediation{{Name: sdk.RemIdentify, Fields: login}}, resp.Remediation...)
		}
	case stepPassword:
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengeAuth, Fields: []sdk.Field{authField(sdk.AuthPassword), passcode}}}
	case stepSelect:
		resp.Remediation = []sdk.Remediation{selectRem}
	case stepPush:
		resp.Status, resp.Factor, resp.Number = sdk.StatusWaiting, sdk.AuthPush, st.Push.Number
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengePoll}, selectRem}
	case stepEmail:
		resp.Status, resp.Factor = sdk.StatusWaiting, sdk.AuthEmail
		resp.Message = "We sent a link to " + maskEmail(u.Email) + ". Open it to continue; it works once, for 10 minutes."
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengePoll}, selectRem}
	case stepTOTP:
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengeAuth, Fields: []sdk.Field{authField(sdk.AuthTOTP), passcode}}, selectRem}
	case stepEnroll:
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemEnrollAuth}}
		if st.Enroll != nil {
			resp.Status, resp.Factor = sdk.StatusWaiting, "enroll"
			resp.Remediation = []sdk.Remediation{{Name: sdk.RemEnrollPoll}, {Name: sdk.RemEnrollAuth}}
		}
	case stepProfile:
		var fields []sdk.Field
		for _, attr := range f.missingProfile(u) {
			fields = append(fields, sdk.Field{Name: attr, Type: "string", Required: true})
		}
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemEnrollProfile, Fields: fields}}
	case stepReset:
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemResetAuth, Fields: []sdk.Field{authField(sdk.AuthPassword), passcode}}}
	}
	return resp, nil
}

// maskEmail shows enough of an address to recognise it.
func maskEmail(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "your email address"
	}
	return local[:1] + "•••@" + domain
}

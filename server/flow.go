package server

import (
	"context"
	"encoding/json"
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
	// userID, once identify has found the user, is recorded with the next
	// state stored.
	userID string
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
	case stepTOTP, stepWebAuthn, stepSameDevice:
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
func (f *flow) move(next txState) (*sdk.Response, error) {
	tx, err := f.s.advance(f.ctx, f.tx, f.st.Gen, next, store.TxActive, f.userID)
	if err != nil {
		return nil, err
	}
	f.tx, f.st = tx, next
	return f.s.respond(f.ctx, f.handle, tx, next)
}

func (f *flow) audit(typ string, detail map[string]string) {
	f.s.audit(f.ctx, store.AuditEvent{Type: typ, UserID: f.tx.UserID, TxID: f.tx.ID, ClientIP: f.meta.ip, Detail: detail})
}

// unknownUser stands in for a login that names nobody, so that the work
// done (and the time it takes) is the same as for a real user.
var unknownUser = store.User{ID: "usr_unknown", Risk: policy.RiskLow}

func (f *flow) identify(login, kind string) (*sdk.Response, error) {
	if err := f.s.allowRequest(f.meta.ip); err != nil {
		return nil, err
	}
	login = NormalizeLogin(login)
	if login == "" || len(login) > maxLoginLength {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "login is required (at most %d bytes)", maxLoginLength)
	}
	u, err := f.s.st.GetUserByLogin(f.ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, f.s.internal("identify: load user", err)
	}
	known := err == nil && u.Status == store.UserActive
	if !known {
		u = store.User{}
	}
	next := f.identified(kind, login, u, known)
	switch kind {
	case sdk.KindSignIn:
		next.Step = stepPassword
		if next.Decision.Passwordless() {
			next.Step = stepSelect
		}
		if known && next.Session != "" {
			if ok, err := f.reuse(&next, u); err != nil {
				return nil, err
			} else if ok {
				return f.next(next, u)
			}
		}
	case sdk.KindRecovery:
		next.Step = stepSelect
		f.tx.Kind = sdk.KindRecovery
	}
	return f.move(next)
}

// identified is the state of a transaction once it knows its login: the
// risk assessed and the sign-on rule chosen (also for an unknown login,
// weighed as a user with no history and no groups).
func (f *flow) identified(kind, login string, u store.User, known bool) txState {
	subject := u
	if !known {
		subject = unknownUser
	}
	next := txState{Kind: kind, Gen: f.st.Gen, Login: login, Device: f.st.Device, Known: known, Session: f.st.Session,
		Level: f.st.Level, AuthAfter: f.st.AuthAfter}
	// Whether the login exists is not revealed: an unknown one is weighed
	// and audited the same way, goes on to the same next step, and fails
	// there like a wrong password.
	next.Risk = f.s.assessRisk(f.ctx, subject, f.meta.ip, f.st.Device)
	f.s.audit(f.ctx, store.AuditEvent{Type: "risk.assessed", UserID: u.ID, TxID: f.tx.ID, ClientIP: f.meta.ip,
		Detail: map[string]string{"risk": next.Risk.Level, "reasons": strings.Join(next.Risk.Reasons, "; "), "kind": kind}})
	d := f.s.opts.Policy.SignOnFor(policy.Input{
		App: f.tx.App, Groups: u.Groups, IP: net.ParseIP(f.meta.ip), Risk: next.Risk.Level,
		NewDevice: slices.Contains(next.Risk.Reasons, "new device"),
	})
	if a, ok := levelAction(next.Level); ok && !d.Deny {
		// The caller asked for more than the rule: the stricter of both.
		d.Action, d.Rule = d.Action.Stricter(a), d.Rule+" (and level "+next.Level+")"
	}
	next.Decision = &d
	f.userID = u.ID
	return next
}

// reuse counts the factors of the session given at interact, when it is
// still good, is the user's, and the rule lets a session stand in for a
// sign-in (re-authentication frequency, counted from the session's
// original authentication, not from its last reuse).
func (f *flow) reuse(st *txState, u store.User) (bool, error) {
	sess, su, err := f.s.loadSession(f.ctx, st.Session)
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status >= 500 {
			return false, err
		}
		f.audit("session.refused", map[string]string{"reason": "revoked, expired or its user disabled"})
		return false, nil
	}
	d := st.Decision
	if su.ID != u.ID || d.Deny || d.Reauthenticate <= 0 || f.s.now().Sub(sess.AuthTime) >= d.Reauthenticate ||
		sess.AuthTime.Before(st.AuthAfter) {
		return false, nil
	}
	fs := authsOf(sess.AMR)
	if len(fs.Done) == 0 {
		return false, nil
	}
	st.Done, st.UV, st.PRUV, st.HWK, st.Reused, st.AuthTime = fs.Done, fs.UV, fs.PRUV, fs.HWK, sess.ID, sess.AuthTime
	f.s.audit(f.ctx, store.AuditEvent{Type: "signin.session_reused", UserID: u.ID, TxID: f.tx.ID, ClientIP: f.meta.ip,
		Detail: map[string]string{"rule": d.Rule, "from": sess.App, "amr": strings.Join(sess.AMR, " ")}})
	return true, nil
}

var errBadCredentials = apiErr(http.StatusUnauthorized, "invalid_credentials", "login or password is wrong")

func (f *flow) challenge(req sdk.Request) (*sdk.Response, error) {
	switch {
	case f.st.Step == stepPassword && req.Authenticator == sdk.AuthPassword:
		return f.checkPassword(req.Passcode)
	case f.st.Step == stepTOTP && req.Authenticator == sdk.AuthTOTP:
		return f.checkTOTP(req.Passcode)
	case f.st.Step == stepWebAuthn && req.Authenticator == sdk.AuthWebAuthn:
		return f.checkPasskey(req.Credential)
	case f.st.Step == stepSameDevice && req.Authenticator == sdk.AuthSameDevice:
		return f.checkSameDevice(req.Proof)
	}
	want := sdk.AuthPassword
	switch f.st.Step {
	case stepTOTP, stepWebAuthn, stepSameDevice:
		want = f.st.Step
	}
	return nil, apiErr(http.StatusBadRequest, "bad_request", "authenticator must be %q at this step", want)
}

// guess is what a password or code check of this transaction is counted
// against.
func (f *flow) guess() guess {
	newDevice := slices.Contains(f.st.Risk.Reasons, "new device")
	g := guess{ip: f.meta.ip, login: f.st.Login,
		familiar: f.st.Known && (!newDevice || !slices.Contains(f.st.Risk.Reasons, "new network"))}
	if f.st.Known && !newDevice && f.st.Device != "" {
		g.device = f.st.Device
	}
	return g
}

func (f *flow) checkPassword(password string) (*sdk.Response, error) {
	if len(password) > maxPasswordLength {
		return nil, errBadCredentials
	}
	u, known, err := f.user()
	if err != nil {
		return nil, err
	}
	// The guess is counted before the password is checked, so that
	// parallel guesses cannot pass the limit.
	g := f.guess()
	if err := f.s.chargeGuess(f.ctx, g); err != nil {
		f.audit("signin.throttled", nil)
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
	if !known || !ok {
		f.audit("signin.password_failed", nil)
		return nil, errBadCredentials
	}
	f.s.clearGuesses(f.ctx, g)
	f.audit("signin.password_ok", nil)
	next := f.st
	next.Done = append(slices.Clone(next.Done), sdk.AuthPassword)
	return f.next(next, u)
}

// next decides where a transaction goes once a factor is passed.
func (f *flow) next(st txState, u store.User) (*sdk.Response, error) {
	switch st.Kind {
	case sdk.KindSignIn:
		return f.signInNext(st, u)
	case sdk.KindRecovery:
		if st.Reset {
			// The password is new; now the app's own rule decides what
			// the sign-in still needs beyond the recovery's factors.
			return f.signInNext(st, u)
		}
		need := 1
		if f.s.opts.Policy.Recovery.SecondAuthenticator {
			need = 2
		}
		if len(st.Done) >= need {
			st.Step = stepReset
			return f.move(st)
		}
		st.Step = stepSelect
		return f.move(st)
	case sdk.KindEnroll:
		if st.Step == stepEnroll {
			return f.succeed(st, u)
		}
		if err := f.s.enterEnroll(f.ctx, u, &st); err != nil {
			return nil, err
		}
		return f.move(st)
	}
	return nil, errInternal
}

// enterEnroll moves an enroll transaction to adding the device or passkey;
// a passkey's registration options are made now.
func (s *Server) enterEnroll(ctx context.Context, u store.User, st *txState) error {
	st.Step = stepEnroll
	st.Passkey, st.SameDevice = nil, nil
	if st.EnrollFactor != sdk.AuthWebAuthn {
		return nil
	}
	uv := policy.UVPreferred
	opts, session, err := s.beginPasskeyRegistration(ctx, u, uv)
	if err != nil {
		return err
	}
	st.Passkey = &passkeyState{Options: opts, Session: session}
	return nil
}

var errEnrollmentRequired = apiErr(http.StatusForbidden, "enrollment_required",
	"this sign-in needs an Assent device, and this account has none; ask an administrator for an enrollment link")

// signInNext asks for what the app's rule still needs, or signs in.
func (f *flow) signInNext(st txState, u store.User) (*sdk.Response, error) {
	d := st.Decision
	if d == nil {
		return nil, errInternal
	}
	if d.Deny {
		f.audit("signin.denied", map[string]string{"rule": d.Rule})
		return f.end(store.TxFailed, "denied by rule "+d.Rule,
			apiErr(http.StatusForbidden, "access_denied", "sign-in to this app is not allowed here (rule %q); ask your administrator", d.Rule))
	}
	if factorsMeet(d, st.factors()) {
		if missing := f.missingProfile(u); len(missing) > 0 {
			st.Step = stepProfile
			return f.move(st)
		}
		return f.succeed(st, u)
	}
	if !hasKnowledge(d, st.factors()) && (d.Factors >= 2 || !d.Possession) {
		st.Step = stepPassword
		return f.move(st)
	}
	// A possession factor is missing.
	st.Push, st.Email, st.Passkey, st.SameDevice = nil, nil, nil, nil
	if len(f.optionsFor(st, u)) > 0 {
		st.Step = stepSelect
		return f.move(st)
	}
	if f.s.opts.Policy.Enrollment.SelfService && st.Known && !f.s.hasDevice(f.ctx, u.ID) {
		st.Step = stepEnroll
		return f.move(st)
	}
	return nil, errEnrollmentRequired
}

// optionsFor lists the authenticators the person may choose now. Before a
// factor is passed the list is what the policy allows and the server can
// do, the same for every login, existing or not, with a device or
// without; after, it is what this account has.
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
		if st.Reset && st.Decision != nil {
			allowed = st.Decision.Authenticators
		}
	case sdk.KindEnroll:
		allowed = []string{sdk.AuthPush, sdk.AuthTOTP, sdk.AuthWebAuthn}
	}
	proven := st.proven()
	hasDev := proven && st.Known && f.s.hasDevice(f.ctx, u.ID)
	signIn := st.Kind == sdk.KindSignIn || st.Reset
	var out []string
	for _, a := range allowed {
		// A factor passed without the person's verification may be asked
		// again where the rule now wants it (a level stepped up to).
		uvWanted := signIn && st.Decision != nil && st.Decision.UserVerification == policy.UVRequired
		redo := uvWanted && ((a == sdk.AuthPush && !st.UV) || (phishingResistant(a) && !st.PRUV))
		if st.done(a) && !redo {
			continue
		}
		if signIn && st.Decision != nil && !allows(st.Decision, a) {
			continue
		}
		switch a {
		case sdk.AuthPush, sdk.AuthTOTP:
			if hasDev || !proven {
				out = append(out, a)
			}
		case sdk.AuthSameDevice:
			// Only a browser can ask the app, and only in a sign-in.
			if (hasDev || !proven) && st.Kind == sdk.KindSignIn {
				out = append(out, a)
			}
		case sdk.AuthWebAuthn:
			if f.s.passkeysOn() && (!proven || (st.Known && f.s.hasPasskey(f.ctx, u.ID))) {
				out = append(out, a)
			}
		case sdk.AuthEmail:
			if f.s.opts.Mailer != nil && (!proven || u.Email != "") {
				out = append(out, a)
			}
		}
	}
	if st.Kind == sdk.KindSignIn && st.Decision.Passwordless() && !proven {
		// Someone without a device signs in with the password, then enrolls.
		out = append(out, sdk.AuthPassword)
	}
	return out
}

func (f *flow) selectAuthenticator(auth string) (*sdk.Response, error) {
	u, known, err := f.user()
	if err != nil {
		return nil, err
	}
	opts := f.optionsFor(f.st, u)
	if !slices.Contains(opts, auth) {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "authenticator must be one of: %s", strings.Join(opts, ", "))
	}
	next := f.st
	next.Push, next.Email, next.Passkey, next.SameDevice = nil, nil, nil, nil
	f.cancelPush(f.st, "a new authenticator was chosen")
	// Work for the background starts once the state that waits for it is
	// stored.
	var later func()
	switch auth {
	case sdk.AuthPassword:
		next.Step = stepPassword
	case sdk.AuthPush:
		if f.meta.noNumber && f.pushRequest(u).NumberChallenge {
			return nil, apiErr(http.StatusForbidden, "number_challenge_unavailable",
				"the sign-on rule wants a number challenge, and this client cannot show the number; use a code, or a client that shows messages")
		}
		var ps *pushState
		if f.st.proven() {
			ps, err = f.sendPush(u)
		} else {
			ps, later = f.sendPushQuietly(u, known)
		}
		if err != nil {
			return nil, err
		}
		next.Push, next.Step = ps, stepPush
	case sdk.AuthTOTP:
		next.Step = stepTOTP
	case sdk.AuthWebAuthn:
		// Before a factor, the options name no credential (they would say
		// whether the login has passkeys); the assertion then has to be
		// one of this user's.
		var who *store.User
		if f.st.proven() && known {
			who = &u
		}
		opts, session, err := f.s.beginPasskeyLogin(f.ctx, who, f.uvWanted())
		if err != nil {
			return nil, err
		}
		next.Passkey, next.Step = &passkeyState{Options: opts, Session: session}, stepWebAuthn
	case sdk.AuthSameDevice:
		sd, err := f.sameDeviceChallenge()
		if err != nil {
			return nil, err
		}
		next.SameDevice, next.Step = sd, stepSameDevice
	case sdk.AuthEmail:
		es, send, err := f.sendMagicLink(u, known, !f.st.proven())
		if err != nil {
			return nil, err
		}
		next.Email, next.Step, later = es, stepEmail, send
	}
	resp, err := f.move(next)
	if err == nil && later != nil {
		later()
	}
	return resp, err
}

// ErrPushLimited means the MFA-fatigue guard stopped a push.
var errPushLimited = apiErr(http.StatusTooManyRequests, "push_limited",
	"too many pushes went unanswered lately, so no more are sent for now; use a code from the Assent app instead")

// pushRequest is the push this transaction sends now.
func (f *flow) pushRequest(u store.User) PushRequest {
	kind, numberChallenge, uv := push.KindSignIn, true, push.UVPreferred
	switch f.st.Kind {
	case sdk.KindSignIn:
		numberChallenge = f.st.Decision.NumberChallengeFor(f.st.Risk.Level)
		uv = f.st.Decision.UserVerification
	case sdk.KindRecovery:
		kind = push.KindRecovery
		if f.st.Reset {
			kind = push.KindSignIn
			numberChallenge = f.st.Decision.NumberChallengeFor(f.st.Risk.Level)
			uv = f.st.Decision.UserVerification
		}
	case sdk.KindEnroll:
		kind = push.KindEnroll
	}
	return PushRequest{
		TxID: f.tx.ID, User: u, Kind: kind, NumberChallenge: numberChallenge, UserVerification: uv,
		Context: push.ChallengeContext{App: f.tx.App, ClientIP: f.tx.ClientIP, UserAgent: f.tx.UserAgent,
			Risk: f.st.Risk.Level, RiskReasons: f.st.Risk.Reasons},
	}
}

// sendPush sends a push once a factor is passed: the answer may say it
// was refused (the fatigue guard, no device).
func (f *flow) sendPush(u store.User) (*pushState, error) {
	if err := f.s.chargePush(f.ctx, u.ID); err != nil {
		if errors.Is(err, errPushLimited) {
			f.audit("push.limited", map[string]string{"window": f.s.opts.Policy.Push.Window.String()})
		}
		return nil, err
	}
	req := f.pushRequest(u)
	res, err := f.s.SendPush(f.ctx, req)
	if err != nil {
		if errors.Is(err, ErrDeviceUnreachable) {
			// Nothing reached the user: no fatigue budget spent.
			f.s.refundPush(f.ctx, u.ID)
			f.audit("push.unreachable", nil)
		}
		return nil, err
	}
	return &pushState{ChallengeIDs: res.ChallengeIDs, Number: res.Number, ExpiresAt: res.ExpiresAt, UV: req.UserVerification}, nil
}

// sendPushQuietly is the push chosen before any factor (recovery, a
// passwordless sign-in): the answer is the same whoever the login names
// and whether or not a push can go, so the push is sent in the
// background, where its limits apply unseen.
func (f *flow) sendPushQuietly(u store.User, known bool) (*pushState, func()) {
	req := f.pushRequest(u)
	if req.NumberChallenge {
		req.Numbers, req.Correct = pickNumbers()
	}
	subject := u.ID
	if !known {
		subject = unknownUser.ID
	}
	req.Devices = f.s.activeDevices(f.ctx, subject)
	for range req.Devices {
		req.IDs = append(req.IDs, newID("chl_"))
	}
	ps := &pushState{ChallengeIDs: req.IDs, Number: req.Correct, ExpiresAt: f.s.now().Add(f.s.opts.Policy.Push.Expiry),
		UV: req.UserVerification, Quiet: true}
	if !known || len(req.Devices) == 0 {
		return ps, nil
	}
	ip, login, txID := f.meta.ip, f.st.Login, f.tx.ID
	return ps, func() { f.s.background(func(ctx context.Context) { f.s.quietPush(ctx, req, ip, login, txID) }) }
}

// quietPush sends a push that no answer waits on: recovery pushes only
// from a source that is not being throttled, every push within the
// user's budget; what was not sent goes to the audit log.
func (s *Server) quietPush(ctx context.Context, req PushRequest, ip, login, txID string) {
	limited := func(reason string) {
		s.audit(ctx, store.AuditEvent{Type: "push.limited", UserID: req.User.ID, TxID: txID, ClientIP: ip,
			Detail: map[string]string{"reason": reason, "kind": req.Kind}})
	}
	if req.Kind == push.KindRecovery {
		if ok, why := s.chargeRecoveryPush(ctx, ip, login); !ok {
			limited(why)
			return
		}
	}
	if err := s.chargePush(ctx, req.User.ID); err != nil {
		limited("too many unanswered pushes")
		return
	}
	if _, err := s.SendPush(ctx, req); err != nil {
		if errors.Is(err, ErrDeviceUnreachable) {
			// Nothing reached the user: no fatigue budget spent (as in
			// sendPush).
			s.refundPush(ctx, req.User.ID)
		}
		s.log.Warn("push in the background failed", "user", req.User.ID, "err", err)
		return
	}
	// If the transaction moved on meanwhile, nobody waits for it.
	tx, err := s.st.GetTransaction(ctx, txID)
	var st txState
	if err == nil && tx.Status == store.TxActive && json.Unmarshal(tx.Data, &st) == nil && st.Push != nil &&
		len(st.Push.ChallengeIDs) > 0 && len(req.IDs) > 0 && st.Push.ChallengeIDs[0] == req.IDs[0] {
		return
	}
	for _, id := range req.IDs {
		s.cancelChallenge(ctx, id, "the sign-in moved on")
	}
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
			if _, err := f.move(back); err != nil {
				return nil, err
			}
			return nil, apiErr(http.StatusRequestTimeout, "email_expired", "the link in the email was not opened in time; send another or choose another way")
		}
		return f.s.respond(f.ctx, f.handle, f.tx, f.st)
	}
	var cs []store.Challenge
	lost := 0
	for _, id := range f.st.Push.ChallengeIDs {
		c, err := f.s.st.GetChallenge(f.ctx, id)
		if errors.Is(err, store.ErrNotFound) && f.st.Push.Quiet {
			continue // a push in the background that is not (or never) out
		} else if errors.Is(err, store.ErrNotFound) {
			// Sent, and gone: a single node lost it, unanswered, in a
			// crash (pending pushes live in its memory).
			lost++
			continue
		} else if err != nil {
			return nil, f.s.internal("poll: load challenge", err)
		}
		cs = append(cs, c)
	}
	// A push nobody could be sent "waits" like any other.
	pending := len(cs)+lost < len(f.st.Push.ChallengeIDs) || len(cs)+lost == 0
	pending = pending && now.Before(f.st.Push.ExpiresAt)
	reason := store.ChallengeExpired
	for _, c := range cs {
		switch c.Status {
		case store.ChallengeApproved:
			next := f.st
			next.Done = append(slices.Clone(next.Done), sdk.AuthPush)
			next.UV = next.UV || c.UV
			next.Push = nil
			f.s.audit(f.ctx, store.AuditEvent{Type: "factor.push_ok", UserID: f.tx.UserID, DeviceID: c.DeviceID, TxID: f.tx.ID,
				ChallengeID: c.ID, ClientIP: f.meta.ip, Detail: map[string]string{"uv": fmt.Sprint(c.UV)}})
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
		if _, err := f.move(back); err != nil {
			return nil, err
		}
		return nil, apiErr(http.StatusForbidden, "push_denied", "the push was denied on the device; send another or use a code")
	case store.ChallengeFailed:
		if _, err := f.move(back); err != nil {
			return nil, err
		}
		return nil, apiErr(http.StatusForbidden, "wrong_number", "the push was not approved: a wrong number was picked or the device did not verify its user; send another push")
	}
	if _, err := f.move(back); err != nil {
		return nil, err
	}
	if lost > 0 && len(cs) == 0 {
		return nil, apiErr(http.StatusGone, "push_lost", "the push was lost when the server restarted; send another or use a code")
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
	// Counted before the check, like a password.
	g := f.guess()
	if err := f.s.chargeGuess(f.ctx, g); err != nil {
		f.audit("signin.throttled", nil)
		return nil, err
	}
	if !known {
		u = unknownUser
	}
	d, err := f.s.verifyTOTP(f.ctx, u, code)
	switch {
	case errors.Is(err, errCodeUsed):
		f.s.audit(f.ctx, store.AuditEvent{Type: "totp.replayed", UserID: u.ID, DeviceID: d.ID, TxID: f.tx.ID, ClientIP: f.meta.ip})
		return nil, errCodeUsed
	case errors.Is(err, errBadCode):
		f.audit("totp.refused", nil)
		return nil, errBadCode
	case err != nil:
		return nil, err
	}
	f.s.clearGuesses(f.ctx, g)
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
		resp, err := f.move(next)
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
			if _, err := f.move(next); err != nil {
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
	next.Enroll = nil
	if next.Kind != sdk.KindEnroll {
		// Signing in, the new device proved its key when it enrolled: that
		// is the possession factor.
		next.Done = append(slices.Clone(next.Done), authEnrolled)
	}
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
// user and tells them; then the transaction signs in to its app, with the
// recovery's factors counted and the app's rule asking for the rest.
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
	f.s.clearAccount(f.ctx, u.Login)
	f.audit("password.reset", map[string]string{"sessionsRevoked": fmt.Sprint(n), "factors": strings.Join(f.st.Done, ",")})
	for _, d := range f.s.activeDevices(f.ctx, u.ID) {
		f.s.notice(f.ctx, d.ID, "Your password was reset and every session was signed out.")
	}
	f.s.mailUser(f.ctx, u, "Your password was reset",
		fmt.Sprintf("The password of your %s account %s was reset at %s, and every session was signed out.\n\nIf this was not you, tell your administrator at once.",
			f.s.opts.Org, u.Login, now.UTC().Format(time.RFC1123)))
	next := f.st
	next.Reset = true
	return f.next(next, u)
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

// succeed ends a transaction: a new session for sign-in and recovery,
// carrying its app, its factors, and its original authentication time.
func (f *flow) succeed(st txState, u store.User) (*sdk.Response, error) {
	now := f.s.now()
	// What the session will claim is checked once more here: the user is
	// still active, and a session whose factors were counted still good.
	u, err := f.s.st.GetUser(f.ctx, u.ID)
	if err != nil || u.Status != store.UserActive {
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, f.s.internal("success: load user", err)
		}
		return f.end(store.TxFailed, "user not active", errTxEnded)
	}
	if st.Reused != "" {
		if _, su, err := f.s.loadSession(f.ctx, st.Reused); err != nil || su.ID != u.ID {
			return f.end(store.TxFailed, "session no longer valid", errSession)
		}
	}
	done := st
	done.Step = stepDone
	if _, err := f.s.advance(f.ctx, f.tx, f.st.Gen, done, store.TxSuccess, u.ID); err != nil {
		return nil, err
	}
	if st.Kind == sdk.KindEnroll {
		msg := "The device was added."
		if st.EnrollFactor == sdk.AuthWebAuthn {
			msg = "The passkey was added."
		}
		return &sdk.Response{Status: sdk.StatusSuccess, Kind: st.Kind, User: u.Login, Message: msg}, nil
	}
	if f.meta.noSession {
		// A front that makes no use of a session (RADIUS) gets the
		// answer alone.
		f.s.audit(f.ctx, store.AuditEvent{Type: "signin.success", UserID: u.ID, TxID: f.tx.ID, ClientIP: f.tx.ClientIP,
			Detail: map[string]string{"factors": strings.Join(st.Done, ","), "amr": strings.Join(amrFor(st.factors()), " "),
				"app": f.tx.App, "kind": st.Kind, "risk": st.Risk.Level, "device": st.Device, "network": networkOf(f.tx.ClientIP)}})
		f.s.metrics.signIns.WithLabelValues(st.Kind, "success").Inc()
		return &sdk.Response{Status: sdk.StatusSuccess, Kind: st.Kind, User: u.Login}, nil
	}
	authTime := now
	if st.Reused != "" && !st.AuthTime.IsZero() {
		authTime = st.AuthTime
	}
	token := crypto.RandomToken(32)
	sess := store.Session{ID: crypto.HashToken(token), UserID: u.ID, TxID: f.tx.ID, ClientIP: f.tx.ClientIP, UserAgent: f.tx.UserAgent,
		App: f.tx.App, AMR: amrFor(st.factors()), AuthTime: authTime, Risk: st.Risk.Level,
		CreatedAt: now, ExpiresAt: now.Add(f.s.opts.SessionTTL)}
	if err := f.s.st.CreateSession(f.ctx, sess); err != nil {
		return nil, f.s.internal("success: store session", err)
	}
	detail := map[string]string{"factors": strings.Join(st.Done, ","), "amr": strings.Join(sess.AMR, " "), "app": f.tx.App, "kind": st.Kind,
		"risk": st.Risk.Level, "device": st.Device, "network": networkOf(f.tx.ClientIP)}
	if st.Decision != nil {
		detail["rule"] = st.Decision.Rule
	}
	if st.Reused != "" {
		detail["reused"] = "true"
	}
	f.s.audit(f.ctx, store.AuditEvent{Type: "signin.success", UserID: u.ID, TxID: f.tx.ID, ClientIP: f.tx.ClientIP, Detail: detail})
	f.s.metrics.signIns.WithLabelValues(st.Kind, "success").Inc()
	return &sdk.Response{Status: sdk.StatusSuccess, Kind: st.Kind, User: u.Login, Session: &sdk.Session{Token: token, ExpiresAt: sess.ExpiresAt}}, nil
}

// end finishes a transaction without success; with err it answers err.
func (f *flow) end(status, reason string, err error) (*sdk.Response, error) {
	done := f.st
	done.Step, done.Reason = stepDone, reason
	if _, aerr := f.s.advance(f.ctx, f.tx, f.st.Gen, done, status, f.userID); aerr != nil {
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
	case stepSelect, stepPush, stepEmail, stepTOTP, stepWebAuthn, stepSameDevice:
		selectRem = sdk.Remediation{Name: sdk.RemSelectAuth, Fields: []sdk.Field{authField(f.optionsFor(st, u)...)}}
	}
	switch st.Step {
	case stepIdentify:
		login := []sdk.Field{{Name: "login", Type: "string", Required: true}}
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemIdentifyRecovery, Fields: login}}
		if st.Kind == sdk.KindSignIn {
			identify := login
			if st.Passkey != nil {
				// Or a passkey instead of a login.
				identify = []sdk.Field{{Name: "login", Type: "string"}, {Name: "credential", Type: "object"}}
				resp.WebAuthn = st.Passkey.Options
			}
			resp.Remediation = append([]sdk.Remediation{{Name: sdk.RemIdentify, Fields: identify}}, resp.Remediation...)
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
		if st.Email.Quiet {
			// Before a factor is passed, nothing says whether an address
			// exists.
			resp.Message = "If this account has an email address, a link was sent to it. Open it to continue; it works once, for 10 minutes."
		} else {
			resp.Message = "We sent a link to " + maskEmail(u.Email) + ". Open it to continue; it works once, for 10 minutes."
		}
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengePoll}, selectRem}
	case stepTOTP:
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengeAuth, Fields: []sdk.Field{authField(sdk.AuthTOTP), passcode}}, selectRem}
	case stepWebAuthn:
		resp.Factor, resp.WebAuthn = sdk.AuthWebAuthn, st.Passkey.Options
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengeAuth, Fields: []sdk.Field{authField(sdk.AuthWebAuthn),
			{Name: "credential", Type: "object", Required: true}}}, selectRem}
	case stepSameDevice:
		resp.Factor, resp.SameDevice = sdk.AuthSameDevice, st.SameDevice.JWS
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengeAuth, Fields: []sdk.Field{authField(sdk.AuthSameDevice),
			{Name: "proof", Type: "string", Required: true}}}, selectRem}
	case stepEnroll:
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemEnrollAuth}}
		if st.EnrollFactor == sdk.AuthWebAuthn && st.Passkey != nil {
			resp.Factor, resp.WebAuthn = sdk.AuthWebAuthn, st.Passkey.Options
			resp.Remediation = []sdk.Remediation{{Name: sdk.RemEnrollAuth, Fields: []sdk.Field{authField(sdk.AuthWebAuthn),
				{Name: "credential", Type: "object", Required: true}, {Name: "name", Type: "string"}}}}
			break
		}
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
	if st.Reset && st.Step == stepPassword {
		resp.Message = "Your password was reset. Sign in with the new password to continue."
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

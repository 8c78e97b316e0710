package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/store"
)

const (
	txTTL             = 15 * time.Minute
	maxLoginLength    = 256
	maxPasswordLength = 1024
)

// Steps of a sign-in transaction.
const (
	stepIdentify = "identify"
	stepPassword = "password"
	stepSelect   = "select"
	stepPush     = "push"
	stepTOTP     = "totp"
	stepDone     = "done"
)

// txState is the engine's state of a transaction, kept as JSON in the store
// so that any node can continue it.
type txState struct {
	Step   string     `json:"step"`
	Login  string     `json:"login,omitempty"`
	Push   *pushState `json:"push,omitempty"`
	Risk   string     `json:"risk,omitempty"`
	Reason string     `json:"reason,omitempty"`
}

type pushState struct {
	ChallengeIDs []string  `json:"challengeIds"`
	Number       int       `json:"number,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
}

var errTxEnded = apiErr(http.StatusGone, "transaction_ended", "this sign-in has ended or expired; start again with interact")

func (s *Server) handleIDX(w http.ResponseWriter, r *http.Request) {
	var req sdk.Request
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	meta := reqMeta{ip: clientIP(r), userAgent: truncate(r.UserAgent(), 256)}
	var resp *sdk.Response
	var err error
	name := r.PathValue("remediation")
	if name == "interact" {
		resp, err = s.interact(r.Context(), req, meta)
	} else {
		resp, err = s.remediate(r.Context(), name, req, meta)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

type reqMeta struct{ ip, userAgent string }

func (s *Server) interact(ctx context.Context, req sdk.Request, meta reqMeta) (*sdk.Response, error) {
	app := req.App
	if app == "" {
		app = "assent"
	}
	if len(app) > 64 {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "app name is over 64 bytes")
	}
	handle := crypto.RandomToken(32)
	now := s.now()
	st := txState{Step: stepIdentify}
	data, _ := json.Marshal(st)
	tx := store.Transaction{
		ID: crypto.HashToken(handle), App: app, Kind: push.KindSignIn, Status: store.TxActive, Data: data,
		ClientIP: meta.ip, UserAgent: meta.userAgent, CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(txTTL),
	}
	if err := s.st.CreateTransaction(ctx, tx); err != nil {
		return nil, s.internal("interact: store transaction", err)
	}
	return s.respond(ctx, handle, tx, st)
}

// remediate runs one step of an existing transaction.
func (s *Server) remediate(ctx context.Context, name string, req sdk.Request, meta reqMeta) (*sdk.Response, error) {
	if req.StateHandle == "" {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "stateHandle is required")
	}
	tx, st, err := s.loadTx(ctx, req.StateHandle)
	if err != nil {
		return nil, err
	}
	allowed := remediationsFor(st.Step)
	if name != sdk.RemCancel && !slices.Contains(allowed, name) {
		if !slices.Contains([]string{sdk.RemIdentify, sdk.RemChallengeAuth, sdk.RemSelectAuth, sdk.RemChallengePoll}, name) {
			return nil, apiErr(http.StatusNotFound, "unknown_remediation", "no remediation named %q", truncate(name, 64))
		}
		return nil, apiErr(http.StatusBadRequest, "remediation_not_available", "%s is not available now; next: %s", name, strings.Join(allowed, ", "))
	}
	switch name {
	case sdk.RemCancel:
		return s.finish(ctx, req.StateHandle, tx, st, store.TxFailed, "cancelled")
	case sdk.RemIdentify:
		return s.identify(ctx, req, tx, st)
	case sdk.RemChallengeAuth:
		switch {
		case st.Step == stepPassword && req.Authenticator == sdk.AuthPassword:
			return s.checkPassword(ctx, req, tx, st, meta)
		case st.Step == stepTOTP && req.Authenticator == sdk.AuthTOTP:
			return s.checkTOTP(ctx, req, tx, st, meta)
		}
		want := sdk.AuthPassword
		if st.Step == stepTOTP {
			want = sdk.AuthTOTP
		}
		return nil, apiErr(http.StatusBadRequest, "bad_request", "authenticator must be %q at this step", want)
	case sdk.RemSelectAuth:
		return s.selectAuthenticator(ctx, req, tx, st, meta)
	case sdk.RemChallengePoll:
		return s.poll(ctx, req, tx, st)
	}
	return nil, errInternal
}

func remediationsFor(step string) []string {
	switch step {
	case stepIdentify:
		return []string{sdk.RemIdentify}
	case stepPassword:
		return []string{sdk.RemChallengeAuth}
	case stepSelect:
		return []string{sdk.RemSelectAuth}
	case stepPush:
		return []string{sdk.RemChallengePoll, sdk.RemSelectAuth}
	case stepTOTP:
		return []string{sdk.RemChallengeAuth, sdk.RemSelectAuth}
	}
	return nil
}

func (s *Server) loadTx(ctx context.Context, handle string) (store.Transaction, txState, error) {
	tx, err := s.st.GetTransaction(ctx, crypto.HashToken(handle))
	if errors.Is(err, store.ErrNotFound) {
		return tx, txState{}, apiErr(http.StatusNotFound, "invalid_state_handle", "no sign-in with that stateHandle; start again with interact")
	} else if err != nil {
		return tx, txState{}, s.internal("load transaction", err)
	}
	if tx.Status != store.TxActive || !s.now().Before(tx.ExpiresAt) {
		return tx, txState{}, errTxEnded
	}
	var st txState
	if err := json.Unmarshal(tx.Data, &st); err != nil {
		return tx, txState{}, s.internal("decode transaction", err)
	}
	return tx, st, nil
}

// errStepMoved means a concurrent request moved the transaction on.
var errStepMoved = apiErr(http.StatusConflict, "state_changed", "this sign-in moved on in another request; continue from its latest answer")

// advance stores a new state if the transaction is still at step from.
// A non-empty userID records whom the transaction is about.
func (s *Server) advance(ctx context.Context, tx store.Transaction, from string, st txState, status, userID string) (store.Transaction, error) {
	data, _ := json.Marshal(st)
	now := s.now()
	tx, err := s.st.UpdateTransaction(ctx, tx.ID, func(t *store.Transaction) error {
		var cur txState
		if err := json.Unmarshal(t.Data, &cur); err != nil || cur.Step != from || t.Status != store.TxActive {
			return errStepMoved
		}
		t.Data, t.UpdatedAt, t.Status = data, now, status
		if userID != "" {
			t.UserID = userID
		}
		return nil
	})
	if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return tx, err
		}
		return tx, s.internal("update transaction", err)
	}
	return tx, nil
}

// respond renders the state of a transaction for the client.
func (s *Server) respond(ctx context.Context, handle string, tx store.Transaction, st txState) (*sdk.Response, error) {
	exp := tx.ExpiresAt
	resp := &sdk.Response{StateHandle: handle, Status: sdk.StatusActive, ExpiresAt: &exp}
	switch st.Step {
	case stepIdentify:
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemIdentify, Fields: []sdk.Field{{Name: "login", Type: "string", Required: true}}}}
	case stepPassword:
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengeAuth, Fields: []sdk.Field{
			{Name: "authenticator", Options: []string{sdk.AuthPassword}, Required: true},
			{Name: "passcode", Type: "string", Required: true, Secret: true}}}}
	case stepSelect:
		resp.Remediation = []sdk.Remediation{s.selectRemediation(ctx, tx.UserID)}
	case stepPush:
		resp.Status = sdk.StatusWaiting
		resp.Number = st.Push.Number
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengePoll}, s.selectRemediation(ctx, tx.UserID)}
	case stepTOTP:
		resp.Remediation = []sdk.Remediation{{Name: sdk.RemChallengeAuth, Fields: []sdk.Field{
			{Name: "authenticator", Options: []string{sdk.AuthTOTP}, Required: true},
			{Name: "passcode", Type: "string", Required: true, Secret: true}}}, s.selectRemediation(ctx, tx.UserID)}
	}
	return resp, nil
}

func (s *Server) selectRemediation(ctx context.Context, userID string) sdk.Remediation {
	opts := []string{}
	if s.hasDevice(ctx, userID) {
		opts = append(opts, sdk.AuthPush, sdk.AuthTOTP)
	}
	return sdk.Remediation{Name: sdk.RemSelectAuth, Fields: []sdk.Field{{Name: "authenticator", Options: opts, Required: true}}}
}

func (s *Server) hasDevice(ctx context.Context, userID string) bool {
	if userID == "" {
		return false
	}
	devs, err := s.st.ListDevices(ctx, userID)
	if err != nil {
		return false
	}
	for _, d := range devs {
		if d.RevokedAt.IsZero() {
			return true
		}
	}
	return false
}

// NormalizeLogin is how logins are compared: trimmed, lower-case.
func NormalizeLogin(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

func (s *Server) identify(ctx context.Context, req sdk.Request, tx store.Transaction, st txState) (*sdk.Response, error) {
	login := NormalizeLogin(req.Login)
	if login == "" || len(login) > maxLoginLength {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "login is required (at most %d bytes)", maxLoginLength)
	}
	// Whether the login exists is not revealed: every login goes on to
	// the password step.
	u, err := s.st.GetUserByLogin(ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.internal("identify: load user", err)
	}
	next := txState{Step: stepPassword, Login: login}
	tx, err = s.advance(ctx, tx, stepIdentify, next, store.TxActive, u.ID)
	if err != nil {
		return nil, err
	}
	return s.respond(ctx, req.StateHandle, tx, next)
}

var errBadCredentials = apiErr(http.StatusUnauthorized, "invalid_credentials", "login or password is wrong")

func (s *Server) lockedErr(u store.User) error {
	return apiErr(http.StatusTooManyRequests, "account_locked",
		"too many failed attempts; this account is locked until %s", u.LockedUntil.UTC().Format(time.RFC3339))
}

func (s *Server) checkPassword(ctx context.Context, req sdk.Request, tx store.Transaction, st txState, meta reqMeta) (*sdk.Response, error) {
	if len(req.Passcode) > maxPasswordLength {
		return nil, errBadCredentials
	}
	u, err := s.st.GetUserByLogin(ctx, st.Login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, s.internal("password: load user", err)
	}
	known := err == nil && u.Status == store.UserActive && u.PasswordHash != ""
	hash := s.dummyHash
	if known {
		hash = u.PasswordHash
	}
	ok, herr := crypto.VerifyPassword(req.Passcode, hash)
	if herr != nil {
		s.log.Error("password: stored hash unreadable", "user", u.ID, "err", herr)
	}
	if known && s.now().Before(u.LockedUntil) {
		s.audit(ctx, store.AuditEvent{Type: "signin.locked", UserID: u.ID, TxID: tx.ID, ClientIP: meta.ip})
		return nil, s.lockedErr(u)
	}
	if !known || !ok {
		s.audit(ctx, store.AuditEvent{Type: "signin.password_failed", UserID: u.ID, TxID: tx.ID, ClientIP: meta.ip})
		if known {
			s.recordFailure(ctx, u.ID, "wrong password")
		}
		return nil, errBadCredentials
	}
	next := txState{Step: stepSelect, Login: st.Login, Risk: u.Risk}
	tx, err = s.advance(ctx, tx, stepPassword, next, store.TxActive, "")
	if err != nil {
		return nil, err
	}
	s.audit(ctx, store.AuditEvent{Type: "signin.password_ok", UserID: u.ID, TxID: tx.ID, ClientIP: meta.ip})
	if !s.hasDevice(ctx, u.ID) {
		// Two factors are the default policy; with no device there is no
		// second one.
		return nil, apiErr(http.StatusForbidden, "no_second_factor",
			"this account has no Assent device for the second factor; ask an administrator for an enrollment link")
	}
	return s.respond(ctx, req.StateHandle, tx, next)
}

func (s *Server) selectAuthenticator(ctx context.Context, req sdk.Request, tx store.Transaction, st txState, meta reqMeta) (*sdk.Response, error) {
	u, err := s.st.GetUser(ctx, tx.UserID)
	if err != nil {
		return nil, s.internal("select: load user", err)
	}
	if s.now().Before(u.LockedUntil) {
		return nil, s.lockedErr(u)
	}
	switch req.Authenticator {
	case sdk.AuthPush:
		if st.Push != nil {
			for _, id := range st.Push.ChallengeIDs {
				s.cancelChallenge(ctx, id, "a new push was sent")
			}
		}
		res, err := s.SendPush(ctx, PushRequest{
			TxID: tx.ID, User: u, Kind: push.KindSignIn, NumberChallenge: true, UserVerification: push.UVPreferred,
			Context: push.ChallengeContext{App: tx.App, ClientIP: tx.ClientIP, UserAgent: tx.UserAgent, Risk: riskOrLow(u.Risk)},
		})
		if err != nil {
			return nil, err
		}
		next := txState{Step: stepPush, Login: st.Login, Risk: st.Risk, Push: &pushState{ChallengeIDs: res.ChallengeIDs, Number: res.Number, ExpiresAt: res.ExpiresAt}}
		tx, err = s.advance(ctx, tx, st.Step, next, store.TxActive, "")
		if err != nil {
			return nil, err
		}
		return s.respond(ctx, req.StateHandle, tx, next)
	case sdk.AuthTOTP:
		next := txState{Step: stepTOTP, Login: st.Login, Risk: st.Risk, Push: st.Push}
		tx, err = s.advance(ctx, tx, st.Step, next, store.TxActive, "")
		if err != nil {
			return nil, err
		}
		return s.respond(ctx, req.StateHandle, tx, next)
	}
	return nil, apiErr(http.StatusBadRequest, "bad_request", "authenticator must be %q or %q", sdk.AuthPush, sdk.AuthTOTP)
}

func riskOrLow(r string) string {
	if r == "" {
		return "low"
	}
	return r
}

// poll reports on the push a transaction waits for.
func (s *Server) poll(ctx context.Context, req sdk.Request, tx store.Transaction, st txState) (*sdk.Response, error) {
	if st.Push == nil {
		return nil, errInternal
	}
	var outcomes []store.Challenge
	for _, id := range st.Push.ChallengeIDs {
		c, err := s.st.GetChallenge(ctx, id)
		if err != nil {
			return nil, s.internal("poll: load challenge", err)
		}
		outcomes = append(outcomes, c)
	}
	now := s.now()
	pending := false
	var ended []store.Challenge
	for _, c := range outcomes {
		switch c.Status {
		case store.ChallengeApproved:
			return s.succeed(ctx, req.StateHandle, tx, st, c.UserID, "push", c.DeviceID)
		case store.ChallengePending:
			if now.Before(c.ExpiresAt) {
				pending = true
			}
		default:
			ended = append(ended, c)
		}
	}
	if pending {
		return s.respond(ctx, req.StateHandle, tx, st)
	}
	// The push is over without an approval: say why, and go back to
	// choosing an authenticator (or end, if the person reported it).
	reason := store.ChallengeExpired
	for _, c := range ended {
		if c.Status != store.ChallengeCancelled && c.Status != store.ChallengeExpired {
			reason = c.Status
			break
		}
	}
	back := txState{Step: stepSelect, Login: st.Login, Risk: st.Risk}
	switch reason {
	case store.ChallengeReported:
		if _, err := s.finish(ctx, req.StateHandle, tx, st, store.TxFailed, "push reported"); err != nil {
			return nil, err
		}
		return nil, apiErr(http.StatusForbidden, "push_reported", "the push was reported as not made by the account holder; this sign-in has ended")
	case store.ChallengeDenied:
		if _, err := s.advance(ctx, tx, stepPush, back, store.TxActive, ""); err != nil {
			return nil, err
		}
		return nil, apiErr(http.StatusForbidden, "push_denied", "the push was denied on the device; send another or use a code")
	case store.ChallengeFailed:
		if _, err := s.advance(ctx, tx, stepPush, back, store.TxActive, ""); err != nil {
			return nil, err
		}
		return nil, apiErr(http.StatusForbidden, "wrong_number", "the number picked on the device was not the one shown; send another push and pick the number shown")
	}
	if _, err := s.advance(ctx, tx, stepPush, back, store.TxActive, ""); err != nil {
		return nil, err
	}
	return nil, apiErr(http.StatusRequestTimeout, "push_expired", "the push was not answered in time; send another or use a code")
}

var (
	errBadCode  = apiErr(http.StatusUnauthorized, "invalid_code", "the code is wrong or too old; type the code the app shows now")
	errCodeUsed = apiErr(http.StatusUnauthorized, "code_used", "this code was used already; wait for the next one")
)

func (s *Server) checkTOTP(ctx context.Context, req sdk.Request, tx store.Transaction, st txState, meta reqMeta) (*sdk.Response, error) {
	code := strings.TrimSpace(req.Passcode)
	if (len(code) != 6 && len(code) != 8) || strings.Trim(code, "0123456789") != "" {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "a code is 6 or 8 digits")
	}
	u, err := s.st.GetUser(ctx, tx.UserID)
	if err != nil {
		return nil, s.internal("totp: load user", err)
	}
	if s.now().Before(u.LockedUntil) {
		return nil, s.lockedErr(u)
	}
	devs, err := s.st.ListDevices(ctx, u.ID)
	if err != nil {
		return nil, s.internal("totp: list devices", err)
	}
	now := s.now()
	for _, d := range devs {
		if !d.RevokedAt.IsZero() {
			continue
		}
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
			s.audit(ctx, store.AuditEvent{Type: "totp.replayed", UserID: u.ID, DeviceID: d.ID, TxID: tx.ID, ClientIP: meta.ip})
			s.recordFailure(ctx, u.ID, "totp code reused")
			return nil, errCodeUsed
		} else if err != nil {
			return nil, s.internal("totp: record step", err)
		}
		s.audit(ctx, store.AuditEvent{Type: "totp.accepted", UserID: u.ID, DeviceID: d.ID, TxID: tx.ID, ClientIP: meta.ip})
		return s.succeed(ctx, req.StateHandle, tx, st, u.ID, "totp", d.ID)
	}
	s.audit(ctx, store.AuditEvent{Type: "totp.refused", UserID: u.ID, TxID: tx.ID, ClientIP: meta.ip})
	s.recordFailure(ctx, u.ID, "wrong totp code")
	return nil, errBadCode
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

// succeed ends a transaction with a new session.
func (s *Server) succeed(ctx context.Context, handle string, tx store.Transaction, st txState, userID, factor, deviceID string) (*sdk.Response, error) {
	now := s.now()
	done := st
	done.Step = stepDone
	if _, err := s.advance(ctx, tx, st.Step, done, store.TxSuccess, ""); err != nil {
		return nil, err
	}
	u, err := s.st.UpdateUser(ctx, userID, func(u *store.User) error { u.FailedAttempts = 0; return nil })
	if err != nil {
		return nil, s.internal("success: load user", err)
	}
	token := crypto.RandomToken(32)
	sess := store.Session{ID: crypto.HashToken(token), UserID: userID, TxID: tx.ID, ClientIP: tx.ClientIP, UserAgent: tx.UserAgent,
		CreatedAt: now, ExpiresAt: now.Add(s.opts.SessionTTL)}
	if err := s.st.CreateSession(ctx, sess); err != nil {
		return nil, s.internal("success: store session", err)
	}
	s.audit(ctx, store.AuditEvent{Type: "signin.success", UserID: userID, DeviceID: deviceID, TxID: tx.ID, ClientIP: tx.ClientIP,
		Detail: map[string]string{"factor": factor, "app": tx.App}})
	return &sdk.Response{Status: sdk.StatusSuccess, User: u.Login, Session: &sdk.Session{Token: token, ExpiresAt: sess.ExpiresAt}}, nil
}

func (s *Server) finish(ctx context.Context, handle string, tx store.Transaction, st txState, status, reason string) (*sdk.Response, error) {
	done := st
	done.Step, done.Reason = stepDone, reason
	if _, err := s.advance(ctx, tx, st.Step, done, status, ""); err != nil {
		return nil, err
	}
	if st.Push != nil {
		for _, id := range st.Push.ChallengeIDs {
			s.cancelChallenge(ctx, id, reason)
		}
	}
	s.audit(ctx, store.AuditEvent{Type: "signin.ended", UserID: tx.UserID, TxID: tx.ID, Detail: map[string]string{"reason": reason}})
	return &sdk.Response{Status: sdk.StatusEnded}, nil
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		writeError(w, apiErr(http.StatusUnauthorized, "unauthorized", "send the session token: Authorization: Bearer <token>"))
		return
	}
	sess, err := s.st.GetSession(r.Context(), crypto.HashToken(strings.TrimSpace(tok)))
	if err != nil || !sess.RevokedAt.IsZero() || !s.now().Before(sess.ExpiresAt) {
		writeError(w, apiErr(http.StatusUnauthorized, "invalid_session", "this session is not valid (unknown, expired or revoked)"))
		return
	}
	u, err := s.st.GetUser(r.Context(), sess.UserID)
	if err != nil {
		writeError(w, s.internal("session: load user", err))
		return
	}
	writeJSON(w, http.StatusOK, sdk.SessionUser{User: u.Login, ExpiresAt: sess.ExpiresAt})
}

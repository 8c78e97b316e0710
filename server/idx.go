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
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

const (
	txTTL             = 15 * time.Minute
	maxLoginLength    = 256
	maxPasswordLength = 1024
)

// Steps of a transaction.
const (
	stepIdentify = "identify"
	stepPassword = "password"
	stepSelect   = "select"
	stepPush     = "push"
	stepTOTP     = "totp"
	stepEmail    = "email"
	stepEnroll   = "enroll"
	stepProfile  = "profile"
	stepReset    = "reset"
	stepDone     = "done"
	// A passkey's assertion, and the same-device proof, are waited for.
	stepWebAuthn   = "webauthn"
	stepSameDevice = "samedevice"
)

// txState is the engine's state of a transaction, kept as JSON in the store
// so that any node can continue it.
type txState struct {
	Kind string `json:"kind"`
	Step string `json:"step"`
	// Gen counts the changes of the state: a change is stored only over
	// the state it was made from, so two requests racing on one
	// transaction cannot both move it, even to the same step.
	Gen   int    `json:"gen"`
	Login string `json:"login,omitempty"`
	// Device is the hashed id of the browser or app install.
	Device string `json:"device,omitempty"`
	// Known says the login names an active user; when it does not, the
	// flow goes on as if it did, so that no answer reveals it.
	Known bool `json:"known,omitempty"`
	Risk  Risk `json:"risk"`
	// Decision is the sign-on rule of the app for this person, here and
	// now (a recovery signs in with it once the password is reset).
	Decision *policy.Decision `json:"decision,omitempty"`
	// Done lists the authenticators the person has passed (or that a
	// reused session stands in for); UV says a push was approved with the
	// person verified on the device.
	Done []string `json:"done,omitempty"`
	UV   bool     `json:"uv,omitempty"`
	// PRUV says a passkey or the same-device proof verified the person;
	// HWK that the passkey was device-bound (amr hwk rather than swk).
	PRUV bool `json:"pruv,omitempty"`
	HWK  bool `json:"hwk,omitempty"`
	// Passkey is the WebAuthn ceremony under way (its options and the
	// library's session data: the challenge, the user, what is required);
	// SameDevice the same-device challenge handed to the page.
	Passkey    *passkeyState    `json:"passkey,omitempty"`
	SameDevice *sameDeviceState `json:"sameDevice,omitempty"`
	// EnrollFactor is what an enroll transaction adds: a device (empty)
	// or a passkey (webauthn).
	EnrollFactor string       `json:"enrollFactor,omitempty"`
	Push         *pushState   `json:"push,omitempty"`
	Email        *emailState  `json:"email,omitempty"`
	Enroll       *enrollState `json:"enroll,omitempty"`
	Reason       string       `json:"reason,omitempty"`
	// Session is the hash of the session given at interact: the one an
	// enroll transaction acts for, or one a sign-in may reuse. Reused is
	// set once a sign-in counts that session's factors, and AuthTime is
	// then the session's original authentication, which the new session
	// keeps. Both are checked again at every step.
	Session  string    `json:"session,omitempty"`
	Reused   string    `json:"reused,omitempty"`
	AuthTime time.Time `json:"authTime,omitempty"`
	// Reset says a recovery has set the new password; what follows is the
	// sign-in to the app.
	Reset bool `json:"reset,omitempty"`
	// Level and AuthAfter are what the caller asked beyond the app's rule
	// (a level to reach; no session from before a time).
	Level     string    `json:"level,omitempty"`
	AuthAfter time.Time `json:"authAfter,omitempty"`
}

// proven says the person has passed a factor (or holds a session): from
// then on the answers may depend on what the account has.
func (st *txState) proven() bool { return len(st.Done) > 0 || st.Kind == sdk.KindEnroll }

type passkeyState struct {
	Options json.RawMessage `json:"options"`
	Session []byte          `json:"session"`
}

type pushState struct {
	ChallengeIDs []string  `json:"challengeIds"`
	Number       int       `json:"number,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
	UV           string    `json:"uv,omitempty"`
	// Quiet: the push goes out in the background (it was chosen before any
	// factor was passed, so its answer must not depend on whether it can
	// be sent); its challenges may not exist yet, or ever.
	Quiet bool `json:"quiet,omitempty"`
}

type emailState struct {
	JTI       string    `json:"jti"`
	SentAt    time.Time `json:"sentAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Clicked   bool      `json:"clicked,omitempty"`
	// Quiet: sent in the background, and the page does not name the
	// address (no factor was passed yet).
	Quiet bool `json:"quiet,omitempty"`
}

type enrollState struct {
	ExpiresAt time.Time `json:"expiresAt"`
	// Known are the devices the user had when the link was made.
	Known []string `json:"known,omitempty"`
}

func (st *txState) done(auth string) bool { return slices.Contains(st.Done, auth) }

var errTxEnded = apiErr(http.StatusGone, "transaction_ended", "this transaction has ended or expired; start again with interact")

// reqMeta is what a request says about where it comes from.
type reqMeta struct {
	ip, userAgent, device string
	// front says a protocol front asks in process (Do), not a caller of
	// the public API; noNumber that its client cannot show a number, and
	// noSession that it makes no use of a session.
	front, noNumber, noSession bool
}

func metaOf(r *http.Request) reqMeta {
	return reqMeta{ip: clientIP(r), userAgent: truncate(r.UserAgent(), 256)}
}

func (s *Server) handleIDX(w http.ResponseWriter, r *http.Request) {
	var req sdk.Request
	if err := readJSON(w, r, &req); err != nil {
		writeError(w, err)
		return
	}
	resp, err := s.Step(r.Context(), r.PathValue("remediation"), req, metaOf(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// Step runs one remediation; the JSON API and the hosted pages both come
// through here.
func (s *Server) Step(ctx context.Context, name string, req sdk.Request, meta reqMeta) (*sdk.Response, error) {
	if name == "interact" {
		return s.interact(ctx, req, meta)
	}
	return s.remediate(ctx, name, req, meta)
}

func (s *Server) interact(ctx context.Context, req sdk.Request, meta reqMeta) (*sdk.Response, error) {
	if err := s.allowRequest(meta.ip); err != nil {
		return nil, err
	}
	kind := req.Kind
	if kind == "" {
		kind = sdk.KindSignIn
	}
	appName := req.App
	if appName == "" && kind == sdk.KindEnroll {
		appName = AppAccount
	}
	if appName == "" {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "app is required: the name of an app registered on this server")
	}
	if len(req.Device) > 128 || len(req.SessionToken) > 128 {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "device ids and session tokens are at most 128 bytes")
	}
	app, err := s.App(ctx, appName)
	if err != nil {
		return nil, err
	}
	if app.Type == store.AppRADIUS && (!meta.front || kind != sdk.KindSignIn) {
		// A RADIUS client's sign-ins come through the RADIUS server only.
		return nil, apiErr(http.StatusBadRequest, "unknown_app", "the app %q signs people in through RADIUS, not this API", app.Name)
	}
	if app.Type != store.AppWeb && app.Type != store.AppEmbedded && app.Type != store.AppOIDC && app.Type != store.AppRADIUS {
		return nil, apiErr(http.StatusBadRequest, "unknown_app", "the app %q signs people in through its own protocol (%s), not this API", app.Name, app.Type)
	}
	if app.Type == store.AppOIDC && kind == sdk.KindEnroll {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "devices are added from the account page")
	}
	if _, ok := levelAction(req.Level); req.Level != "" && !ok {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "level must be %s", strings.Join(Levels, " or "))
	}
	now := s.now()
	st := txState{Kind: kind, Step: stepIdentify, Device: deviceHash(req.Device), Level: req.Level}
	if req.AuthAfter > 0 {
		st.AuthAfter = time.Unix(req.AuthAfter, 0)
		if st.AuthAfter.After(now) {
			st.AuthAfter = now
		}
	}
	var userID string
	switch kind {
	case sdk.KindSignIn:
		// A signed-in browser or app may skip the factors its session
		// already proves; identify decides, with the session reloaded.
		if req.SessionToken != "" {
			sess, _, err := s.sessionUser(ctx, req.SessionToken)
			if err == nil {
				st.Session = sess.ID
			} else if !errors.Is(err, errSession) {
				return nil, err
			}
		}
	case sdk.KindRecovery:
	case sdk.KindEnroll:
		sess, u, err := s.sessionUser(ctx, req.SessionToken)
		if err != nil {
			return nil, err
		}
		if !s.opts.Policy.Enrollment.SelfService {
			return nil, apiErr(http.StatusForbidden, "enrollment_disabled", "self-service enrollment is turned off; ask an administrator for an enrollment link")
		}
		st.Login, st.Known, st.Session, userID = u.Login, true, sess.ID, u.ID
		st.Risk = s.assessRisk(ctx, u, meta.ip, st.Device)
		switch req.Authenticator {
		case "", sdk.AuthPush:
		case sdk.AuthWebAuthn:
			st.EnrollFactor = sdk.AuthWebAuthn
		default:
			return nil, apiErr(http.StatusBadRequest, "bad_request", "an enrollment adds a device (push) or a passkey (webauthn)")
		}
		if s.hasDevice(ctx, u.ID) || s.hasPasskey(ctx, u.ID) {
			// A new device or passkey needs the word of an existing one
			// first.
			st.Step = stepSelect
		} else if err := s.enterEnroll(ctx, u, &st); err != nil {
			return nil, err
		}
	default:
		return nil, apiErr(http.StatusBadRequest, "bad_request", "kind must be signin, recovery or enroll")
	}
	if kind == sdk.KindSignIn && !meta.front {
		// The sign-in page offers passkeys before anyone types a login
		// (discoverable credentials, in the browser's autofill).
		if s.passkeysOn() {
			opts, session, err := s.beginPasskeyLogin(ctx, nil, policy.UVPreferred)
			if err != nil {
				return nil, err
			}
			st.Passkey = &passkeyState{Options: opts, Session: session}
		}
	}
	handle := crypto.RandomToken(32)
	data, _ := json.Marshal(st)
	tx := store.Transaction{
		ID: crypto.HashToken(handle), App: app.Name, Kind: kind, UserID: userID, Status: store.TxActive, Data: data,
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
	// Until a factor is passed, a known and an unknown login must take as
	// long: every such step lasts at least the answer floor.
	if !st.proven() && s.eng.limits.AnswerFloor > 0 {
		defer s.padAnswer(ctx, time.Now())
	}
	f := &flow{s: s, ctx: ctx, handle: req.StateHandle, tx: tx, st: st, meta: meta}
	// A session the transaction acts for (enroll) or counts (a reused
	// sign-in) must still be good at every step: signing out or a
	// password reset ends what it started.
	if name != sdk.RemCancel {
		if id := st.sessionInUse(); id != "" {
			if _, u, err := s.loadSession(ctx, id); err != nil || u.ID != tx.UserID {
				if ae := (*apiError)(nil); errors.As(err, &ae) && ae.Status >= 500 {
					return nil, err
				}
				f.audit("session.refused", map[string]string{"reason": "revoked, expired or its user disabled"})
				return f.end(store.TxFailed, "session no longer valid", errSession)
			}
		}
	}
	allowed := f.remediations()
	if name != sdk.RemCancel && !slices.Contains(allowed, name) {
		if !knownRemediation(name) {
			return nil, apiErr(http.StatusNotFound, "unknown_remediation", "no remediation named %q", truncate(name, 64))
		}
		return nil, apiErr(http.StatusBadRequest, "remediation_not_available", "%s is not available now; next: %s", name, strings.Join(allowed, ", "))
	}
	if name == sdk.RemChallengePoll && req.Wait > 0 && st.Step == stepPush {
		// Held (only once every check above passed) until the push ends,
		// then run as a poll that just came in: the transaction, its
		// session and what it allows are all read again.
		if s.waitPush(ctx, tx.ID, st.Push, s.pollWait(req.Wait)) {
			req.Wait = 0
			return s.remediate(ctx, name, req, meta)
		}
	}
	switch name {
	case sdk.RemCancel:
		return f.end(store.TxFailed, "cancelled", nil)
	case sdk.RemIdentify:
		if len(req.Credential) > 0 {
			return f.identifyPasskey(req.Credential)
		}
		return f.identify(req.Login, sdk.KindSignIn)
	case sdk.RemIdentifyRecovery:
		return f.identify(req.Login, sdk.KindRecovery)
	case sdk.RemChallengeAuth:
		return f.challenge(req)
	case sdk.RemSelectAuth:
		return f.selectAuthenticator(req.Authenticator)
	case sdk.RemChallengePoll:
		return f.poll()
	case sdk.RemEnrollAuth, sdk.RemEnrollPoll:
		if f.st.EnrollFactor == sdk.AuthWebAuthn {
			return f.enrollPasskey(req)
		}
		return f.enroll(name == sdk.RemEnrollAuth)
	case sdk.RemEnrollProfile:
		return f.profile(req.Profile)
	case sdk.RemResetAuth:
		return f.reset(req.Passcode)
	}
	return nil, errInternal
}

func knownRemediation(name string) bool {
	return slices.Contains([]string{sdk.RemIdentify, sdk.RemIdentifyRecovery, sdk.RemChallengeAuth, sdk.RemSelectAuth,
		sdk.RemChallengePoll, sdk.RemEnrollAuth, sdk.RemEnrollPoll, sdk.RemEnrollProfile, sdk.RemResetAuth}, name)
}

func (s *Server) loadTx(ctx context.Context, handle string) (store.Transaction, txState, error) {
	tx, err := s.st.GetTransaction(ctx, crypto.HashToken(handle))
	if errors.Is(err, store.ErrNotFound) {
		return tx, txState{}, apiErr(http.StatusNotFound, "invalid_state_handle", "no transaction with that stateHandle; start again with interact")
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
var errStepMoved = apiErr(http.StatusConflict, "state_changed", "this transaction moved on in another request; continue from its latest answer")

// advance stores st as the state that follows generation from, if the
// transaction is still there. A non-empty userID records whom the
// transaction is about.
func (s *Server) advance(ctx context.Context, tx store.Transaction, from int, st txState, status, userID string) (store.Transaction, error) {
	st.Gen = from + 1
	data, _ := json.Marshal(st)
	now := s.now()
	tx, err := s.st.UpdateTransaction(ctx, tx.ID, func(t *store.Transaction) error {
		var cur txState
		if err := json.Unmarshal(t.Data, &cur); err != nil || cur.Gen != from || t.Status != store.TxActive {
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

func (s *Server) hasDevice(ctx context.Context, userID string) bool {
	return len(s.activeDevices(ctx, userID)) > 0
}

func (s *Server) activeDevices(ctx context.Context, userID string) []store.Device {
	if userID == "" {
		return nil
	}
	devs, err := s.st.ListDevices(ctx, userID)
	if err != nil {
		s.log.Error("list devices", "err", err)
		return nil
	}
	return slices.DeleteFunc(devs, func(d store.Device) bool { return !d.RevokedAt.IsZero() })
}

// NormalizeLogin is how logins are compared: trimmed, lower-case.
func NormalizeLogin(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

// sessionInUse is the session a transaction relies on now.
func (st *txState) sessionInUse() string {
	if st.Kind == sdk.KindEnroll {
		return st.Session
	}
	return st.Reused
}

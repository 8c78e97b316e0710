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
	Known    bool             `json:"known,omitempty"`
	Risk     Risk             `json:"risk"`
	Decision *policy.Decision `json:"decision,omitempty"`
	// Done lists the authenticators the person has passed.
	Done   []string     `json:"done,omitempty"`
	Push   *pushState   `json:"push,omitempty"`
	Email  *emailState  `json:"email,omitempty"`
	Enroll *enrollState `json:"enroll,omitempty"`
	Reason string       `json:"reason,omitempty"`
	// Session is the hash of the session that started an enroll
	// transaction, or that a sign-in may reuse (re-authentication
	// frequency); SessionUser and SessionAt say whose and since when.
	Session     string    `json:"session,omitempty"`
	SessionUser string    `json:"sessionUser,omitempty"`
	SessionAt   time.Time `json:"sessionAt,omitempty"`
}

type pushState struct {
	ChallengeIDs []string  `json:"challengeIds"`
	Number       int       `json:"number,omitempty"`
	ExpiresAt    time.Time `json:"expiresAt"`
	UV           string    `json:"uv,omitempty"`
}

type emailState struct {
	JTI       string    `json:"jti"`
	SentAt    time.Time `json:"sentAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Clicked   bool      `json:"clicked,omitempty"`
}

type enrollState struct {
	ExpiresAt time.Time `json:"expiresAt"`
	// Known are the devices the user had when the link was made.
	Known []string `json:"known,omitempty"`
}

func (st *txState) done(auth string) bool { return slices.Contains(st.Done, auth) }

var errTxEnded = apiErr(http.StatusGone, "transaction_ended", "this transaction has ended or expired; start again with interact")

// reqMeta is what a request says about where it comes from.
type reqMeta struct{ ip, userAgent, device string }

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
	app := req.App
	if app == "" {
		app = "assent"
	}
	if len(app) > 64 || len(req.Device) > 128 {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "app names and device ids are at most 64 and 128 bytes")
	}
	kind := req.Kind
	if kind == "" {
		kind = sdk.KindSignIn
	}
	now := s.now()
	st := txState{Kind: kind, Step: stepIdentify, Device: deviceHash(req.Device)}
	var userID string
	switch kind {
	case sdk.KindSignIn:
		// A signed-in browser or app may skip the factors while its
		// session is younger than the matching rule's re-authentication
		// frequency.
		if req.SessionToken != "" {
			if sess, u, err := s.sessionUser(ctx, req.SessionToken); err == nil {
				st.Session, st.SessionUser, st.SessionAt = sess.ID, u.ID, sess.CreatedAt
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
		if s.hasDevice(ctx, u.ID) {
			// A new device needs the word of an existing one first.
			st.Step = stepSelect
		} else {
			st.Step = stepEnroll
		}
	default:
		return nil, apiErr(http.StatusBadRequest, "bad_request", "kind must be signin, recovery or enroll")
	}
	handle := crypto.RandomToken(32)
	data, _ := json.Marshal(st)
	tx := store.Transaction{
		ID: crypto.HashToken(handle), App: app, Kind: kind, UserID: userID, Status: store.TxActive, Data: data,
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
	f := &flow{s: s, ctx: ctx, handle: req.StateHandle, tx: tx, st: st, meta: meta}
	allowed := f.remediations()
	if name != sdk.RemCancel && !slices.Contains(allowed, name) {
		if !knownRemediation(name) {
			return nil, apiErr(http.StatusNotFound, "unknown_remediation", "no remediation named %q", truncate(name, 64))
		}
		return nil, apiErr(http.StatusBadRequest, "remediation_not_available", "%s is not available now; next: %s", name, strings.Join(allowed, ", "))
	}
	switch name {
	case sdk.RemCancel:
		return f.end(store.TxFailed, "cancelled", nil)
	case sdk.RemIdentify:
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

// sessionUser checks a session token and returns the session and its user.
func (s *Server) sessionUser(ctx context.Context, token string) (store.Session, store.User, error) {
	errSess := apiErr(http.StatusUnauthorized, "invalid_session", "this session is not valid (unknown, expired or revoked); sign in again")
	if token == "" {
		return store.Session{}, store.User{}, errSess
	}
	sess, err := s.st.GetSession(ctx, crypto.HashToken(token))
	if err != nil || !sess.RevokedAt.IsZero() || !s.now().Before(sess.ExpiresAt) {
		return store.Session{}, store.User{}, errSess
	}
	u, err := s.st.GetUser(ctx, sess.UserID)
	if err != nil || u.Status != store.UserActive {
		return store.Session{}, store.User{}, errSess
	}
	return sess, u, nil
}

func bearer(r *http.Request) string {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func (s *Server) handleSession(w http.ResponseWriter, r *http.Request) {
	sess, u, err := s.sessionUser(r.Context(), bearer(r))
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, sdk.SessionUser{User: u.Login, ExpiresAt: sess.ExpiresAt})
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

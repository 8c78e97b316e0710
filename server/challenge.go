package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"hash/maphash"
	"math/rand/v2"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server/store"
)

// PushRequest is what a flow asks of a push.
type PushRequest struct {
	TxID             string
	User             store.User
	Kind             string
	Context          push.ChallengeContext
	NumberChallenge  bool
	UserVerification string
	// Numbers and Correct, when set, are the numbers to show (drawn
	// before the push was sent); otherwise SendPush draws them.
	Numbers []int
	Correct int
	// IDs, when set, name the challenge of each device in Devices, chosen
	// before the push was sent (a push sent in the background).
	IDs     []string
	Devices []store.Device
}

// PushResult is what was sent.
type PushResult struct {
	ChallengeIDs []string
	// Number is what the sign-in page shows; 0 without number challenge.
	Number    int
	ExpiresAt time.Time
}

// ErrNoPushDevice means the user has no active device to push to.
var ErrNoPushDevice = apiErr(http.StatusConflict, "no_push_device", "no Assent device is enrolled for this account; enroll one or use another factor")

// pickNumbers draws three distinct two-digit numbers and which of them is
// the right one. The numbers come from the CSPRNG: a guessable draw would
// let an attacker tell the victim which number to pick.
func pickNumbers() (numbers []int, correct int) {
	r := rand.New(crandSource{})
	seen := map[int]bool{}
	for len(numbers) < 3 {
		n := 10 + r.IntN(90)
		if !seen[n] {
			seen[n] = true
			numbers = append(numbers, n)
		}
	}
	return numbers, numbers[r.IntN(3)]
}

// crandSource adapts crypto/rand to math/rand/v2.
type crandSource struct{}

func (crandSource) Uint64() uint64 {
	b := crypto.RandomBytes(8)
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v
}

// SendPush signs and stores one challenge per active device of the user and
// delivers it to whichever node holds each device's socket. All devices get
// the same numbers; the first answer settles the push and the others are
// cancelled.
func (s *Server) SendPush(ctx context.Context, req PushRequest) (PushResult, error) {
	devs := req.Devices
	if devs == nil {
		var err error
		if devs, err = s.st.ListDevices(ctx, req.User.ID); err != nil {
			return PushResult{}, s.internal("push: list devices", err)
		}
	}
	now := s.now()
	exp := now.Add(s.opts.Policy.Push.Expiry)
	numbers, correct := req.Numbers, req.Correct
	if req.NumberChallenge && len(numbers) == 0 {
		numbers, correct = pickNumbers()
	}
	if req.UserVerification == "" {
		req.UserVerification = push.UVPreferred
	}
	req.Context.Time = now.Unix()
	ctxJSON, _ := json.Marshal(req.Context)
	res := PushResult{Number: correct, ExpiresAt: exp}
	unreachable := 0
	for i, d := range devs {
		if !d.RevokedAt.IsZero() {
			continue
		}
		id := newTimedID("chl_", now)
		if i < len(req.IDs) {
			id = req.IDs[i]
		}
		claims := push.ChallengeClaims{
			Issuer: s.opts.URL, Audience: d.ID, Subject: req.User.Login,
			ID: id, Transaction: req.TxID, Nonce: crypto.RandomToken(16),
			IAT: now.Unix(), Exp: exp.Unix(), Kind: req.Kind, Context: req.Context,
			Numbers: numbers, UserVerification: req.UserVerification,
		}
		jws, err := crypto.SignJWS(s.signKey, push.TypChallenge, claims, crypto.SignOptions{})
		if err != nil {
			return PushResult{}, s.internal("push: sign challenge", err)
		}
		s.uv.note(jws, req.UserVerification == push.UVRequired)
		c := store.Challenge{
			ID: claims.ID, TxID: req.TxID, DeviceID: d.ID, UserID: req.User.ID, Kind: req.Kind,
			Nonce: claims.Nonce, Numbers: numbers, Correct: correct, Context: ctxJSON, JWS: jws,
			Status: store.ChallengePending, CreatedAt: now, ExpiresAt: exp,
		}
		// The challenge and its push.sent commit together: no crash can
		// leave one without the other.
		sent := &store.Audit{Events: []store.AuditEvent{{Time: now, Type: "push.sent", UserID: req.User.ID, DeviceID: d.ID, TxID: req.TxID, ChallengeID: c.ID,
			ClientIP: req.Context.ClientIP, Detail: map[string]string{"kind": req.Kind, "risk": req.Context.Risk}}}}
		if err := s.st.CreateChallenge(ctx, c, sent); err != nil {
			return PushResult{}, s.internal("push: store challenge", err)
		}
		s.audited(ctx, sent.Stored)
		if err := s.deliverChallenge(ctx, d.ID, jws); err != nil {
			// Not sent: nothing may answer it later either. Unless the
			// device answered it meanwhile (from its pending list): then
			// it was reached, and its answer stands.
			s.log.Warn("push: device unreachable", "device", d.ID, "err", err)
			if s.cancelChallenge(ctx, c.ID, reasonUnreachable) {
				unreachable++
				continue
			}
		}
		res.ChallengeIDs = append(res.ChallengeIDs, c.ID)
		s.metrics.challenges.WithLabelValues("sent").Inc()
	}
	if len(res.ChallengeIDs) == 0 {
		if unreachable > 0 {
			return PushResult{}, ErrDeviceUnreachable
		}
		return PushResult{}, ErrNoPushDevice
	}
	return res, nil
}

// reasonUnreachable is why a challenge that could not be delivered is
// cancelled.
const reasonUnreachable = "device unreachable: the message broker is down"

// ErrDeviceUnreachable means no device could be reached: the node that
// holds their sockets cannot be told (the broker is down). A device that
// is merely offline is not unreachable: it finds its push when it
// connects.
var ErrDeviceUnreachable = &apiError{Status: http.StatusServiceUnavailable, Code: "device_unreachable", RetryAfter: 5,
	Message: "the push cannot reach your device right now; use a code from the app instead, or try again in a moment"}

// deliverChallenge hands a signed challenge to the node holding the
// device's socket. When the broker is down, a socket on this node still
// gets it; any other device is unreachable.
func (s *Server) deliverChallenge(ctx context.Context, deviceID, jws string) error {
	msg := push.Message{Type: push.MsgChallenge, JWS: jws}
	err := s.broker.Publish(ctx, deviceID, msg)
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrBrokerDown) && s.hub.holds(deviceID) {
		s.hub.deliver(deviceID, msg)
		return nil
	}
	if errors.Is(err, ErrBrokerDown) {
		return err
	}
	// Another failure (a device id the broker cannot name): the device
	// still finds the push through its pending list.
	s.log.Warn("push: publish failed", "device", deviceID, "err", err)
	return nil
}

// Refusals of a response. None changes the challenge.
var (
	errResponseRejected = apiErr(http.StatusUnauthorized, "response_rejected", "response not accepted: it is not signed by the device the challenge was sent to")
	errNotPending       = apiErr(http.StatusConflict, "already_answered", "this challenge was answered already or cancelled; a response is accepted once")
	errChallengeExpired = apiErr(http.StatusGone, "challenge_expired", "this challenge has expired; start the sign-in again")
	errBadNonce         = apiErr(http.StatusBadRequest, "bad_nonce", "response nonce does not match the challenge")
	errResponseIAT      = apiErr(http.StatusBadRequest, "bad_request",
		"response iat lies outside the challenge's lifetime (allowing %ds of clock difference); set the device clock right", push.DeviceTokenMaxAge)
	errNotThisDevice = errors.New("challenge not sent to this device")
)

// answer verifies a device's signed response and settles its challenge:
// right key, pending, unexpired, nonce equal, number equal, once. pathID,
// when not empty, must equal the challenge the response names.
func (s *Server) answer(ctx context.Context, tok, pathID, ip string) (store.Challenge, error) {
	var rc push.ResponseClaims
	j, err := crypto.ParseJWS(tok)
	if err == nil {
		err = j.UnverifiedClaims(&rc)
	}
	if err != nil {
		return store.Challenge{}, apiErr(http.StatusBadRequest, "bad_jws", "response: %v", err)
	}
	// Refusals of responses signed by a known device go to the audit log,
	// under that device; anything else could come from anyone, and goes
	// only to the server log, so that strangers cannot fill the audit log.
	var signer store.Device
	fail := func(err error, reason string) (store.Challenge, error) {
		if signer.ID != "" {
			s.audit(ctx, store.AuditEvent{Type: "response.refused", UserID: signer.UserID, DeviceID: signer.ID, ClientIP: ip,
				ChallengeID: truncate(rc.ID, 64), Detail: map[string]string{"reason": reason}})
		} else {
			s.log.Warn("response refused", "reason", reason, "ip", ip)
		}
		return store.Challenge{ID: rc.ID}, err
	}
	if pathID != "" && pathID != rc.ID {
		return fail(apiErr(http.StatusBadRequest, "bad_request", "response is for challenge %q, not %q", truncate(rc.ID, 64), truncate(pathID, 64)), "path mismatch")
	}
	d, err := s.st.GetDevice(ctx, rc.Issuer)
	if errors.Is(err, store.ErrNotFound) {
		return fail(errResponseRejected, "unknown device")
	} else if err != nil {
		return store.Challenge{}, s.internal("answer: load device", err)
	}
	pub, err := s.keys.of(d)
	if err != nil {
		return store.Challenge{}, s.internal("answer: device key", err)
	}
	if err := j.Verify(pub, push.TypResponse, &rc); err != nil {
		return fail(errResponseRejected, "bad signature")
	}
	signer = d
	if !d.RevokedAt.IsZero() {
		return fail(apiErr(http.StatusForbidden, "device_revoked", "this device was removed from the account"), "device revoked")
	}
	if rc.Audience != s.opts.URL {
		return fail(apiErr(http.StatusBadRequest, "wrong_audience", "response is for %q, this server is %q", truncate(rc.Audience, 200), s.opts.URL), "wrong audience")
	}
	switch rc.Consent {
	case push.ConsentApproved, push.ConsentDenied, push.ConsentReported:
	default:
		return fail(apiErr(http.StatusBadRequest, "bad_request", "consent must be approved, denied or reported, not %q", truncate(rc.Consent, 32)), "bad consent")
	}
	now := s.now()
	expired := false
	// The outcome's event commits with the outcome.
	outcome := &store.Audit{For: func(c store.Challenge) []store.AuditEvent { return []store.AuditEvent{settledEvent(c, ip)} }}
	c, err := s.st.UpdateChallenge(ctx, rc.ID, func(c *store.Challenge) error {
		if c.DeviceID != d.ID {
			// A response by another device for someone else's challenge
			// is refused exactly like an unknown one.
			return errNotThisDevice
		}
		if c.Status == store.ChallengeExpired {
			// Expired, by the sweep or by an answer that came late: the
			// same answer either way.
			return errChallengeExpired
		}
		if c.Status != store.ChallengePending {
			return errNotPending
		}
		if subtle.ConstantTimeCompare([]byte(c.Nonce), []byte(rc.Nonce)) != 1 {
			return errBadNonce
		}
		if !now.Before(c.ExpiresAt) {
			c.AnsweredAt = now
			c.Status, c.Reason, expired = store.ChallengeExpired, "answered after expiry", true
			return nil
		}
		// The answer was made while the challenge lived (give or take the
		// clock difference a device token may have).
		slack := push.DeviceTokenMaxAge * time.Second
		if iat := time.Unix(rc.IAT, 0); iat.Before(c.CreatedAt.Add(-slack)) || iat.After(c.ExpiresAt.Add(slack)) {
			return errResponseIAT
		}
		c.AnsweredAt = now
		c.UV = rc.UV
		switch rc.Consent {
		case push.ConsentApproved:
			switch {
			case !rc.UV && s.uv.required(c.JWS):
				c.Status, c.Reason = store.ChallengeFailed, "user verification required"
			case c.Correct != 0 && subtle.ConstantTimeEq(int32(c.Correct), int32(rc.Number)) != 1:
				c.Status, c.Reason = store.ChallengeFailed, "wrong number"
			case c.Correct == 0 && rc.Number != 0:
				c.Status, c.Reason = store.ChallengeFailed, "number given where none was asked"
			default:
				c.Status, c.Reason = store.ChallengeApproved, ""
			}
		case push.ConsentDenied:
			c.Status, c.Reason = store.ChallengeDenied, "denied on the device"
		case push.ConsentReported:
			c.Status, c.Reason = store.ChallengeReported, "reported as not initiated by the user"
		}
		return nil
	}, outcome)
	if errors.Is(err, errNotThisDevice) || errors.Is(err, store.ErrNotFound) {
		return fail(errResponseRejected, "challenge not sent to this device")
	} else if err != nil {
		var ae *apiError
		if errors.As(err, &ae) {
			return fail(err, ae.Code)
		}
		return store.Challenge{}, s.internal("answer: update challenge", err)
	}
	s.audited(ctx, outcome.Stored)
	s.settled(ctx, c)
	if expired {
		return c, errChallengeExpired
	}
	return c, nil
}

// settledEvent is the audit event of an answered challenge.
func settledEvent(c store.Challenge, ip string) store.AuditEvent {
	detail := map[string]string{"kind": c.Kind}
	if c.Reason != "" {
		detail["reason"] = c.Reason
	}
	return store.AuditEvent{Time: c.AnsweredAt, Type: "push." + c.Status, UserID: c.UserID, DeviceID: c.DeviceID, TxID: c.TxID, ChallengeID: c.ID, ClientIP: ip, Detail: detail}
}

// settled does what follows an answered challenge (whose audit event
// committed with it): the user's risk when reported, failed attempts, and
// cancelling the same push on the user's other devices.
func (s *Server) settled(ctx context.Context, c store.Challenge) {
	s.metrics.challenges.WithLabelValues(c.Status).Inc()
	s.metrics.roundTrip.Observe(c.AnsweredAt.Sub(c.CreatedAt).Seconds())
	// Every connection of the answering device drops the prompt too (the
	// app and a CLI may both be listening).
	s.notifyResolved(ctx, c.DeviceID, c.ID, c.Status)
	now := s.now()
	switch c.Status {
	case store.ChallengeReported:
		if _, err := s.st.UpdateUser(ctx, c.UserID, func(u *store.User) error {
			u.Risk, u.RiskSince = "high", now
			return nil
		}); err != nil {
			s.log.Error("raise user risk", "err", err)
		} else {
			s.audit(ctx, store.AuditEvent{Type: "user.risk_raised", UserID: c.UserID, ChallengeID: c.ID, Detail: map[string]string{"risk": "high", "reason": "push reported"}})
		}
	case store.ChallengeApproved:
		if c.TxID != "" {
			// Only pushes nobody approved use up the fatigue budget.
			s.refundPush(ctx, c.UserID)
		}
	}
	if c.TxID == "" {
		return
	}
	siblings, err := s.st.ListChallenges(ctx, store.ChallengeFilter{TxID: c.TxID, Status: store.ChallengePending})
	if err != nil {
		s.log.Error("list sibling challenges", "err", err)
		return
	}
	for _, o := range siblings {
		s.cancelChallenge(ctx, o.ID, reasonAnsweredElsewhere)
	}
}

// reasonAnsweredElsewhere is why a push's other challenges are cancelled.
const reasonAnsweredElsewhere = "answered on another device"

// cancelChallenge ends a pending challenge and tells its device. It says
// whether it did: false when the challenge was settled already (or the
// store failed).
func (s *Server) cancelChallenge(ctx context.Context, id, reason string) bool {
	cancelled := &store.Audit{For: func(c store.Challenge) []store.AuditEvent {
		return []store.AuditEvent{{Time: c.AnsweredAt, Type: "push.cancelled", UserID: c.UserID, DeviceID: c.DeviceID, TxID: c.TxID, ChallengeID: c.ID, Detail: map[string]string{"reason": reason}}}
	}}
	c, err := s.st.UpdateChallenge(ctx, id, func(c *store.Challenge) error {
		if c.Status != store.ChallengePending {
			return errNotPending
		}
		c.Status, c.Reason, c.AnsweredAt = store.ChallengeCancelled, reason, s.now()
		return nil
	}, cancelled)
	if err != nil {
		return false
	}
	s.audited(ctx, cancelled.Stored)
	s.metrics.challenges.WithLabelValues(store.ChallengeCancelled).Inc()
	s.notifyResolved(ctx, c.DeviceID, c.ID, c.Status)
	return true
}

// notifyResolved tells a device to drop a prompt.
func (s *Server) notifyResolved(ctx context.Context, deviceID, id, outcome string) {
	if err := s.broker.Publish(ctx, deviceID, push.Message{Type: push.MsgResolved, ID: id, Outcome: outcome}); err != nil {
		s.log.Warn("publish resolved", "device", deviceID, "err", err)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// uvRequired reads whether a stored challenge (signed by this server)
// required the device to verify its user.
func uvRequired(jws string) bool {
	var c push.ChallengeClaims
	if err := crypto.UnverifiedClaims(jws, &c); err != nil {
		return true // unreadable: ask for the stronger proof
	}
	return c.UserVerification == push.UVRequired
}

// uvSlots is how many challenges uvMemo holds (their JWS, about 1 KB each,
// is what the pending challenges hold already).
const uvSlots = 1024

// uvMemo remembers whether each challenge this process signed, or read the
// requirement of, lately required user verification, so that an answer
// does not parse the stored JWS again (about 3 % of a node's CPU at full
// speed). It is a table with one entry per slot, picked by a hash of the
// JWS: an entry holds the JWS it is about, so that a slot another
// challenge took since is a miss (the JWS is parsed), never a wrong answer.
type uvMemo struct {
	slots [uvSlots]atomic.Pointer[uvEntry]
}

var uvSeed = maphash.MakeSeed()

type uvEntry struct {
	jws      string
	required bool
}

func (m *uvMemo) slot(jws string) *atomic.Pointer[uvEntry] {
	return &m.slots[maphash.String(uvSeed, jws)%uvSlots]
}

// note remembers what jws, just signed, requires.
func (m *uvMemo) note(jws string, required bool) {
	m.slot(jws).Store(&uvEntry{jws: jws, required: required})
}

// required says whether the challenge jws required user verification.
func (m *uvMemo) required(jws string) bool {
	sl := m.slot(jws)
	if e := sl.Load(); e != nil && e.jws == jws {
		return e.required
	}
	r := uvRequired(jws)
	sl.Store(&uvEntry{jws: jws, required: r})
	return r
}

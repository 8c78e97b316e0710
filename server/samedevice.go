package server

// Same-device sign-in: the hosted page asks the Assent app on its own
// machine, over loopback, for a proof (DESIGN.md, "Same-device proof").
// The server signs a challenge bound to the transaction; the app checks it
// against the server key it pinned at enrollment and the page's Origin,
// asks the person, and signs a proof naming the origin it saw. The proof
// counts here only for this server's origin, this transaction's challenge,
// a device of the transaction's user, once.

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

// sameDeviceTTL is how long the page and the person have to answer.
const sameDeviceTTL = 2 * time.Minute

type sameDeviceState struct {
	ID        string    `json:"id"`
	JWS       string    `json:"jws"`
	ExpiresAt time.Time `json:"expiresAt"`
	UV        string    `json:"uv"`
}

// sameDeviceChallenge signs a challenge for this transaction. It names
// only what the person typed, so that an unknown login gets one alike.
func (f *flow) sameDeviceChallenge() (*sameDeviceState, error) {
	origin, err := push.Origin(f.s.opts.URL)
	if err != nil {
		return nil, f.s.internal("same-device: server origin", err)
	}
	uv := policy.UVPreferred
	if d := f.st.Decision; d != nil {
		uv = d.UserVerification
	}
	now := f.s.now()
	claims := push.SameDeviceClaims{
		Issuer: f.s.opts.URL, Origin: origin, Subject: f.st.Login, ID: crypto.RandomToken(16),
		Transaction: crypto.HashToken(f.tx.ID), Org: f.s.opts.Org, App: f.tx.App,
		IAT: now.Unix(), Exp: now.Add(sameDeviceTTL).Unix(), UserVerification: uv,
	}
	jws, err := crypto.SignJWS(f.s.signKey, push.TypSameDevice, claims, crypto.SignOptions{})
	if err != nil {
		return nil, f.s.internal("same-device: sign challenge", err)
	}
	return &sameDeviceState{ID: claims.ID, JWS: jws, ExpiresAt: now.Add(sameDeviceTTL), UV: uv}, nil
}

var errProofRefused = apiErr(http.StatusUnauthorized, "proof_refused",
	"the Assent app on this computer could not confirm this sign-in; try again, or choose another way")

// checkSameDevice takes the app's proof.
func (f *flow) checkSameDevice(proof string) (*sdk.Response, error) {
	u, known, err := f.user()
	if err != nil {
		return nil, err
	}
	sd := f.st.SameDevice
	if sd == nil {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "no same-device request is waiting; choose samedevice first")
	}
	// Refusals by a device of this user go to the audit log; anything
	// else only to the server log (anyone can post garbage).
	var dev store.Device
	refuse := func(reason string, err error) (*sdk.Response, error) {
		if dev.ID != "" {
			f.s.audit(f.ctx, store.AuditEvent{Type: "samedevice.refused", UserID: dev.UserID, DeviceID: dev.ID, TxID: f.tx.ID,
				ClientIP: f.meta.ip, Detail: map[string]string{"reason": reason}})
		} else {
			f.s.log.Warn("same-device proof refused", "reason", reason, "ip", f.meta.ip)
		}
		return nil, err
	}
	if len(proof) > push.MaxSameDeviceBody {
		return refuse("too large", errProofRefused)
	}
	now := f.s.now()
	if !now.Before(sd.ExpiresAt) {
		next := f.st
		next.SameDevice, next.Step = nil, stepSelect
		if _, err := f.move(next); err != nil {
			return nil, err
		}
		return nil, apiErr(http.StatusRequestTimeout, "samedevice_expired", "the Assent app did not answer in time; try again or choose another way")
	}
	var pc push.SameDeviceProofClaims
	if err := crypto.UnverifiedClaims(proof, &pc); err != nil {
		return refuse("unreadable", errProofRefused)
	}
	d, err := f.s.st.GetDevice(f.ctx, pc.Issuer)
	if errors.Is(err, store.ErrNotFound) {
		return refuse("unknown device", errProofRefused)
	} else if err != nil {
		return nil, f.s.internal("same-device: load device", err)
	}
	pub, err := f.s.keys.of(d)
	if err != nil {
		return nil, f.s.internal("same-device: device key", err)
	}
	if err := crypto.VerifyJWS(proof, pub, push.TypSameDeviceProof, &pc); err != nil {
		return refuse("bad signature", errProofRefused)
	}
	if !known || d.UserID != u.ID {
		// A device of someone else: whoever it is, it is not this user's.
		return refuse("device of another user", errProofRefused)
	}
	dev = d
	origin, _ := push.Origin(f.s.opts.URL)
	skew := now.Sub(time.Unix(pc.IAT, 0))
	switch {
	case !d.RevokedAt.IsZero():
		return refuse("device revoked", errProofRefused)
	case pc.Audience != f.s.opts.URL:
		return refuse("wrong audience", errProofRefused)
	case pc.Origin != origin:
		// The page that asked the app was not this server's: a relay.
		return refuse("origin "+truncate(pc.Origin, 200), apiErr(http.StatusUnauthorized, "proof_refused",
			"the Assent app was asked by a page that is not %s; sign in only on %s", origin, origin))
	case subtle.ConstantTimeCompare([]byte(pc.ID), []byte(sd.ID)) != 1:
		return refuse("another challenge", errProofRefused)
	case skew > time.Minute || skew < -time.Minute:
		return refuse("iat too far from the server clock", errProofRefused)
	case sd.UV == policy.UVRequired && !pc.UV:
		return refuse("user not verified", apiErr(http.StatusForbidden, "verification_required",
			"this sign-in needs you to unlock the Assent app (its PIN or passphrase); set an app lock in the app and try again"))
	}
	f.s.audit(f.ctx, store.AuditEvent{Type: "samedevice.ok", UserID: u.ID, DeviceID: d.ID, TxID: f.tx.ID, ClientIP: f.meta.ip,
		Detail: map[string]string{"uv": strconv.FormatBool(pc.UV)}})
	next := f.st
	next.SameDevice = nil
	next.Done = append(slices.Clone(next.Done), sdk.AuthSameDevice)
	next.PRUV = next.PRUV || pc.UV
	return f.next(next, u)
}

package server

// The engine's side of passkeys: sign-in with an assertion (a second
// factor, or instead of a login with a discoverable credential) and adding
// a passkey in an enroll transaction. The WebAuthn ceremonies themselves
// are in webauthn.go.

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

// passkeysOn says whether this server can use passkeys: its URL must be one
// a browser accepts as a relying party (a domain name, or localhost; not an
// IP address).
func (s *Server) passkeysOn() bool {
	_, err := s.webAuthn()
	return err == nil
}

// uvWanted is the user verification a passkey is asked for here.
func (f *flow) uvWanted() string {
	if (f.st.Kind == sdk.KindSignIn || f.st.Reset) && f.st.Decision != nil && f.st.Decision.UserVerification == policy.UVRequired {
		return policy.UVRequired
	}
	return policy.UVPreferred
}

var errPasskeyNotAllowed = apiErr(http.StatusForbidden, "verification_required",
	"this sign-in needs your passkey to verify you (its PIN or biometric); use a passkey or security key that can")

// passkeyStep gives a passkey result to the transaction as its factor.
func passkeyStep(st txState, r passkeyResult) txState {
	next := st
	next.Passkey = nil
	next.Done = append(slices.Clone(next.Done), sdk.AuthWebAuthn)
	next.PRUV = next.PRUV || r.UV
	next.HWK = next.HWK || !r.BackupEligible
	return next
}

// checkPasskey takes an assertion as the possession factor of a
// transaction whose login is known.
func (f *flow) checkPasskey(credential json.RawMessage) (*sdk.Response, error) {
	u, known, err := f.user()
	if err != nil {
		return nil, err
	}
	if f.st.Passkey == nil {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "no passkey request is waiting; choose webauthn first")
	}
	if !f.st.proven() {
		if err := f.s.allowRequest(f.meta.ip); err != nil {
			return nil, err
		}
	}
	var who, askFor *store.User
	if known {
		who = &u
		if f.st.proven() {
			askFor = &u
		}
	}
	r, err := f.s.finishPasskeyLogin(f.ctx, who, f.st.Passkey.Session, credential)
	if err != nil {
		f.audit("passkey.refused", nil)
		return f.renewPasskey(askFor, f.uvWanted(), err)
	}
	if !known || r.UserID != u.ID {
		// A passkey of another account (or an unknown login's).
		f.s.audit(f.ctx, store.AuditEvent{Type: "passkey.refused", UserID: r.UserID, TxID: f.tx.ID, ClientIP: f.meta.ip,
			Detail: map[string]string{"reason": "passkey of another account", "credential": r.CredentialID}})
		return f.renewPasskey(askFor, f.uvWanted(), errPasskeyRefused)
	}
	if f.uvWanted() == policy.UVRequired && !r.UV {
		f.audit("passkey.refused", map[string]string{"reason": "user not verified", "credential": r.CredentialID})
		return f.renewPasskey(askFor, f.uvWanted(), errPasskeyNotAllowed)
	}
	return f.next(passkeyStep(f.st, r), u)
}

// identifyPasskey signs in with a discoverable credential instead of a
// login: the user is the credential's, and the app's rule then asks what
// the passkey does not meet.
func (f *flow) identifyPasskey(credential json.RawMessage) (*sdk.Response, error) {
	if err := f.s.allowRequest(f.meta.ip); err != nil {
		return nil, err
	}
	if f.st.Passkey == nil {
		return nil, apiErr(http.StatusBadRequest, "bad_request", "this server offers no passkey sign-in here; give a login")
	}
	r, err := f.s.finishPasskeyLogin(f.ctx, nil, f.st.Passkey.Session, credential)
	if err != nil {
		f.audit("passkey.refused", nil)
		return f.renewPasskey(nil, policy.UVPreferred, err)
	}
	u, err := f.s.st.GetUser(f.ctx, r.UserID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Status != store.UserActive) {
		return f.renewPasskey(nil, policy.UVPreferred, errPasskeyRefused)
	} else if err != nil {
		return nil, f.s.internal("passkey sign-in: load user", err)
	}
	next := f.identified(sdk.KindSignIn, u.Login, u, true)
	if next.Decision.UserVerification == policy.UVRequired && !r.UV {
		f.s.audit(f.ctx, store.AuditEvent{Type: "passkey.refused", UserID: u.ID, TxID: f.tx.ID, ClientIP: f.meta.ip,
			Detail: map[string]string{"reason": "user not verified", "credential": r.CredentialID}})
		f.userID = ""
		return f.renewPasskey(nil, policy.UVPreferred, errPasskeyNotAllowed)
	}
	next = passkeyStep(next, r)
	return f.next(next, u)
}

// renewPasskey gives the transaction new passkey options after a refused
// answer (whose challenge may be spent), so the person can try again on
// the same page, then answers err.
func (f *flow) renewPasskey(who *store.User, uv string, err error) (*sdk.Response, error) {
	opts, session, berr := f.s.beginPasskeyLogin(f.ctx, who, uv)
	if berr != nil {
		return nil, err
	}
	next := f.st
	next.Passkey = &passkeyState{Options: opts, Session: session}
	if _, merr := f.move(next); merr != nil {
		return nil, merr
	}
	return nil, err
}

// enrollPasskey finishes adding a passkey: the browser's attestation for
// the options the transaction made.
func (f *flow) enrollPasskey(req sdk.Request) (*sdk.Response, error) {
	u, known, err := f.user()
	if err != nil {
		return nil, err
	}
	if !known || f.st.Passkey == nil {
		return nil, errInternal
	}
	if len(req.Credential) == 0 {
		// Asked again (a page reloaded): the same options.
		return f.s.respond(f.ctx, f.handle, f.tx, f.st)
	}
	pk, err := f.s.finishPasskeyRegistration(f.ctx, u, f.st.Passkey.Session, req.Credential, req.Name)
	if err != nil {
		return nil, err
	}
	f.s.announcePasskey(f.ctx, u, pk)
	f.audit("enroll.passkey", map[string]string{"credential": pk.ID, "name": pk.Name})
	next := f.st
	next.Passkey = nil
	return f.succeed(next, u)
}

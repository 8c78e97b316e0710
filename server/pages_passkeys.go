package server

// The hosted pages' passkeys: the browser's answer taken from a form, and
// adding and removing passkeys on the account page and in the admin area.
// The ceremonies run in passkey.js (navigator.credentials.get/create with
// the options the engine answered); the pages only carry JSON both ways.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/store"
)

// maxCredentialJSON bounds the browser's answer (a few kilobytes in
// practice; attestation certificates make it larger).
const maxCredentialJSON = 32 << 10

// takeCredential puts the form's "credential" (the browser's
// PublicKeyCredential as JSON) into req. A value that is not JSON is
// answered on the step page at once, and it says false.
func (p *pages) takeCredential(w http.ResponseWriter, r *http.Request, t *pageTx, req *sdk.Request) bool {
	raw := r.PostForm.Get("credential")
	if raw == "" {
		return true
	}
	if len(raw) > maxCredentialJSON || !json.Valid([]byte(raw)) {
		t.Flash = &flash{Code: "passkey_unreadable", Message: errPasskeyUnreadable.Message}
		p.saveTx(w, t)
		http.Redirect(w, r, pathStep, http.StatusSeeOther)
		return false
	}
	req.Credential = json.RawMessage(raw)
	return true
}

// handleAddPasskey starts an enroll transaction that adds a passkey: a
// device or passkey the user has agrees first, then the browser makes the
// passkey on its page.
func (p *pages) handleAddPasskey(w http.ResponseWriter, r *http.Request) {
	_, _, tok, ok := p.signedInFor(w, r, AppAccount)
	if !ok {
		return
	}
	if !p.checkPost(w, r, sessionBinding(tok)) {
		p.csrfRefused(w)
		return
	}
	dev := p.deviceID(w, r)
	resp, err := p.s.Step(r.Context(), "interact", sdk.Request{App: AppAccount, Kind: sdk.KindEnroll, SessionToken: tok, Device: dev,
		Authenticator: sdk.AuthWebAuthn}, p.meta(r, dev))
	if err != nil {
		http.Redirect(w, r, PathAccount+"?error="+url.QueryEscape(flashOf(err).Code), http.StatusSeeOther)
		return
	}
	t := &pageTx{Handle: resp.StateHandle, Kind: sdk.KindEnroll, App: AppAccount, Return: PathAccount + "?passkey=added", Passkey: true}
	http.Redirect(w, r, p.settle(w, r, t, resp, nil), http.StatusSeeOther)
}

// handleRemovePasskey removes one of the signed-in user's passkeys.
func (p *pages) handleRemovePasskey(w http.ResponseWriter, r *http.Request) {
	_, u, tok, ok := p.signedInFor(w, r, AppAccount)
	if !ok {
		return
	}
	if !p.checkPost(w, r, sessionBinding(tok)) {
		p.csrfRefused(w)
		return
	}
	err := p.s.removePasskeyBy(r.Context(), u.ID, r.PathValue("id"), "user")
	switch {
	case errors.Is(err, errPasskeyNotFound):
		http.Redirect(w, r, PathAccount+"?error=no_passkey", http.StatusSeeOther)
	case err != nil:
		p.writeFailed(w, "hosted pages: remove passkey", err, "The passkey could not be removed. Try again.", PathAccount, "Back to your account")
	default:
		http.Redirect(w, r, PathAccount+"?passkey=removed", http.StatusSeeOther)
	}
}

// handleAdminRemovePasskey removes a user's passkey (admin).
func (p *pages) handleAdminRemovePasskey(w http.ResponseWriter, r *http.Request) {
	me, _, ok := p.adminPost(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	g, err := p.s.st.GetGrant(r.Context(), id)
	if err != nil || g.Kind != kindPasskey {
		p.notFound(w)
		return
	}
	if err := p.s.removePasskeyBy(r.Context(), g.UserID, id, "admin "+me.Login); errors.Is(err, errPasskeyNotFound) {
		p.notFound(w)
		return
	} else if err != nil {
		p.writeFailed(w, "hosted pages: remove passkey", err, "The passkey could not be removed. Try again.", PathAdmin, "Back to users")
		return
	}
	http.Redirect(w, r, PathAdmin+"?passkey-removed="+url.QueryEscape(id), http.StatusSeeOther)
}

// removedPasskeyNotice says which passkey an admin just removed.
func (p *pages) removedPasskeyNotice(r *http.Request, id string) string {
	g, err := p.s.st.GetGrant(r.Context(), id)
	if err != nil || g.Kind != kindPasskey || g.RevokedAt.IsZero() {
		return ""
	}
	var rec passkeyRecord
	if json.Unmarshal(g.Data, &rec) != nil {
		return ""
	}
	return fmt.Sprintf("The passkey %q was removed: it no longer signs in.", rec.Name)
}

// userPasskeys lists a user's passkeys for a page; a failure is logged
// and shows as none.
func (p *pages) userPasskeys(r *http.Request, u store.User) []Passkey {
	pks, err := p.s.listPasskeys(r.Context(), u.ID)
	if err != nil {
		return nil
	}
	return pks
}

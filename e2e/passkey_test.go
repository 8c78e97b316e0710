package e2e

// Passkeys in the hosted pages, end to end: Chromium's virtual
// authenticator (the DevTools WebAuthn domain) makes and uses real
// credentials against a real assentd, whose pages run passkey.js. The
// server's URL is http://localhost:PORT: browsers refuse an IP address as
// a WebAuthn relying party, and treat localhost as a secure context.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

const kindPasskey = "webauthn.credential"

// newPasskeyEnv is newEnv with the server at localhost.
func newPasskeyEnv(t *testing.T, opts ...func(*server.Options)) *env {
	t.Helper()
	opts = append(opts, func(o *server.Options) {
		o.URL = strings.Replace(o.URL, "http://127.0.0.1:", "http://localhost:", 1)
	})
	e := newEnv(t, opts...)
	e.url = strings.Replace(e.url, "http://127.0.0.1:", "http://localhost:", 1)
	return e
}

// authenticator is a virtual authenticator in a browser tab.
type authenticator struct {
	b  *browser
	id webauthn.AuthenticatorID
}

// addAuthenticator adds a platform authenticator (CTAP2, internal, with
// resident keys and user verification) to the tab; verified says whether
// its user verification succeeds.
func (b *browser) addAuthenticator(verified bool) *authenticator {
	b.t.Helper()
	a := &authenticator{b: b}
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		res, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
				IsUserVerified: verified, AutomaticPresenceSimulation: true,
			}})
		a.id = res.AuthenticatorID
		return err
	}))
	return a
}

func (a *authenticator) setUserVerified(v bool) {
	a.b.t.Helper()
	a.b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, webauthn.SetUserVerified, webauthn.SetUserVerifiedParams{AuthenticatorID: a.id, IsUserVerified: v})
		return err
	}))
}

// badUV makes the authenticator clear the UV flag in what it answers,
// though it verified the person: what a client that lies looks like.
func (a *authenticator) badUV(on bool) {
	a.b.t.Helper()
	a.b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: a.id, IsBadUV: &on})
		return err
	}))
}

func (a *authenticator) credentials() []*webauthn.Credential {
	a.b.t.Helper()
	var out []*webauthn.Credential
	a.b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		res, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: a.id})
		out = res.Credentials
		return err
	}))
	return out
}

// addCredentialParams is WebAuthn.addCredential's parameters without the
// credential manager's keys: cdproto always sends
// generateCmtgKeyOnNextOperation, which authenticators without that
// extension refuse.
type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      struct {
		CredentialID         []byte  `json:"credentialId"`
		IsResidentCredential bool    `json:"isResidentCredential"`
		RpID                 string  `json:"rpId"`
		PrivateKey           []byte  `json:"privateKey"`
		UserHandle           []byte  `json:"userHandle,omitempty"`
		SignCount            float64 `json:"signCount"`
		BackupEligibility    bool    `json:"backupEligibility"`
		BackupState          bool    `json:"backupState"`
	} `json:"credential"`
}

var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

func (a *authenticator) addCredential(c *webauthn.Credential) {
	a.b.t.Helper()
	p := addCredentialParams{AuthenticatorID: a.id}
	p.Credential.CredentialID, p.Credential.IsResidentCredential, p.Credential.RpID = c.CredentialID, c.IsResidentCredential, c.RpID
	p.Credential.PrivateKey, p.Credential.UserHandle, p.Credential.SignCount = c.PrivateKey, c.UserHandle, c.SignCount
	p.Credential.BackupEligibility, p.Credential.BackupState = c.BackupEligibility, c.BackupState
	a.b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, addCredential, p)
		return err
	}))
}

func (a *authenticator) removeCredential(id []byte) {
	a.b.t.Helper()
	a.b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, webauthn.RemoveCredential, webauthn.RemoveCredentialParams{AuthenticatorID: a.id, CredentialID: id})
		return err
	}))
}

func (a *authenticator) remove() {
	a.b.t.Helper()
	a.b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: a.id})
		return err
	}))
}

// inject runs js in every page the tab loads from now on, before the
// page's own scripts.
// It says how to stop.
func (b *browser) inject(js string) (undo func()) {
	b.t.Helper()
	var id page.ScriptIdentifier
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		res, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		id = res.Identifier
		return err
	}))
	return func() {
		b.t.Helper()
		b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams{Identifier: id})
			return err
		}))
	}
}

// noAutofill stands for a person who types the login rather than pick a
// passkey in the login field's autofill. (Chromium's virtual authenticator
// answers a conditional request at once, as if the person had picked it.)
func (b *browser) noAutofill() (undo func()) {
	b.t.Helper()
	return b.inject(`if (window.PublicKeyCredential) {
	  PublicKeyCredential.isConditionalMediationAvailable = function () { return Promise.resolve(false); };
	}`)
}

// passkeys are the user's live credential grants in the store.
func (e *env) passkeys(userID string) []store.Grant {
	e.t.Helper()
	gs, err := e.st.ListGrants(e.ctx, store.GrantFilter{Kind: kindPasskey, UserID: userID, Live: e.clock.Now()})
	if err != nil {
		e.t.Fatal(err)
	}
	return gs
}

// addPasskey adds a passkey from the account page of a signed-in user
// whose device d agrees first.
func (b *browser) addPasskey(d *core.Core, name string) {
	b.t.Helper()
	b.open("/account")
	b.page("account")
	b.click("add-passkey")
	b.page("select")
	if lead := b.text(".lead"); !strings.Contains(lead, "new passkey") {
		b.t.Fatalf("the confirmation page says %q", lead)
	}
	b.click("choose-push")
	b.approve(d, b.pushNumber())
	b.page("passkey-add")
	b.fill("passkey-name", name)
	b.click("passkey-create")
	b.page("account")
}

// signOut signs the browser out.
func (b *browser) signOut() {
	b.t.Helper()
	b.open("/signout")
	b.page("signout")
	b.click("signout")
	b.page("message")
}

// usePasskey presses the passkey page's button, which loads the next page.
func (b *browser) usePasskey() {
	b.t.Helper()
	b.page("passkey")
	b.do(chromedp.WaitVisible(chromedp.ID("passkey-go")))
	b.click("passkey-go")
}

// passkeyError waits for the message passkey.js or the server shows.
func (b *browser) passkeyError() string {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS("#passkey-error, #error")))
	return b.eval(`(function () {
	  var el = document.getElementById('error');
	  if (el) { return el.innerText; }
	  return document.getElementById('passkey-error').innerText;
	}())`)
}

// sessionAMR is what the browser's session proves.
func (b *browser) sessionAMR() []string {
	b.t.Helper()
	c := b.cookie("assent-session")
	if c == nil {
		b.t.Fatal("no session cookie")
	}
	su, err := b.e.api().Session(b.e.ctx, c.Value)
	if err != nil {
		b.t.Fatalf("the browser's session: %v", err)
	}
	return su.AMR
}

func TestBrowserPasskeyAddedFromTheAccountPageSignsInAsASecondFactor(t *testing.T) {
	sink := &server.MailSink{}
	e := newPasskeyEnv(t, withMail(sink))
	u, d, _ := e.enrolled("ana")
	b := newBrowser(t, e)
	b.noAutofill()
	auth := b.addAuthenticator(true)
	b.signIn("ana", d)
	if got := b.text("#passkeys"); !strings.Contains(got, "No passkey yet") {
		t.Fatalf("the account page's passkeys before adding one: %q", got)
	}

	b.addPasskey(d, "Ana's laptop")
	if n := b.text("#notice"); !strings.Contains(n, "passkey was added") {
		t.Fatalf("notice = %q", n)
	}
	list := b.text("#passkeys")
	if !strings.Contains(list, "Ana's laptop") || !strings.Contains(list, "Device-bound") || !strings.Contains(list, "Last used —") {
		t.Fatalf("the account page lists %q", list)
	}
	gs := e.passkeys(u.ID)
	creds := auth.credentials()
	if len(gs) != 1 || len(creds) != 1 || gs[0].Lookup != base64.RawURLEncoding.EncodeToString(creds[0].CredentialID) {
		t.Fatalf("store %+v, authenticator %+v", gs, creds)
	}
	if !creds[0].IsResidentCredential {
		t.Fatal("the passkey is not discoverable")
	}
	if got := e.auditTypes(u.ID); !slices.Contains(got, "passkey.registered") {
		t.Fatalf("audit = %v", got)
	}
	// The user is told, by mail (and the device by a notice).
	if ms := sink.Messages(); len(ms) == 0 || !strings.Contains(ms[len(ms)-1].Subject, "passkey was added") {
		t.Fatalf("mails = %+v", ms)
	}

	// Password, then the passkey instead of a push.
	b.signOut()
	b.toChoice("ana", "correct horse battery")
	if !b.exists("#choose-webauthn") {
		t.Fatal("the choice page offers no passkey")
	}
	if title := b.text("#choose-webauthn .choice-title"); title != "Use a passkey or security key" {
		t.Fatalf("passkey choice = %q", title)
	}
	b.click("choose-webauthn")
	b.usePasskey()
	b.page("account")
	amr := b.sessionAMR()
	if !slices.Contains(amr, "pwd") || !slices.Contains(amr, "hwk") {
		t.Fatalf("amr = %v, want pwd and hwk (a device-bound passkey)", amr)
	}
	if !strings.Contains(b.text("#passkeys"), "Last used") || strings.Contains(b.text("#passkeys"), "Last used —") {
		t.Fatalf("the passkey's last use is not shown: %q", b.text("#passkeys"))
	}
	if got := e.auditTypes(u.ID); !slices.Contains(got, "passkey.used") {
		t.Fatalf("audit = %v", got)
	}
}

// press clicks a button that may not load a page (a ceremony the browser
// refuses shows its message in place).
func (b *browser) press(id string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.ID(id)), chromedp.Click(chromedp.ID(id)))
}

func TestBrowserPasskeyWithoutUserVerificationIsRefusedWhereTheRuleRequiresIt(t *testing.T) {
	e := newPasskeyEnv(t, withPolicy(t, `
signOn:
  - name: Intranet verifies the person
    conditions: {apps: [intranet]}
    action: {factors: 2, userVerification: required}
  - name: Default
    action: {factors: 2, reauthenticate: 15m}
`))
	u, d, _ := e.enrolled("ana")
	b := newBrowser(t, e)
	b.noAutofill()
	auth := b.addAuthenticator(true)
	b.signIn("ana", d)
	b.addPasskey(d, "laptop")
	b.signOut()

	toPasskey := func() {
		b.toPassword("intranet", "ana")
		b.fill("passcode", "correct horse battery")
		b.click("verify")
		b.page("select")
		b.click("choose-webauthn")
		b.page("passkey")
	}
	// The authenticator cannot verify the person: the browser refuses
	// the request the server made with userVerification required.
	auth.setUserVerified(false)
	toPasskey()
	b.press("passkey-go")
	if msg := b.passkeyError(); !strings.Contains(msg, "not used") {
		t.Fatalf("unverified passkey message = %q", msg)
	}
	b.page("passkey")

	// A client that claims no verification is refused by the server.
	auth.setUserVerified(true)
	auth.badUV(true)
	b.click("passkey-go")
	b.page("passkey")
	if msg := b.errorText(); !strings.Contains(msg, "did not check that it is you") {
		t.Fatalf("the server's refusal = %q", msg)
	}
	if b.cookie("assent-session") != nil {
		t.Fatal("a session was made without the person verified")
	}

	// Verified: accepted.
	auth.badUV(false)
	b.click("passkey-go")
	b.page("account")
	amr := b.sessionAMR()
	if !slices.Contains(amr, "hwk") || !slices.Contains(amr, "user") {
		t.Fatalf("amr = %v, want hwk and user", amr)
	}
	if got := e.auditTypes(u.ID); !slices.Contains(got, "passkey.used") {
		t.Fatalf("audit = %v", got)
	}
}

func TestBrowserPasskeySignsInWithoutALogin(t *testing.T) {
	e := newPasskeyEnv(t)
	u, d, _ := e.enrolled("ana")
	b := newBrowser(t, e)
	autofill := b.noAutofill()
	b.addAuthenticator(true)
	b.signIn("ana", d)
	b.addPasskey(d, "laptop")
	b.signOut()
	// Keep what the page posts, to replay it.
	b.inject(`(function () {
	  var submit = HTMLFormElement.prototype.submit;
	  HTMLFormElement.prototype.submit = function () {
	    var f = this.querySelector('input[name=credential]');
	    if (f && f.value) { localStorage.setItem('captured-credential', f.value); }
	    return submit.call(this);
	  };
	}())`)

	// The same server under another origin (a relaying site would be yet
	// another): the browser does not use the passkey there at all.
	b.do(chromedp.Navigate(strings.Replace(e.url, "localhost", "127.0.0.1", 1) + "/signin"))
	b.page("signin")
	b.press("passkey-signin")
	if msg := b.passkeyError(); !strings.Contains(msg, "refused passkeys for this site") {
		t.Fatalf("a passkey on another origin: %q", msg)
	}

	// The button.
	b.open("/signin")
	b.page("signin")
	if ac := b.eval(`document.getElementById('login').getAttribute('autocomplete')`); ac != "username webauthn" {
		t.Fatalf("the login field's autocomplete = %q", ac)
	}
	b.click("passkey-signin")
	b.page("account")
	if got := b.text("#account-login"); got != "ana" {
		t.Fatalf("signed in as %q", got)
	}
	amr := b.sessionAMR()
	if slices.Contains(amr, "pwd") || !slices.Contains(amr, "hwk") || !slices.Contains(amr, "user") {
		t.Fatalf("amr = %v, want hwk and user without pwd", amr)
	}
	e.srv.WaitBackground()
	if ps, err := d.Challenges(e.ctx); err != nil || len(ps) != 0 {
		t.Fatalf("a passwordless passkey sign-in sent pushes: %v, %v", ps, err)
	}

	// What the browser posted is good for that sign-in only: another
	// transaction (over the JSON API) refuses it.
	captured := b.eval(`localStorage.getItem('captured-credential') || ''`)
	if !strings.Contains(captured, `"authenticatorData"`) || !strings.Contains(captured, `"userHandle"`) {
		t.Fatalf("the page posted %q", captured)
	}
	tx, err := e.api().Interact(e.ctx, "intranet")
	if err != nil {
		t.Fatal(err)
	}
	_, err = tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Credential: json.RawMessage(captured)})
	wantCode(t, err, "passkey_refused")

	// The login field's autofill: picking the passkey there signs in.
	b.signOut()
	autofill()
	b.open("/signin")
	b.page("account")
	if got := b.text("#account-login"); got != "ana" {
		t.Fatalf("signed in through the autofill as %q", got)
	}
	if n := strings.Count(strings.Join(e.auditTypes(u.ID), " "), "passkey.used"); n != 2 {
		t.Fatalf("passkey.used %d times, want 2", n)
	}
}

func TestBrowserCopiedPasskeyIsRefusedAndTurnedOff(t *testing.T) {
	e := newPasskeyEnv(t)
	u, d, _ := e.enrolled("ana")
	b := newBrowser(t, e)
	b.noAutofill()
	original := b.addAuthenticator(true)
	b.signIn("ana", d)
	b.addPasskey(d, "laptop")
	b.signOut()
	// Used once: the server has seen its counter move on.
	b.open("/signin")
	b.page("signin")
	b.click("passkey-signin")
	b.page("account")
	b.signOut()

	// A copy of the key, its counter behind the original's, in another
	// authenticator.
	creds := original.credentials()
	if len(creds) != 1 || creds[0].SignCount < 1 {
		t.Fatalf("exported credentials = %+v", creds)
	}
	copied := *creds[0]
	copied.SignCount = 0
	original.remove()
	clone := b.addAuthenticator(true)
	clone.addCredential(&copied)

	b.open("/signin")
	b.page("signin")
	b.click("passkey-signin")
	b.page("signin")
	if msg := b.errorText(); !strings.Contains(msg, "turned off") || !strings.Contains(msg, "copied") {
		t.Fatalf("copied passkey message = %q", msg)
	}
	if b.cookie("assent-session") != nil {
		t.Fatal("the copy signed in")
	}
	if got := e.auditTypes(u.ID); !slices.Contains(got, "passkey.clone_detected") {
		t.Fatalf("audit = %v", got)
	}
	// The passkey stays off, even for the original's next counter; the
	// account page says so.
	clone.remove()
	b.addAuthenticator(true).addCredential(creds[0])
	b.open("/signin")
	b.page("signin")
	b.click("passkey-signin")
	b.page("signin")
	if msg := b.errorText(); !strings.Contains(msg, "turned off") {
		t.Fatalf("the original after the copy = %q", msg)
	}
	b.signIn("ana", d)
	gs := e.passkeys(u.ID)
	if len(gs) != 1 || !b.exists("#passkey-disabled-"+gs[0].ID) {
		t.Fatalf("the account page does not show the passkey turned off: %q", b.text("#passkeys"))
	}
}

func TestBrowserRemovedPasskeyNoLongerSignsIn(t *testing.T) {
	e := newPasskeyEnv(t)
	u, d, _ := e.enrolled("ana")
	b := newBrowser(t, e)
	b.noAutofill()
	b.addAuthenticator(true)
	b.signIn("ana", d)
	b.addPasskey(d, "laptop")
	gs := e.passkeys(u.ID)
	if len(gs) != 1 {
		t.Fatalf("passkeys = %+v", gs)
	}
	id := gs[0].ID

	// A forged removal (no token, a wrong one, another site) is refused.
	sess := b.cookie("assent-session")
	csrf := b.eval(`document.querySelector('#passkey-` + id + ` input[name=csrf]').value`)
	// The real token with its first character changed (to "x", or to "y"
	// when it already is an "x": one token in 64 starts with it).
	forged := "x" + csrf[1:]
	if forged == csrf {
		forged = "y" + csrf[1:]
	}
	for _, tc := range []struct{ name, token, origin string }{
		{"no token", "", ""}, {"a forged token", forged, ""}, {"another site", csrf, "https://evil.example"},
	} {
		if code := forgedPost(t, e.url+"/account/passkeys/"+id+"/remove", sess.Name+"="+sess.Value, tc.token, tc.origin); code != 403 {
			t.Errorf("%s: a forged removal = %d, want 403", tc.name, code)
		}
	}
	if len(e.passkeys(u.ID)) != 1 {
		t.Fatal("a forged post removed the passkey")
	}

	b.click("remove-passkey-" + id)
	b.page("account")
	if n := b.text("#notice"); !strings.Contains(n, "passkey was removed") {
		t.Fatalf("notice = %q", n)
	}
	if got := b.text("#passkeys"); !strings.Contains(got, "No passkey yet") {
		t.Fatalf("passkeys after removal = %q", got)
	}
	if got := e.auditTypes(u.ID); !slices.Contains(got, "passkey.removed") {
		t.Fatalf("audit = %v", got)
	}
	b.signOut()

	// The authenticator still holds it; the server no longer takes it.
	b.open("/signin")
	b.page("signin")
	b.click("passkey-signin")
	b.page("signin")
	if msg := b.errorText(); !strings.Contains(msg, "not registered here") {
		t.Fatalf("removed passkey message = %q", msg)
	}
	// After the password, no passkey is offered.
	b.toChoice("ana", "correct horse battery")
	if b.exists("#choose-webauthn") {
		t.Fatal("a passkey is offered to a user who removed theirs")
	}
}

func TestBrowserPasskeyOfOneUserDoesNotSignInAnother(t *testing.T) {
	e := newPasskeyEnv(t)
	ana, dAna, _ := e.enrolled("ana")
	ben, dBen, _ := e.enrolled("ben")
	b := newBrowser(t, e)
	b.noAutofill()
	auth := b.addAuthenticator(true)
	b.signIn("ana", dAna)
	b.addPasskey(dAna, "ana's")
	b.signOut()
	b.signIn("ben", dBen)
	b.addPasskey(dBen, "ben's")
	b.signOut()
	// The browser keeps only Ana's passkey.
	gs := e.passkeys(ben.ID)
	if len(gs) != 1 {
		t.Fatalf("ben's passkeys = %+v", gs)
	}
	benCred, err := base64.RawURLEncoding.DecodeString(gs[0].Lookup)
	if err != nil {
		t.Fatal(err)
	}
	auth.removeCredential(benCred)
	// A page that strips allowCredentials, so that the authenticator
	// answers Ben's challenge with Ana's credential.
	b.inject(`(function () {
	  var get = navigator.credentials.get.bind(navigator.credentials);
	  navigator.credentials.get = function (o) {
	    if (o && o.publicKey) { o.publicKey.allowCredentials = []; }
	    return get(o);
	  };
	}())`)

	b.toChoice("ben", "correct horse battery")
	b.click("choose-webauthn")
	b.page("passkey")
	b.click("passkey-go")
	b.page("passkey")
	if msg := b.errorText(); !strings.Contains(msg, "not accepted") {
		t.Fatalf("ana's passkey for ben = %q", msg)
	}
	if b.cookie("assent-session") != nil {
		t.Fatal("ana's passkey signed ben in")
	}
	for _, typ := range append(e.auditTypes(ana.ID), e.auditTypes(ben.ID)...) {
		if typ == "passkey.used" {
			t.Fatal("a passkey was used")
		}
	}
}

func TestBrowserAdminRemovesAPasskey(t *testing.T) {
	e := newPasskeyEnv(t)
	hana, hers, _ := e.enrolled("hana")
	if _, err := e.srv.AddUser(e.ctx, server.NewUser{Login: "root", Password: "correct horse battery", Email: "root@example.com", Groups: []string{"admins"}}); err != nil {
		t.Fatal(err)
	}
	admin := e.device("root-phone")
	if _, err := admin.Enroll(e.ctx, e.link("root")); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e)
	b.noAutofill()
	b.addAuthenticator(true)
	b.signIn("hana", hers)
	b.addPasskey(hers, "hana's key")
	b.signOut()
	id := e.passkeys(hana.ID)[0].ID

	b.signIn("root", admin)
	b.open("/admin")
	b.page("admin")
	if row := b.text("#passkeys-hana"); !strings.Contains(row, "hana's key") || !strings.Contains(row, "device-bound") {
		t.Fatalf("hana's passkeys in the admin area = %q", row)
	}
	// Without the page's token the removal is refused.
	sess := b.cookie("assent-session")
	if code := forgedPost(t, e.url+"/admin/passkeys/"+id+"/remove", sess.Name+"="+sess.Value, "", ""); code != 403 {
		t.Fatalf("a forged admin removal = %d, want 403", code)
	}
	b.click("remove-passkey-" + id)
	b.page("admin")
	if n := b.text("#notice"); !strings.Contains(n, "hana's key") {
		t.Fatalf("notice = %q", n)
	}
	if len(e.passkeys(hana.ID)) != 0 {
		t.Fatal("the passkey is still live in the store")
	}
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{UserID: hana.ID})
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != "passkey.removed" || last.Detail["by"] != "admin root" {
		t.Fatalf("last audit event = %+v", last)
	}
}

// forgedPost posts a form with a cookie, a CSRF token and an Origin, and
// says the status (redirects not followed).
func forgedPost(t *testing.T, target, cookie, csrf, origin string) int {
	t.Helper()
	form := url.Values{}
	if csrf != "" {
		form.Set("csrf", csrf)
	}
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", cookie)
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestBrowserPasskeyPageWithoutJavaScriptOffersTheOtherWays(t *testing.T) {
	e := newPasskeyEnv(t)
	_, d, _ := e.enrolled("ana")
	b := newBrowser(t, e)
	b.noAutofill()
	b.addAuthenticator(true)
	b.signIn("ana", d)
	b.addPasskey(d, "laptop")
	b.signOut()
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	b.toChoice("ana", "correct horse battery")
	b.click("choose-webauthn")
	b.page("passkey")
	if msg := b.text("#passkey-noscript"); !strings.Contains(msg, "Passkeys need JavaScript") {
		t.Fatalf("without JavaScript the passkey page says %q", msg)
	}
	if visible := b.eval(`document.getElementById('passkey-go').hidden ? 'hidden' : 'shown'`); visible != "hidden" {
		t.Fatal("without JavaScript the passkey button is shown, and would do nothing")
	}
	b.click("use-push")
	n := b.pushNumber()
	b.approve(d, n)
	b.click("check")
	b.page("account")
}

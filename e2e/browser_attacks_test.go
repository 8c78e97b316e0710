package e2e

// The hosted pages under attack, in a real browser: sessions that prove
// too little, sessions that were ended, recovery as a back door.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/seed-3a5b824e/assent/server"
)

const wikiPolicy = `
signOn:
  - name: Wiki with a password
    conditions: {apps: [wiki]}
    action: {factors: 1, reauthenticate: 8h}
  - name: Default
    action: {factors: 2, reauthenticate: 8h}
`

// addAdmin makes an administrator with a device.
func (e *env) addAdmin(login string) {
	e.t.Helper()
	if _, err := e.srv.AddUser(e.ctx, server.NewUser{Login: login, Password: "correct horse battery", Email: login + "@example.com",
		Groups: []string{server.AdminGroup}}); err != nil {
		e.t.Fatal(err)
	}
}

func TestBrowserPasswordOnlySessionStepsUpForTheAccountAndTheAdminArea(t *testing.T) {
	e := newEnv(t, withPolicy(t, wikiPolicy))
	e.addAdmin("root")
	d := e.device("root-phone")
	if _, err := d.Enroll(e.ctx, e.link("root")); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e)
	// The wiki lets root in with the password alone...
	b.toPassword("wiki", "root")
	b.fill("passcode", "correct horse battery")
	b.click("verify")
	if b.cookie("assent-session") == nil {
		t.Fatal("no session after the wiki sign-in")
	}
	// ...but that session does not open the account page: its rule wants
	// two factors, so the browser is sent to sign in to it, and only the
	// missing factor is asked.
	b.page("signin")
	if got := run(b, chromedp.Value(chromedp.ID("login"))); got != "root" {
		t.Fatalf("the step-up's login field = %q, want the signed-in user", got)
	}
	b.click("next")
	b.page("select")

	// Nor the admin area.
	b.open("/admin")
	b.page("signin")
	if p := b.path(); p != "/signin" {
		t.Fatalf("/admin with a password-only session went to %s", p)
	}
	b.click("next")
	b.click("choose-push")
	b.approve(d, b.pushNumber())
	b.page("admin")

	// Fifteen minutes on, the admin area wants a fresh sign-in, password
	// first, even though the session has hours left.
	e.clock.Advance(16 * time.Minute)
	b.open("/admin")
	b.page("signin")
	b.click("next")
	b.page("password")
	// The account page is still fine with it.
	b.open("/account")
	b.page("account")
}

func TestBrowserRecoveryAloneNeverOpensTheAdminArea(t *testing.T) {
	sink := &server.MailSink{}
	e := newEnv(t, withMail(sink), withDev)
	e.addAdmin("root")
	d := e.device("root-phone")
	if _, err := d.Enroll(e.ctx, e.link("root")); err != nil {
		t.Fatal(err)
	}
	// Someone who reads root's mail resets the password from the admin
	// area's sign-in.
	b := newBrowser(t, e)
	b.open("/recover?app=admin&return=/admin")
	b.page("recover")
	b.fill("login", "root")
	b.click("next")
	b.page("select")
	b.click("choose-email")
	b.page("email")
	if msg := b.text("#email-message"); strings.Contains(msg, "r•••") {
		t.Fatalf("the email page names the address before any factor: %q", msg)
	}
	e.srv.WaitBackground()
	mail := b.tab()
	mail.open("/dev/mail")
	mail.page("devmail")
	run(mail, chromedp.Click(chromedp.CSS(`a[href*="/v1/magic?token="]`)))
	mail.page("magic")
	mail.click("confirm")
	mail.page("magic")
	b.page("reset")
	b.fill("passcode", "the attackers passphrase")
	b.fill("confirm", "the attackers passphrase")
	b.click("save")
	b.page("password")
	if b.cookie("assent-session") != nil {
		t.Fatal("the reset alone gave the browser a session")
	}
	b.fill("passcode", "the attackers passphrase")
	b.click("verify")
	// The admin area's rule wants a possession factor: only root's
	// device can give it.
	b.page("select")
	if b.exists("#choose-email") {
		t.Fatal("the email link is offered again as the second factor")
	}
	if b.cookie("assent-session") != nil {
		t.Fatal("email and password gave the browser a session")
	}
	resp := run(b, chromedp.NavigateResponse(e.url+"/admin"))
	if resp.Status == http.StatusOK && b.path() == "/admin" {
		t.Fatal("the admin area opened after a recovery by email")
	}
}

func TestBrowserEndedSessionCookieIsRefusedEverywhere(t *testing.T) {
	e := newEnv(t, withPolicy(t, wikiPolicy))
	_, d, _ := e.enrolled("uma")
	b := newBrowser(t, e)
	b.signIn("uma", d)
	// Every session of uma ends (a reset elsewhere, an administrator).
	if _, err := e.st.RevokeSessions(e.ctx, mustUser(t, e, "uma").ID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	b.open("/account")
	b.page("signin")
	// The cookie is still there, but the engine no longer counts it:
	// the password is asked, not skipped.
	if b.cookie("assent-session") == nil {
		t.Fatal("test set-up: the cookie is gone")
	}
	b.fill("login", "uma")
	b.click("next")
	b.page("password")
}

func TestBrowserAdminManagesApps(t *testing.T) {
	e := newEnv(t)
	e.addAdmin("root")
	d := e.device("root-phone")
	if _, err := d.Enroll(e.ctx, e.link("root")); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e)
	b.signIn("root", d)
	b.open("/admin/apps")
	b.page("apps")
	for _, name := range []string{"account", "admin", "wiki"} {
		if !b.exists("#app-" + name) {
			t.Fatalf("the apps page does not list %s", name)
		}
	}
	if b.exists("#remove-admin") || b.exists("#remove-account") {
		t.Fatal("a built-in app can be removed from the page")
	}
	b.fill("app-name", "Bad Name!")
	b.click("add")
	if msg := b.errorText(); !strings.Contains(msg, "lower-case") {
		t.Fatalf("bad name message = %q", msg)
	}
	b.fill("app-name", "grafana")
	b.click("add")
	b.page("apps")
	if !b.exists("#app-grafana") || !strings.Contains(b.text("#notice"), "grafana") {
		t.Fatal("the new app is not listed")
	}
	if _, err := e.api().Interact(e.ctx, "grafana"); err != nil {
		t.Fatalf("signing in to the new app: %v", err)
	}
	b.click("remove-grafana")
	b.page("apps")
	if b.exists("#app-grafana") {
		t.Fatal("the removed app is still listed")
	}
	if _, err := e.api().Interact(e.ctx, "grafana"); errCode(err) != "unknown_app" {
		t.Fatalf("signing in to a removed app: %v", err)
	}
}

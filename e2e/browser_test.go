package e2e

// Browser tests of the hosted pages: Debian's Chromium, headless, driven by
// chromedp against a real in-process assentd, with pushes approved by real
// app/core devices. Nothing here waits on a timer: every step waits for an
// element of the next page, with a generous limit.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// stepTimeout bounds one browser step; pages answer in milliseconds, so it
// only turns a hang into a failure.
const stepTimeout = 60 * time.Second

// chromiumPath finds Debian's Chromium (ASSENT_CHROMIUM overrides).
func chromiumPath() string {
	if p := os.Getenv("ASSENT_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	return ""
}

// chromiumOptions are the flags RECIPES.md gives for these machines.
func chromiumOptions(path, dataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(1280, 900),
	}
}

type browser struct {
	t   *testing.T
	e   *env
	ctx context.Context

	mu sync.Mutex
	// problems are CSP violations and script errors the browser logged.
	problems []string
}

// newBrowser starts a fresh headless Chromium (its own profile) for a test.
func newBrowser(t *testing.T, e *env) *browser {
	t.Helper()
	path := chromiumPath()
	if path == "" {
		t.Fatal("Chromium is not installed, and the hosted-page tests need it: run `make deps` (it installs Debian's chromium)")
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), chromiumOptions(path, t.TempDir())...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	b := &browser{t: t, e: e, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium (%s): %v", path, err)
	}
	b.watch(ctx)
	t.Cleanup(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if len(b.problems) > 0 {
			t.Errorf("the browser logged problems:\n%s", strings.Join(b.problems, "\n"))
		}
	})
	return b
}

// watch records what a tab logs about CSP violations and script errors.
func (b *browser) watch(ctx context.Context) {
	entries := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range entries {
			if err != nil {
				return
			}
			if ev.Entry == nil {
				continue
			}
			text := ev.Entry.Text
			if strings.Contains(text, "Content Security Policy") || (ev.Entry.Level == cdplog.EntryLevelError && ev.Entry.Source == cdplog.EntrySourceJavascript) {
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s %s: %s (%s)", ev.Entry.Source, ev.Entry.Level, text, ev.Entry.URL))
				b.mu.Unlock()
			}
		}
	}()
}

// tab opens another tab in the same browser (same cookies).
func (b *browser) tab() *browser {
	ctx, cancel := chromedp.NewContext(b.ctx)
	b.t.Cleanup(cancel)
	nb := &browser{t: b.t, e: b.e, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("open a tab: %v", err)
	}
	nb.watch(ctx)
	return nb
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.where())
	}
}

func run[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v (at %s)", err, b.where())
	}
	return v
}

// where says which page the browser shows, for failure messages.
func (b *browser) where() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ""`))
	return loc + "\n" + body
}

// open goes to a path of the server.
func (b *browser) open(path string) { b.t.Helper(); b.do(chromedp.Navigate(b.e.url + path)) }

// page waits until the browser shows the named page.
func (b *browser) page(name string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(`main[data-page="` + name + `"]`)))
}

func (b *browser) fill(id, value string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.ID(id)), chromedp.SetValue(chromedp.ID(id), value))
}

// click clicks a button or link that loads another page, and waits for it.
func (b *browser) click(id string) {
	b.t.Helper()
	run(b, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.ID(id))))
}

func (b *browser) text(css string) string {
	b.t.Helper()
	return run(b, chromedp.Text(chromedp.CSS(css)))
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	return run(b, chromedp.Evaluate[string](js))
}

func (b *browser) exists(css string) bool {
	b.t.Helper()
	return run(b, chromedp.Evaluate[bool](fmt.Sprintf(`document.querySelector(%q) !== null`, css)))
}

func (b *browser) path() string {
	b.t.Helper()
	loc := run(b, chromedp.Location())
	u, err := url.Parse(loc)
	if err != nil {
		b.t.Fatal(err)
	}
	return u.Path
}

func (b *browser) cookies() []*network.Cookie {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{b.e.url + "/"}})
	if err != nil {
		b.t.Fatal(err)
	}
	return res.Cookies
}

func (b *browser) cookie(name string) *network.Cookie {
	b.t.Helper()
	for _, c := range b.cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// errorText waits for the page's error message and returns it.
func (b *browser) errorText() string {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.ID("error")))
	return b.text("#error")
}

// toPassword opens the sign-in page of app and gives the login.
func (b *browser) toPassword(app, login string) {
	b.t.Helper()
	path := "/signin"
	if app != "" {
		path += "?app=" + url.QueryEscape(app)
	}
	b.open(path)
	b.page("signin")
	b.fill("login", login)
	b.click("next")
	b.page("password")
}

// toChoice signs in with a password up to the choice of a second factor.
func (b *browser) toChoice(login, password string) {
	b.t.Helper()
	b.toPassword("", login)
	b.fill("passcode", password)
	b.click("verify")
	b.page("select")
}

// toPush signs in and chooses push; it returns the number the page shows
// (0 when it shows none).
func (b *browser) toPush(login string) int {
	b.t.Helper()
	b.toChoice(login, "correct horse battery")
	b.click("choose-push")
	return b.pushNumber()
}

func (b *browser) pushNumber() int {
	b.t.Helper()
	b.page("push")
	if !b.exists("#push-number") {
		return 0
	}
	var n int
	if _, err := fmt.Sscan(b.text("#push-number"), &n); err != nil {
		b.t.Fatalf("the push page's number: %v", err)
	}
	return n
}

// approve approves the only pending prompt of d with the page's number.
func (b *browser) approve(d *core.Core, number int) {
	b.t.Helper()
	p := b.e.onlyPrompt(d)
	if number != 0 && !slices.Contains(p.Numbers, number) {
		b.t.Fatalf("the page shows %d, the device offers %v", number, p.Numbers)
	}
	if _, err := d.Approve(b.e.ctx, p, number); err != nil {
		b.t.Fatal(err)
	}
}

// signIn signs in with password and push and lands on the account page.
func (b *browser) signIn(login string, d *core.Core) {
	b.t.Helper()
	n := b.toPush(login)
	b.approve(d, n)
	b.page("account")
}

func withDev(o *server.Options) { o.Dev = true }

func TestBrowserSignInWithPasswordAndPush(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("ana")
	b := newBrowser(t, e)

	// A return address on another origin is not followed.
	b.open("/signin?app=intranet&return=" + url.QueryEscape("https://evil.example/steal"))
	b.page("signin")
	if got := b.eval(`document.activeElement.id`); got != "login" {
		t.Fatalf("focus on the sign-in page is on %q, want the login field", got)
	}
	if lang := b.eval(`document.documentElement.lang`); lang != "en" {
		t.Fatalf("lang = %q", lang)
	}
	if !strings.Contains(b.text("main"), "intranet") {
		t.Fatal("the sign-in page does not name the app")
	}
	b.fill("login", "ana")
	b.click("next")
	b.page("password")

	// A wrong password is a clear message, with the focus on it.
	b.fill("passcode", "not the password")
	b.click("verify")
	if msg := b.errorText(); !strings.Contains(msg, "don't match") {
		t.Fatalf("wrong password message = %q", msg)
	}
	b.page("password")
	if got := b.eval(`document.activeElement.id`); got != "error" {
		t.Fatalf("after an error the focus is on %q, want the message", got)
	}
	b.fill("passcode", "correct horse battery")
	b.click("verify")
	b.page("select")
	b.click("choose-push")
	n := b.pushNumber()
	if n < 10 || n > 99 {
		t.Fatalf("the push page shows %d, want a two-digit number (number challenge is on by default)", n)
	}
	if live := b.eval(`document.getElementById('push-number').closest('[aria-live]') ? 'yes' : 'no'`); live != "yes" {
		t.Fatal("the number is not in an aria-live region")
	}
	b.approve(d, n)
	// The page's script sees the approval and moves on by itself.
	b.page("account")
	if p := b.path(); p != "/account" {
		t.Fatalf("signed in at %q, want /account (the foreign return address must be refused)", p)
	}
	if got := b.text("#account-login"); got != "ana" {
		t.Fatalf("account page is for %q", got)
	}
	if !strings.Contains(b.text("#devices"), "ana-phone") {
		t.Fatalf("account page lists devices %q", b.text("#devices"))
	}
	sess := b.cookie("assent-session")
	if sess == nil || !sess.HTTPOnly || sess.SameSite != network.CookieSameSiteLax {
		t.Fatalf("session cookie = %+v, want HttpOnly and SameSite=Lax", sess)
	}
	if dev := b.cookie("assent-device"); dev == nil || !dev.HTTPOnly {
		t.Fatalf("device cookie = %+v", dev)
	}
	if _, err := e.api().Session(e.ctx, sess.Value); err != nil {
		t.Fatalf("the browser's session does not work: %v", err)
	}

	// A return path on this origin is followed.
	b.open("/signout")
	b.page("signout")
	b.click("signout")
	b.page("message")
	b.open("/signin?return=" + url.QueryEscape("/account?from=app"))
	b.page("signin")
	b.fill("login", "ana")
	b.click("next")
	b.page("password")
	b.fill("passcode", "correct horse battery")
	b.click("verify")
	b.page("select")
	b.click("choose-push")
	b.approve(d, b.pushNumber())
	b.page("account")
	if loc := run(b, chromedp.Location()); !strings.HasSuffix(loc, "/account?from=app") {
		t.Fatalf("landed on %q, want the return path", loc)
	}
}

func TestBrowserHighRiskSignInGetsTheNumberChallenge(t *testing.T) {
	e := newEnv(t, withPolicy(t, `
signOn:
  - name: High risk
    conditions: {risk: [high]}
    action: {factors: 2, numberChallenge: always, userVerification: preferred}
  - name: Default
    action: {factors: 2, numberChallenge: never, userVerification: preferred}
`))
	_, d, _ := e.enrolled("ben")
	b := newBrowser(t, e)

	// Not high risk: the page shows no number, the device offers none.
	if n := b.toPush("ben"); n != 0 {
		t.Fatalf("a low-risk push shows the number %d", n)
	}
	p := e.onlyPrompt(d)
	if len(p.Numbers) != 0 {
		t.Fatalf("a low-risk prompt offers numbers %v", p.Numbers)
	}
	// "This wasn't me" ends the sign-in and makes the user high risk.
	if _, err := d.Deny(e.ctx, p, true); err != nil {
		t.Fatal(err)
	}
	b.page("ended")
	if msg := b.errorText(); !strings.Contains(msg, "reported") {
		t.Fatalf("reported push message = %q", msg)
	}

	// Now the number challenge applies.
	n := b.toPush("ben")
	if n == 0 {
		t.Fatal("a high-risk push shows no number")
	}
	b.approve(d, n)
	b.page("account")
}

func TestBrowserRecoveryByPushSetsANewPasswordAndEndsOldSessions(t *testing.T) {
	// No re-authentication window: with one, the signed-in browser would
	// skip the password page this test starts the reset from.
	e := newEnv(t, withPolicy(t, "signOn:\n  - name: Default\n    action: {factors: 2, reauthenticate: 0s}\n"))
	_, d, _ := e.enrolled("cara")
	b := newBrowser(t, e)
	b.signIn("cara", d)
	old := b.cookie("assent-session")
	if old == nil {
		t.Fatal("no session cookie after signing in")
	}

	b.toPassword("", "cara")
	b.click("forgot")
	b.page("recover")
	if got := run(b, chromedp.Value(chromedp.ID("login"))); got != "cara" {
		t.Fatalf("the reset page's login = %q, want the one typed", got)
	}
	b.click("next")
	b.page("select")
	b.click("choose-push")
	n := b.pushNumber()
	if p := e.onlyPrompt(d); p.Kind != "recovery" {
		t.Fatalf("recovery prompt kind = %q", p.Kind)
	}
	b.approve(d, n)
	b.page("reset")
	if rules := b.text("#rules"); !strings.Contains(rules, "At least 12 characters") {
		t.Fatalf("password rules = %q", rules)
	}
	// The engine's rules are shown when a password breaks one.
	b.fill("passcode", "cara-likes-long-passwords")
	b.fill("confirm", "cara-likes-long-passwords")
	b.click("save")
	if msg := b.errorText(); !strings.Contains(msg, "must not contain the login") {
		t.Fatalf("rejected password message = %q", msg)
	}
	b.fill("passcode", "a brand new passphrase")
	b.fill("confirm", "a different passphrase")
	b.click("save")
	if msg := b.errorText(); !strings.Contains(msg, "differ") {
		t.Fatalf("mismatch message = %q", msg)
	}
	b.fill("passcode", "a brand new passphrase")
	b.fill("confirm", "a brand new passphrase")
	b.click("save")
	// The reset is not a sign-in: the app's rule (two factors) takes the
	// recovery push as one, and asks for the new password.
	b.page("password")
	if n := b.text("#notice"); !strings.Contains(n, "password was reset") {
		t.Fatalf("after the reset the page says %q", n)
	}
	b.fill("passcode", "a brand new passphrase")
	b.click("verify")
	b.page("account")

	// The session from before the reset is gone.
	if _, err := e.api().Session(e.ctx, old.Value); err == nil {
		t.Fatal("the old session still works after the reset")
	}
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{Name: old.Name, Value: old.Value, URL: e.url + "/", HTTPOnly: &old.HTTPOnly, SameSite: old.SameSite})
		return err
	}))
	b.open("/account")
	b.page("signin")
	// The new password works, the old one does not.
	if _, _, err := e.password(e.api(), "intranet", "cara", "correct horse battery"); errCode(err) != "invalid_credentials" {
		t.Fatalf("the old password: %v", err)
	}
	if _, r, err := e.password(e.api(), "intranet", "cara", "a brand new passphrase"); err != nil || r == nil {
		t.Fatalf("the new password: %v", err)
	}
}

func TestBrowserProfilePromptAsksForMissingAttributes(t *testing.T) {
	e := newEnv(t, withPolicy(t, "profile:\n  required: [department]\n"))
	u, d, _ := e.enrolled("dina")
	b := newBrowser(t, e)
	b.approve(d, b.toPush("dina"))
	b.page("profile")
	if label := b.text(`label[for="profile-department"]`); label != "Department" {
		t.Fatalf("profile label = %q", label)
	}
	if got := b.eval(`document.activeElement.id`); got != "profile-department" {
		t.Fatalf("focus on the profile page is on %q", got)
	}
	b.fill("profile-department", "Research")
	b.click("save")
	b.page("account")
	if !strings.Contains(b.text("main"), "Research") {
		t.Fatal("the account page does not show the department")
	}
	if got, _ := e.st.GetUser(e.ctx, u.ID); got.Profile["department"] != "Research" {
		t.Fatalf("stored profile = %v", got.Profile)
	}
}

func TestBrowserMagicLinkCompletesTheSignInInTheFirstTab(t *testing.T) {
	sink := &server.MailSink{}
	e := newEnv(t, withMail(sink), withDev, withPolicy(t, `
signOn:
  - name: Default
    action: {factors: 2, authenticators: [push, totp, email]}
`))
	e.enrolled("eva")
	b := newBrowser(t, e)
	b.toChoice("eva", "correct horse battery")
	b.click("choose-email")
	b.page("email")
	if msg := b.text("#email-message"); !strings.Contains(msg, "e•••@example.com") {
		t.Fatalf("email page says %q", msg)
	}

	mail := b.tab()
	mail.open("/dev/mail")
	mail.page("devmail")
	if !strings.Contains(mail.text("main"), "eva@example.com") {
		t.Fatalf("the mail sink lists %q", mail.text("main"))
	}
	run(mail, chromedp.WaitEvent(page.LoadEventFired, nil, chromedp.Click(chromedp.CSS(`a[href*="/v1/magic?token="]`))))
	mail.page("magic")
	// Opening the link changes nothing (mail scanners open links too):
	// the page asks first.
	if got := mail.text("h1"); got != "Continue?" {
		t.Fatalf("magic link page says %q", got)
	}
	if b.path() != "/signin/step" {
		t.Fatalf("the first tab moved on before the button: %s", b.path())
	}
	mail.click("confirm")
	mail.page("magic")
	if got := mail.text("h1"); got != "Link accepted" {
		t.Fatalf("after the button the page says %q", got)
	}
	// The first tab sees the click and finishes the sign-in.
	b.page("account")
}

func TestDevMailPageNeedsDevelopmentMode(t *testing.T) {
	e := newEnv(t, withMail(&server.MailSink{}))
	if code, _ := get(t, e.url+"/dev/mail"); code != http.StatusNotFound {
		t.Fatalf("/dev/mail without --dev = %d, want 404", code)
	}
}

func TestBrowserFatigueGuardStopsPushesAndOffersACode(t *testing.T) {
	e := newEnv(t, withPolicy(t, "push:\n  maxUnanswered: 2\n  window: 15m\n"))
	_, d, a := e.enrolled("fay")
	b := newBrowser(t, e)
	b.toPush("fay")
	b.click("send-again")
	b.pushNumber()
	b.click("send-again")
	if msg := b.errorText(); !strings.Contains(msg, "Pushes have stopped") {
		t.Fatalf("fatigue guard message = %q", msg)
	}
	b.click("use-code")
	b.page("code")
	code, err := d.Code(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	b.fill("passcode", code.Code)
	b.click("verify")
	b.page("account")
}

func TestBrowserDenyRuleShowsTheRefusal(t *testing.T) {
	e := newEnv(t, withPolicy(t, `
zones:
  here: [127.0.0.0/8]
signOn:
  - name: No payroll from here
    conditions: {apps: [payroll], zones: [here]}
    action: deny
  - name: Default
    action: {factors: 2}
`))
	e.enrolled("gia")
	b := newBrowser(t, e)
	b.toPassword("payroll", "gia")
	b.fill("passcode", "correct horse battery")
	b.click("verify")
	b.page("ended")
	msg := b.errorText()
	if !strings.Contains(msg, "can't sign in to this app") || !strings.Contains(msg, "No payroll from here") {
		t.Fatalf("deny message = %q", msg)
	}
	if href := b.eval(`document.getElementById('start-again').getAttribute('href')`); href != "/signin?app=payroll" {
		t.Fatalf("start again goes to %q", href)
	}
}

func TestBrowserAdminRevokesADevice(t *testing.T) {
	e := newEnv(t)
	_, hers, _ := e.enrolled("hana")
	if _, err := e.srv.AddUser(e.ctx, server.NewUser{Login: "root", Password: "correct horse battery", Email: "root@example.com", Groups: []string{"admins"}}); err != nil {
		t.Fatal(err)
	}
	admin := e.device("root-phone")
	if _, err := admin.Enroll(e.ctx, e.link("root")); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, e)

	// Someone outside the group is refused.
	b.signIn("hana", hers)
	resp := run(b, chromedp.NavigateResponse(e.url+"/admin"))
	if resp.Status != http.StatusForbidden {
		t.Fatalf("/admin for a non-admin = %d, want 403", resp.Status)
	}
	b.open("/signout")
	b.page("signout")
	b.click("signout")
	b.page("message")

	b.signIn("root", admin)
	b.open("/admin")
	b.page("admin")
	devs, err := e.st.ListDevices(e.ctx, mustUser(t, e, "hana").ID)
	if err != nil || len(devs) != 1 {
		t.Fatalf("hana's devices = %v, %v", devs, err)
	}
	if row := b.text("#user-hana"); !strings.Contains(row, "hana-phone") || !strings.Contains(row, "low") {
		t.Fatalf("hana's row = %q", row)
	}
	b.click("revoke-" + devs[0].ID)
	b.page("confirm")
	b.click("confirm")
	b.page("admin")
	b.do(chromedp.WaitVisible(chromedp.ID("revoked-" + devs[0].ID)))
	if n := b.text("#notice"); !strings.Contains(n, "hana-phone") {
		t.Fatalf("notice = %q", n)
	}
	if d, _ := e.st.GetDevice(e.ctx, devs[0].ID); d.RevokedAt.IsZero() {
		t.Fatal("the device is not revoked in the store")
	}
	// The audit log shows it first.
	b.open("/admin/audit")
	b.page("audit")
	if first := b.text("#audit tbody tr"); !strings.Contains(first, "device.revoked") || !strings.Contains(first, "admin root") {
		t.Fatalf("newest audit event = %q", first)
	}
}

func mustUser(t *testing.T, e *env, login string) store.User {
	t.Helper()
	u, err := e.st.GetUserByLogin(e.ctx, login)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// qrLink reads the enrollment link back from the page's QR code image.
func (b *browser) qrLink() string {
	b.t.Helper()
	src := b.eval(`document.getElementById('enroll-qr').getAttribute('src')`)
	data, ok := strings.CutPrefix(src, "data:image/png;base64,")
	if !ok {
		b.t.Fatalf("the QR code is not an inline PNG: %.40q", src)
	}
	png, err := base64.StdEncoding.DecodeString(data)
	if err != nil {
		b.t.Fatal(err)
	}
	link, err := enroll.DecodeReader(bytes.NewReader(png))
	if err != nil {
		b.t.Fatalf("decode the QR code: %v", err)
	}
	if text := b.eval(`document.getElementById('enroll-link').textContent`); text != link {
		b.t.Fatalf("the link shown as text differs from the QR code:\n%s\n%s", text, link)
	}
	return link
}

func TestBrowserAddADeviceFromTheAccountPage(t *testing.T) {
	e := newEnv(t)
	_, first, _ := e.enrolled("iva")
	b := newBrowser(t, e)
	b.signIn("iva", first)
	b.click("add-device")
	// The device the user has agrees first.
	b.page("select")
	b.click("choose-push")
	n := b.pushNumber()
	if p := e.onlyPrompt(first); p.Kind != "enroll" {
		t.Fatalf("prompt kind = %q, want enroll", p.Kind)
	}
	b.approve(first, n)
	b.page("enroll")
	l, err := enroll.ParseLink(b.qrLink())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.device("iva-tablet").Enroll(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	b.page("account")
	if n := b.text("#notice"); !strings.Contains(n, "new device was added") {
		t.Fatalf("notice = %q", n)
	}
	if devs := b.text("#devices"); !strings.Contains(devs, "iva-phone") || !strings.Contains(devs, "iva-tablet") {
		t.Fatalf("devices = %q", devs)
	}
}

func TestBrowserUserWithoutADeviceEnrollsWhileSigningIn(t *testing.T) {
	e := newEnv(t)
	e.addUser("jon", "correct horse battery")
	b := newBrowser(t, e)
	b.toPassword("", "jon")
	b.fill("passcode", "correct horse battery")
	b.click("verify")
	b.page("enroll")
	l, err := enroll.ParseLink(b.qrLink())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.device("jon-phone").Enroll(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	b.page("account")
}

func TestBrowserWaitPageWorksWithoutJavaScript(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("kai")
	b := newBrowser(t, e)
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	n := b.toPush("kai")
	// Nothing approved yet: "Check now" says so and stays.
	b.click("check")
	b.page("push")
	b.do(chromedp.WaitVisible(chromedp.ID("notice")))
	if msg := b.text("#notice"); !strings.Contains(msg, "Still waiting") {
		t.Fatalf("check now before approval = %q", msg)
	}
	b.approve(d, n)
	b.click("check")
	b.page("account")
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func TestHostedPagesRefuseForgedPostsAndSendSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	e.enrolled("lea")
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(e.url + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	body := new(bytes.Buffer)
	body.ReadFrom(resp.Body)
	resp.Body.Close()
	want := map[string]string{
		// Connections: this origin, and the Assent app's same-device
		// ports on loopback.
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' " +
			"http://127.0.0.1:47770 http://127.0.0.1:47771 http://127.0.0.1:47772 http://127.0.0.1:47773 http://127.0.0.1:47774 " +
			"http://127.0.0.1:47775 http://127.0.0.1:47776 http://127.0.0.1:47777 http://127.0.0.1:47778 http://127.0.0.1:47779; " +
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
	}
	for h, v := range want {
		if got := resp.Header.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	for _, ck := range resp.Cookies() {
		if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" {
			t.Errorf("cookie %s = %+v, want HttpOnly, SameSite=Lax, Path=/", ck.Name, ck)
		}
	}
	if strings.Contains(body.String(), "<script>") || strings.Contains(body.String(), "style=") {
		t.Error("the page has an inline script or style")
	}
	m := csrfRE.FindStringSubmatch(body.String())
	if m == nil {
		t.Fatal("no CSRF token on the sign-in form")
	}
	post := func(form url.Values, origin string) int {
		req, _ := http.NewRequest(http.MethodPost, e.url+"/signin/step", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	form := url.Values{"action": {"identify"}, "login": {"lea"}}
	if code := post(form, ""); code != http.StatusForbidden {
		t.Errorf("a POST without the token = %d, want 403", code)
	}
	form.Set("csrf", "forged"+m[1][6:])
	if code := post(form, ""); code != http.StatusForbidden {
		t.Errorf("a POST with a forged token = %d, want 403", code)
	}
	form.Set("csrf", m[1])
	if code := post(form, "https://evil.example"); code != http.StatusForbidden {
		t.Errorf("a POST from another origin = %d, want 403", code)
	}
	if code := post(form, e.url); code != http.StatusSeeOther {
		t.Errorf("a POST with the token = %d, want 303", code)
	}
	// The assets come with the same headers, and nothing else is served as HTML.
	for _, path := range []string{"/assets/web/style.css", "/assets/web/app.js"} {
		r, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != http.StatusOK || r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s = %d nosniff %q", path, r.StatusCode, r.Header.Get("X-Content-Type-Options"))
		}
	}

	// In a browser: a form whose token was taken out is refused.
	b := newBrowser(t, e)
	b.open("/signin")
	b.page("signin")
	b.fill("login", "lea")
	b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('input[name=csrf]').remove()`))
	b.click("next")
	b.page("message")
	if h := b.text("h1"); h != "This form has expired" {
		t.Fatalf("a form without its token shows %q", h)
	}
}

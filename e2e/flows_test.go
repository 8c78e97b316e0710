package e2e

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

// withPolicy runs the server with a policy file's text.
func withPolicy(t testing.TB, text string) func(*server.Options) {
	p, err := policy.Parse([]byte(text))
	if err != nil {
		t.Fatalf("test policy: %v", err)
	}
	return func(o *server.Options) { o.Policy = p }
}

func withMail(sink *server.MailSink) func(*server.Options) {
	return func(o *server.Options) { o.Mailer = sink }
}

func (e *env) api() *sdk.Client {
	c := sdk.New(e.url)
	c.UserAgent = "Mozilla/5.0 (e2e test)"
	return c
}

// password runs interact → identify → password for app.
func (e *env) password(c *sdk.Client, app, login, pw string) (*sdk.Transaction, *sdk.Response, error) {
	e.t.Helper()
	tx, err := c.Interact(e.ctx, app)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: login}); err != nil {
		e.t.Fatal(err)
	}
	r, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: pw})
	return tx, r, err
}

// pushAndApprove sends a push in tx, approves it on device d with the
// number the page shows, and returns the next answer.
func (e *env) pushAndApprove(tx *sdk.Transaction, d *core.Core) *sdk.Response {
	e.t.Helper()
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		e.t.Fatal(err)
	}
	p := e.onlyPrompt(d)
	if _, err := d.Approve(e.ctx, p, r.Number); err != nil {
		e.t.Fatal(err)
	}
	r, err = e.poll(tx)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func TestDenyRuleRefusesAfterThePassword(t *testing.T) {
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
	u, _, _ := e.enrolled("amy")
	_, _, err := e.password(e.api(), "payroll", "amy", "correct horse battery")
	wantCode(t, err, "access_denied")
	if !strings.Contains(err.Error(), "No payroll from here") {
		t.Fatalf("the refusal does not name the rule: %v", err)
	}
	if !slices.Contains(e.auditTypes(u.ID), "signin.denied") {
		t.Fatal("audit log lacks signin.denied")
	}
	// A wrong password still looks like any wrong password.
	_, _, err = e.password(e.api(), "payroll", "amy", "wrong password")
	wantCode(t, err, "invalid_credentials")
	// Other apps go on to the second factor.
	if _, r, err := e.password(e.api(), "intranet", "amy", "correct horse battery"); err != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("intranet = %+v, %v", r, err)
	}
}

func TestPasswordOnlyRuleSignsInWithThePassword(t *testing.T) {
	e := newEnv(t, withPolicy(t, `
signOn:
  - name: Wiki needs a password only
    conditions: {apps: [wiki]}
    action: {factors: 1}
  - name: Default
    action: {factors: 2}
`))
	e.enrolled("bea")
	_, r, err := e.password(e.api(), "wiki", "bea", "correct horse battery")
	if err != nil || r.Status != sdk.StatusSuccess || r.Session == nil {
		t.Fatalf("wiki sign-in = %+v, %v", r, err)
	}
}

func TestPasswordlessPushOnAKnownDevice(t *testing.T) {
	e := newEnv(t, withPolicy(t, `
signOn:
  - name: Staff on known devices go passwordless
    conditions: {groups: [staff], device: known}
    action: {factors: 1, possession: true}
  - name: Default
    action: {factors: 2}
`))
	if _, err := e.srv.AddUser(e.ctx, server.NewUser{Login: "cleo", Password: "correct horse battery", Groups: []string{"staff"}}); err != nil {
		t.Fatal(err)
	}
	d := e.device("cleo-phone")
	if _, err := d.Enroll(e.ctx, e.link("cleo")); err != nil {
		t.Fatal(err)
	}
	c := e.api()
	c.Device = "browser-1"
	// First time on this browser: password and push.
	tx, r, err := e.password(c, "intranet", "cleo", "correct horse battery")
	if err != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("first sign-in = %+v, %v", r, err)
	}
	if r := e.pushAndApprove(tx, d); r.Status != sdk.StatusSuccess {
		t.Fatalf("first sign-in ended %+v", r)
	}
	// Now the browser is known: no password, just the push.
	tx, err = c.Interact(e.ctx, "intranet")
	if err != nil {
		t.Fatal(err)
	}
	r, err = tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "cleo"})
	if err != nil || !r.Has(sdk.RemSelectAuth) || r.Has(sdk.RemChallengeAuth) {
		t.Fatalf("known-device identify = %+v, %v; want straight to the push", r, err)
	}
	if r := e.pushAndApprove(tx, d); r.Status != sdk.StatusSuccess || r.Session == nil {
		t.Fatalf("passwordless push ended %+v", r)
	}
	// Another browser is new again: password first.
	c2 := e.api()
	c2.Device = "browser-2"
	tx, _ = c2.Interact(e.ctx, "intranet")
	if r, _ := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "cleo"}); !r.Has(sdk.RemChallengeAuth) {
		t.Fatalf("a new browser skipped the password: %+v", r)
	}
}

func TestRiskIsAuditedAndShownInThePush(t *testing.T) {
	e := newEnv(t)
	u, d, _ := e.enrolled("dora")
	c := e.api()
	c.Device = "laptop"
	tx, _, err := e.password(c, "intranet", "dora", "correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush}); err != nil {
		t.Fatal(err)
	}
	p := e.onlyPrompt(d)
	if p.Context.Risk != policy.RiskMedium || !slices.Contains(p.Context.RiskReasons, "new device") || !slices.Contains(p.Context.RiskReasons, "new network") {
		t.Fatalf("first sign-in risk in the push = %q %v", p.Context.Risk, p.Context.RiskReasons)
	}
	evs, _ := e.st.ListAudit(e.ctx, store.AuditFilter{UserID: u.ID, Types: []string{"risk.assessed"}})
	if len(evs) != 1 || evs[0].Detail["risk"] != policy.RiskMedium || !strings.Contains(evs[0].Detail["reasons"], "new device") {
		t.Fatalf("risk.assessed events = %+v", evs)
	}
}

func TestHighRiskStepsUpToNumbersAndUserVerification(t *testing.T) {
	e := newEnv(t, withPolicy(t, `
signOn:
  - name: High risk
    conditions: {risk: [high]}
    action: {factors: 2, numberChallenge: always, userVerification: required}
  - name: Default
    action: {factors: 2, numberChallenge: high-risk, userVerification: none}
`))
	_, d, a := e.enrolled("edna")
	// Low risk: no numbers to pick.
	tx, _, _ := e.password(e.api(), "intranet", "edna", "correct horse battery")
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil || r.Number != 0 {
		t.Fatalf("low-risk push = %+v, %v; want no number", r, err)
	}
	p := e.onlyPrompt(d)
	if len(p.Numbers) != 0 || p.UserVerification != push.UVNone {
		t.Fatalf("low-risk prompt numbers %v uv %q", p.Numbers, p.UserVerification)
	}
	// "This wasn't me" makes the next sign-in high risk.
	if _, err := d.Deny(e.ctx, p, true); err != nil {
		t.Fatal(err)
	}
	tx, _, _ = e.password(e.api(), "intranet", "edna", "correct horse battery")
	r, err = tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil || r.Number == 0 {
		t.Fatalf("high-risk push = %+v, %v; want a number", r, err)
	}
	p = e.onlyPrompt(d)
	if len(p.Numbers) != 3 || p.UserVerification != push.UVRequired || p.Context.Risk != policy.RiskHigh {
		t.Fatalf("high-risk prompt numbers %v uv %q risk %q", p.Numbers, p.UserVerification, p.Context.Risk)
	}
	// The right number without local verification is not enough.
	cl, _ := d.Client(a)
	if out, err := cl.Respond(e.ctx, p.Challenge, push.Answer{Consent: push.ConsentApproved, Number: r.Number, UV: false}); err != nil || out != push.OutcomeFailed {
		t.Fatalf("approval without user verification = %q, %v", out, err)
	}
	if c := e.challenge(p.ID); c.Reason != "user verification required" {
		t.Fatalf("failure reason = %q", c.Reason)
	}
	_, err = e.poll(tx)
	wantCode(t, err, "wrong_number")
	// With it, the sign-in succeeds.
	r, _ = tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	p = e.onlyPrompt(d)
	if out, err := cl.Respond(e.ctx, p.Challenge, push.Answer{Consent: push.ConsentApproved, Number: r.Number, UV: true}); err != nil || out != push.OutcomeApproved {
		t.Fatalf("verified approval = %q, %v", out, err)
	}
	if r, err := e.poll(tx); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("poll = %+v, %v", r, err)
	}
}

func TestRecoveryByPushResetsThePasswordAndEndsOldSessions(t *testing.T) {
	e := newEnv(t)
	u, d, a := e.enrolled("fern")
	old := e.pushAndApprove(e.signIn("fern", "correct horse battery"), d)
	if old.Session == nil {
		t.Fatal("no session to revoke")
	}
	notices := listenNotices(t, e, d, a)

	tx, err := e.api().Interact(e.ctx, "intranet")
	if err != nil {
		t.Fatal(err)
	}
	r, err := tx.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: "fern"})
	if err != nil || r.Kind != sdk.KindRecovery || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("identify-recovery = %+v, %v", r, err)
	}
	r, err = tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		t.Fatal(err)
	}
	p := e.onlyPrompt(d)
	if p.Kind != push.KindRecovery || len(p.Numbers) != 3 {
		t.Fatalf("recovery prompt kind %q numbers %v", p.Kind, p.Numbers)
	}
	if _, err := d.Approve(e.ctx, p, r.Number); err != nil {
		t.Fatal(err)
	}
	r, err = e.poll(tx)
	if err != nil || !r.Has(sdk.RemResetAuth) {
		t.Fatalf("after the recovery push = %+v, %v", r, err)
	}
	for bad, why := range map[string]string{"short1": "at least 12", "fern-is-my-name-2026": "login", "correct horse battery": "differ"} {
		_, err := tx.Do(e.ctx, sdk.RemResetAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: bad})
		wantCode(t, err, "password_rejected")
		if !strings.Contains(err.Error(), why) {
			t.Fatalf("password %q refused with %v, want it to mention %q", bad, err, why)
		}
	}
	r, err = tx.Do(e.ctx, sdk.RemResetAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "a brand new passphrase"})
	if err != nil || r.Session != nil || !r.Has(sdk.RemChallengeAuth) {
		t.Fatalf("reset = %+v, %v; want the new password asked (the recovery push is one factor of two)", r, err)
	}
	if _, err := e.api().Session(e.ctx, old.Session.Token); sdk.Code(err) != "invalid_session" {
		t.Fatalf("the old session still works after the reset: %v", err)
	}
	// Signing in with the new password completes the two factors.
	r, err = tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "a brand new passphrase"})
	if err != nil || r.Status != sdk.StatusSuccess || r.Session == nil {
		t.Fatalf("sign-in after the reset = %+v, %v", r, err)
	}
	if _, err := e.api().Session(e.ctx, r.Session.Token); err != nil {
		t.Fatalf("the new session does not work: %v", err)
	}
	if _, _, err := e.password(e.api(), "intranet", "fern", "correct horse battery"); sdk.Code(err) != "invalid_credentials" {
		t.Fatalf("the old password still works: %v", err)
	}
	if _, r, err := e.password(e.api(), "intranet", "fern", "a brand new passphrase"); err != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("the new password does not work: %v", err)
	}
	if n := recv(t, notices); !strings.Contains(n, "password was reset") {
		t.Fatalf("device notice = %q", n)
	}
	if !slices.Contains(e.auditTypes(u.ID), "password.reset") {
		t.Fatal("audit log lacks password.reset")
	}
}

// listenNotices connects a device and passes on its notices.
func listenNotices(t *testing.T, e *env, d *core.Core, a core.Account) chan string {
	t.Helper()
	cl, err := d.Client(a)
	if err != nil {
		t.Fatal(err)
	}
	notices := make(chan string, 8)
	connected := make(chan struct{})
	ctx, cancel := context.WithCancel(e.ctx)
	t.Cleanup(cancel)
	go cl.Connect(ctx, push.Handler{
		Welcome: func(time.Time) { close(connected) },
		Notice:  func(m string) { notices <- m },
	})
	recv(t, chan struct{}(connected))
	return notices
}

func TestRecoveryOfAnUnknownLoginLooksTheSame(t *testing.T) {
	e := newEnv(t)
	e.enrolled("gwen")
	shape := func(login string) []string {
		tx, _ := e.api().Interact(e.ctx, "intranet")
		r, err := tx.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: login})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range r.Remediation {
			for _, f := range m.Fields {
				out = append(out, m.Name+":"+f.Name+"="+strings.Join(f.Options, "|"))
			}
		}
		r, err = tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
		if err != nil || r.Status != sdk.StatusWaiting || r.Number == 0 {
			t.Fatalf("recovery push for %s = %+v, %v", login, r, err)
		}
		return out
	}
	known, unknown := shape("gwen"), shape("nobody")
	if !slices.Equal(known, unknown) {
		t.Fatalf("recovery answers differ:\nknown   %v\nunknown %v", known, unknown)
	}
}

func TestProgressiveProfilingAsksForMissingAttributesOnce(t *testing.T) {
	e := newEnv(t, withPolicy(t, "profile:\n  required: [department, email]\n"))
	u, d, _ := e.enrolled("hana") // has an email, no department
	tx := e.signIn("hana", "correct horse battery")
	r := e.pushAndApprove(tx, d)
	if !r.Has(sdk.RemEnrollProfile) || len(r.Remediation[0].Fields) != 1 || r.Remediation[0].Fields[0].Name != "department" {
		t.Fatalf("after sign-in = %+v; want enroll-profile asking for department only", r)
	}
	_, err := tx.Do(e.ctx, sdk.RemEnrollProfile, sdk.Request{Profile: map[string]string{"department": "  "}})
	wantCode(t, err, "profile_incomplete")
	r, err = tx.Do(e.ctx, sdk.RemEnrollProfile, sdk.Request{Profile: map[string]string{"department": "Research"}})
	if err != nil || r.Status != sdk.StatusSuccess || r.Session == nil {
		t.Fatalf("profile = %+v, %v", r, err)
	}
	if got, _ := e.st.GetUser(e.ctx, u.ID); got.Profile["department"] != "Research" {
		t.Fatalf("stored profile = %v", got.Profile)
	}
	// The next sign-in does not ask again.
	if r := e.pushAndApprove(e.signIn("hana", "correct horse battery"), d); r.Status != sdk.StatusSuccess {
		t.Fatalf("second sign-in = %+v", r)
	}
}

var linkRE = regexp.MustCompile(`https?://\S+/v1/magic\?token=\S+`)

func TestEmailMagicLinkCompletesTheSignInOnce(t *testing.T) {
	sink := &server.MailSink{}
	e := newEnv(t, withMail(sink), withPolicy(t, `
signOn:
  - name: Default
    action: {factors: 2, authenticators: [push, totp, email]}
`))
	u, _, _ := e.enrolled("iris")
	tx := e.signIn("iris", "correct horse battery")
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthEmail})
	if err != nil || r.Status != sdk.StatusWaiting || r.Factor != sdk.AuthEmail || !strings.Contains(r.Message, "i•••@example.com") {
		t.Fatalf("select email = %+v, %v", r, err)
	}
	msgs := sink.Messages()
	if len(msgs) != 1 || msgs[0].To != u.Email {
		t.Fatalf("mail sent = %+v", msgs)
	}
	link := linkRE.FindString(msgs[0].Text)
	if link == "" {
		t.Fatalf("no link in the mail:\n%s", msgs[0].Text)
	}
	if r, _ := e.poll(tx); r.Status != sdk.StatusWaiting {
		t.Fatalf("poll before the click = %+v", r)
	}
	if code, body := confirmLink(t, link); code != http.StatusOK || !strings.Contains(body, "Link accepted") {
		t.Fatalf("click = %d %s", code, body)
	}
	r, err = e.poll(tx)
	if err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("poll after the click = %+v, %v", r, err)
	}
	// Opened again, the page says the sign-in moved on, and offers nothing.
	if code, body := get(t, link); code != http.StatusBadRequest || !strings.Contains(body, "moved on") || strings.Contains(body, `id="confirm"`) {
		t.Fatalf("second click = %d %s", code, body)
	}
	if code, body := postLink(t, link); code != http.StatusBadRequest || !strings.Contains(body, "used already") {
		t.Fatalf("second post = %d %s", code, body)
	}
	if code, body := get(t, link[:len(link)-4]+"AAAA"); code != http.StatusBadRequest || !strings.Contains(body, "not a link Assent made") {
		t.Fatalf("forged link = %d %s", code, body)
	}
	// A link opened too late does nothing.
	tx = e.signIn("iris", "correct horse battery")
	tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthEmail})
	late := linkRE.FindString(sink.Messages()[0].Text)
	e.clock.Advance(11 * time.Minute)
	if code, body := get(t, late); code != http.StatusBadRequest || !strings.Contains(body, "expired") {
		t.Fatalf("late click = %d %s", code, body)
	}
}

// confirmLink opens a magic link as a person does: the GET shows a
// button, and pressing it posts the link's token.
func confirmLink(t *testing.T, link string) (int, string) {
	t.Helper()
	code, body := get(t, link)
	if code != http.StatusOK || !strings.Contains(body, `id="confirm"`) {
		return code, body
	}
	return postLink(t, link)
}

// postLink posts a magic link's token as its page's button does.
func postLink(t *testing.T, link string) (int, string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(u.Scheme+"://"+u.Host+u.Path, url.Values{"token": {u.Query().Get("token")}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestFatigueGuardStopsPushesAndOffersACode(t *testing.T) {
	e := newEnv(t, withPolicy(t, "push:\n  maxUnanswered: 2\n  window: 15m\n"))
	u, d, a := e.enrolled("jade")
	tx := e.signIn("jade", "correct horse battery")
	for range 2 {
		if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	wantCode(t, err, "push_limited")
	if !slices.Contains(e.auditTypes(u.ID), "push.limited") {
		t.Fatal("audit log lacks push.limited")
	}
	// Another sign-in is limited too, but a code still works.
	tx = e.signIn("jade", "correct horse battery")
	_, err = tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	wantCode(t, err, "push_limited")
	if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
		t.Fatal(err)
	}
	code, _ := d.Code(a.ID)
	if r, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: code.Code}); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("code after the guard = %+v, %v", r, err)
	}
	// Once the window has passed, pushes flow again.
	e.clock.Advance(16 * time.Minute)
	if r := e.pushAndApprove(e.signIn("jade", "correct horse battery"), d); r.Status != sdk.StatusSuccess {
		t.Fatalf("push after the window = %+v", r)
	}
}

func TestUserWithoutADeviceEnrollsOneWhileSigningIn(t *testing.T) {
	e := newEnv(t)
	e.addUser("kira", "correct horse battery")
	tx, r, err := e.password(e.api(), "intranet", "kira", "correct horse battery")
	if err != nil || !r.Has(sdk.RemEnrollAuth) {
		t.Fatalf("password without a device = %+v, %v; want enroll-authenticator", r, err)
	}
	r, err = tx.Do(e.ctx, sdk.RemEnrollAuth, sdk.Request{})
	if err != nil || r.Enrollment == nil || r.Status != sdk.StatusWaiting {
		t.Fatalf("enroll-authenticator = %+v, %v", r, err)
	}
	if r, _ := tx.Do(e.ctx, sdk.RemEnrollPoll, sdk.Request{}); r.Status != sdk.StatusWaiting || r.Enrollment != nil {
		t.Fatalf("enroll-poll before the device = %+v (the link must be answered only once)", r)
	}
	l, err := enroll.ParseLink(r.Enrollment.Link)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.device("kira-phone").Enroll(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	r, err = tx.Do(e.ctx, sdk.RemEnrollPoll, sdk.Request{})
	if err != nil || r.Status != sdk.StatusSuccess || r.Session == nil {
		t.Fatalf("enroll-poll after the device = %+v, %v", r, err)
	}
}

func TestAddingADeviceNeedsTheExistingOneAndTellsIt(t *testing.T) {
	e := newEnv(t)
	u, first, a := e.enrolled("lola")
	sess := e.pushAndApprove(e.signIn("lola", "correct horse battery"), first).Session
	notices := listenNotices(t, e, first, a)

	_, err := e.api().Start(e.ctx, sdk.Request{Kind: sdk.KindEnroll, SessionToken: "forged"})
	wantCode(t, err, "invalid_session")
	tx, err := e.api().Start(e.ctx, sdk.Request{Kind: sdk.KindEnroll, SessionToken: sess.Token})
	if err != nil || !tx.Last.Has(sdk.RemSelectAuth) {
		t.Fatalf("enroll start = %+v, %v; want the existing device asked first", tx.Last, err)
	}
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		t.Fatal(err)
	}
	p := e.onlyPrompt(first)
	if p.Kind != push.KindEnroll {
		t.Fatalf("prompt kind %q, want enroll", p.Kind)
	}
	first.Approve(e.ctx, p, r.Number)
	r, err = e.poll(tx)
	if err != nil || !r.Has(sdk.RemEnrollAuth) {
		t.Fatalf("after the existing device agreed = %+v, %v", r, err)
	}
	r, _ = tx.Do(e.ctx, sdk.RemEnrollAuth, sdk.Request{})
	l, _ := enroll.ParseLink(r.Enrollment.Link)
	second := e.device("lola-tablet")
	if _, err := second.Enroll(e.ctx, l); err != nil {
		t.Fatal(err)
	}
	r, err = tx.Do(e.ctx, sdk.RemEnrollPoll, sdk.Request{})
	if err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("enroll-poll = %+v, %v", r, err)
	}
	if n := recv(t, notices); !strings.Contains(n, "lola-tablet") {
		t.Fatalf("notice to the first device = %q", n)
	}
	if !slices.Contains(e.auditTypes(u.ID), "enroll.self_service") {
		t.Fatal("audit log lacks enroll.self_service")
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("mona")
	s := e.pushAndApprove(e.signIn("mona", "correct horse battery"), d).Session
	if err := e.api().SignOut(e.ctx, s.Token); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api().Session(e.ctx, s.Token); sdk.Code(err) != "invalid_session" {
		t.Fatalf("the session works after sign-out: %v", err)
	}
	if err := e.api().SignOut(e.ctx, s.Token); sdk.Code(err) != "invalid_session" {
		t.Fatalf("signing out twice: %v", err)
	}
}

func TestRecentSessionSkipsTheFactorsWithinTheRulesWindow(t *testing.T) {
	e := newEnv(t, withPolicy(t, `
signOn:
  - name: Default
    action: {factors: 2, reauthenticate: 1h}
`))
	u, d, _ := e.enrolled("nora")
	s := e.pushAndApprove(e.signIn("nora", "correct horse battery"), d).Session
	again := func() *sdk.Response {
		tx, err := e.api().Start(e.ctx, sdk.Request{App: "wiki", SessionToken: s.Token})
		if err != nil {
			t.Fatal(err)
		}
		r, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "nora"})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := again(); r.Status != sdk.StatusSuccess || r.Session == nil {
		t.Fatalf("within the hour = %+v; want success without factors", r)
	}
	if !slices.Contains(e.auditTypes(u.ID), "signin.session_reused") {
		t.Fatal("audit log lacks signin.session_reused")
	}
	// Someone else's session does not help.
	tx, _ := e.api().Start(e.ctx, sdk.Request{App: "wiki", SessionToken: s.Token})
	e.addUser("olive", "correct horse battery")
	if r, _ := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "olive"}); r.Status == sdk.StatusSuccess {
		t.Fatal("another user's session signed olive in")
	}
	e.clock.Advance(61 * time.Minute)
	if r := again(); !r.Has(sdk.RemChallengeAuth) {
		t.Fatalf("after the hour = %+v; want the password asked again", r)
	}
}

func TestRecoveryCanAskForASecondAuthenticator(t *testing.T) {
	e := newEnv(t, withPolicy(t, "recovery:\n  authenticators: [push, totp]\n  secondAuthenticator: true\n"))
	_, d, a := e.enrolled("pam")
	tx, _ := e.api().Interact(e.ctx, "intranet")
	if _, err := tx.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: "pam"}); err != nil {
		t.Fatal(err)
	}
	r := e.pushAndApprove(tx, d)
	if r.Has(sdk.RemResetAuth) || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("after one authenticator = %+v; want a second one asked", r)
	}
	if opts := r.Remediation[0].Fields[0].Options; !slices.Equal(opts, []string{sdk.AuthTOTP}) {
		t.Fatalf("second authenticator options = %v; want the one not used yet", opts)
	}
	if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
		t.Fatal(err)
	}
	code, _ := d.Code(a.ID)
	r, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: code.Code})
	if err != nil || !r.Has(sdk.RemResetAuth) {
		t.Fatalf("after two authenticators = %+v, %v; want the reset", r, err)
	}
}

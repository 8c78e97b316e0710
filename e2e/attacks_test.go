package e2e

// Attacks on the identity engine, each through the real server: what an
// attacker tried against the sessions, apps, recovery and limits, and
// what they get now.

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// from is an API client whose requests come from a loopback address of
// its own (127.0.0.2, 127.0.0.3, …), so that the server sees several
// sources.
func (e *env) from(ip string) *sdk.Client {
	c := e.api()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c.HTTP = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DialContext: d.DialContext}}
	return c
}

// identifyAs starts a sign-in to app with an optional session and types
// the login.
func (e *env) identifyAs(c *sdk.Client, app, login, session string) (*sdk.Transaction, *sdk.Response, error) {
	e.t.Helper()
	tx, err := c.Start(e.ctx, sdk.Request{App: app, SessionToken: session, Device: c.Device})
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: login})
	return tx, r, err
}

func TestRevokedSessionMintsNoSessions(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("ada")
	s := e.pushAndApprove(e.signIn("ada", "correct horse battery"), d).Session
	for _, how := range []string{"sign-out", "password reset"} {
		t.Run(how, func(t *testing.T) {
			s := s
			if how == "password reset" {
				s = e.pushAndApprove(e.signIn("ada", "correct horse battery"), d).Session
			}
			// The transaction starts while the session is good...
			tx, err := e.api().Start(e.ctx, sdk.Request{App: "wiki", SessionToken: s.Token})
			if err != nil {
				t.Fatal(err)
			}
			// ...and the session ends before identify.
			switch how {
			case "sign-out":
				if err := e.api().SignOut(e.ctx, s.Token); err != nil {
					t.Fatal(err)
				}
			case "password reset":
				rec, _ := e.api().Interact(e.ctx, "intranet")
				if _, err := rec.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: "ada"}); err != nil {
					t.Fatal(err)
				}
				if r := e.pushAndApprove(rec, d); !r.Has(sdk.RemResetAuth) {
					t.Fatalf("recovery = %+v", r)
				}
				if _, err := rec.Do(e.ctx, sdk.RemResetAuth, sdk.Request{Passcode: "a brand new passphrase"}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "ada"})
			if err != nil {
				t.Fatal(err)
			}
			if r.Status == sdk.StatusSuccess || r.Session != nil || !r.Has(sdk.RemChallengeAuth) {
				t.Fatalf("identify with a session ended by %s = %+v; want the password asked", how, r)
			}
		})
	}
}

// wikiSession enrolls a user and signs in to the wiki of wikiPolicy with
// the password alone; it returns the device and the session token.
func (e *env) wikiSession(login string) (*core.Core, string) {
	e.t.Helper()
	_, d, _ := e.enrolled(login)
	_, r, err := e.password(e.api(), "wiki", login, "correct horse battery")
	if err != nil || r.Session == nil {
		e.t.Fatalf("wiki = %+v, %v", r, err)
	}
	return d, r.Session.Token
}

func TestSessionRevokedMidStepUpEndsTheTransaction(t *testing.T) {
	e := newEnv(t, withPolicy(t, wikiPolicy))
	d, wiki := e.wikiSession("bo")
	// The password counts from the wiki session; the push is missing.
	tx, r, err := e.identifyAs(e.api(), "payroll", "bo", wiki)
	if err != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("payroll with the wiki session = %+v, %v; want the second factor asked", r, err)
	}
	if err := e.api().SignOut(e.ctx, wiki); err != nil {
		t.Fatal(err)
	}
	_, err = tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	wantCode(t, err, "invalid_session")
	if ps, _ := d.Challenges(e.ctx); len(ps) != 0 {
		t.Fatalf("a push went out on a revoked session's word: %d", len(ps))
	}
}

func TestReusedSessionKeepsItsOriginalAuthenticationTime(t *testing.T) {
	e := newEnv(t, withPolicy(t, `
signOn:
  - name: Default
    action: {factors: 2, reauthenticate: 6h}
`))
	_, d, _ := e.enrolled("cy")
	first := e.pushAndApprove(e.signIn("cy", "correct horse battery"), d).Session
	signedInAt := e.clock.Now()
	e.clock.Advance(5 * time.Hour)
	_, r, err := e.identifyAs(e.api(), "wiki", "cy", first.Token)
	if err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("reuse within 6h = %+v, %v", r, err)
	}
	su, err := e.api().Session(e.ctx, r.Session.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !su.AuthTime.Equal(signedInAt.Truncate(time.Millisecond)) || su.App != "wiki" {
		t.Fatalf("reused session = %+v; want authTime %s (the original sign-in) and app wiki", su, signedInAt)
	}
	// Two more hours: the 6h count from the first sign-in is over, even
	// though the second session is only two hours old.
	e.clock.Advance(2 * time.Hour)
	if _, r, err := e.identifyAs(e.api(), "intranet", "cy", r.Session.Token); err != nil || !r.Has(sdk.RemChallengeAuth) {
		t.Fatalf("reuse of the reused session after 7h = %+v, %v; want the password asked", r, err)
	}
}

func TestOneFactorSessionStepsUpForATwoFactorApp(t *testing.T) {
	e := newEnv(t, withPolicy(t, wikiPolicy))
	d, wiki := e.wikiSession("dee")
	su, err := e.api().Session(e.ctx, wiki)
	if err != nil || su.App != "wiki" || !slices.Equal(su.AMR, []string{"pwd"}) {
		t.Fatalf("wiki session = %+v, %v; want app wiki, amr [pwd]", su, err)
	}
	// The app payroll checks the token: not made for it, and too weak.
	if _, err := e.api().SessionFor(e.ctx, wiki, "payroll"); sdk.Code(err) != "step_up_required" {
		t.Fatalf("payroll accepting the wiki session: %v", err)
	}
	// Reused for payroll, it asks only for the missing factor.
	tx, r, err := e.identifyAs(e.api(), "payroll", "dee", wiki)
	if err != nil || r.Status == sdk.StatusSuccess || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("payroll with the wiki session = %+v, %v; want the second factor", r, err)
	}
	r = e.pushAndApprove(tx, d)
	if r.Status != sdk.StatusSuccess {
		t.Fatalf("after the push = %+v", r)
	}
	su, err = e.api().SessionFor(e.ctx, r.Session.Token, "payroll")
	if err != nil || su.App != "payroll" || !slices.Contains(su.AMR, "swk") || !slices.Contains(su.AMR, "mfa") {
		t.Fatalf("payroll session = %+v, %v", su, err)
	}
	// An app that does not exist is not a name to check against.
	if _, err := e.api().SessionFor(e.ctx, r.Session.Token, "nonesuch"); sdk.Code(err) != "unknown_app" {
		t.Fatalf("checking against an unknown app: %v", err)
	}
}

func TestAppsMustBeRegistered(t *testing.T) {
	e := newEnv(t)
	for _, app := range []string{"", "made-up", "Intranet", strings.Repeat("a", 65), "../admin"} {
		_, err := e.api().Interact(e.ctx, app)
		want := "unknown_app"
		if app == "" {
			want = "bad_request"
		}
		wantCode(t, err, want)
	}
	// The hosted pages refuse it too.
	resp, err := http.Get(e.url + "/signin?app=made-up")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("/signin?app=made-up = %d", resp.StatusCode)
	}
	// Once removed, an app can no longer be signed in to.
	if err := e.srv.RemoveApp(e.ctx, "wiki"); err != nil {
		t.Fatal(err)
	}
	_, err = e.api().Interact(e.ctx, "wiki")
	wantCode(t, err, "unknown_app")
	if err := e.srv.RemoveApp(e.ctx, server.AppAdmin); err == nil {
		t.Fatal("the built-in admin app was removed")
	}
}

func TestRecoveryByEmailAloneIsNotASignIn(t *testing.T) {
	sink := &server.MailSink{}
	e := newEnv(t, withMail(sink))
	_, d, _ := e.enrolled("eve")
	// Someone who reads eve's mail starts a recovery for the admin area.
	tx, err := e.api().Interact(e.ctx, server.AppAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: "eve"}); err != nil {
		t.Fatal(err)
	}
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthEmail})
	if err != nil || r.Status != sdk.StatusWaiting {
		t.Fatalf("email = %+v, %v", r, err)
	}
	e.srv.WaitBackground()
	e.openMagicLink(sink, "eve@example.com")
	r, err = e.poll(tx)
	if err != nil || !r.Has(sdk.RemResetAuth) {
		t.Fatalf("after the link = %+v, %v", r, err)
	}
	r, err = tx.Do(e.ctx, sdk.RemResetAuth, sdk.Request{Passcode: "the attackers password"})
	if err != nil {
		t.Fatal(err)
	}
	// No session: the app's rule (two factors) still wants the password
	// and a possession factor.
	if r.Status == sdk.StatusSuccess || r.Session != nil || !r.Has(sdk.RemChallengeAuth) {
		t.Fatalf("after the reset = %+v; want the new password asked, no session", r)
	}
	r, err = tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "the attackers password"})
	if err != nil || r.Session != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("after the new password = %+v, %v; want a possession factor asked", r, err)
	}
	if opts := r.Remediation[0].Fields[0].Options; slices.Contains(opts, sdk.AuthEmail) {
		t.Fatalf("email offered again as the second factor: %v", opts)
	}
	// Only eve's device can finish it.
	r = e.pushAndApprove(tx, d)
	if r.Status != sdk.StatusSuccess {
		t.Fatalf("after eve's push = %+v", r)
	}
	su, _ := e.api().Session(e.ctx, r.Session.Token)
	if !slices.Contains(su.AMR, "email") || !slices.Contains(su.AMR, "pwd") || !slices.Contains(su.AMR, "swk") {
		t.Fatalf("session amr = %v; want the recovery's email, the password and the push", su.AMR)
	}
}

// openMagicLink finds the newest link mailed to addr and uses it as a
// person would: the GET shows a button, the POST uses it.
func (e *env) openMagicLink(sink *server.MailSink, addr string) {
	e.t.Helper()
	link := e.magicLink(sink, addr)
	page := e.getPage(link)
	m := regexp.MustCompile(`name="token" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		e.t.Fatalf("the magic link page has no button:\n%s", page)
	}
	resp, err := http.PostForm(e.url+server.PathMagic, url.Values{"token": {m[1]}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("POST magic link = %d", resp.StatusCode)
	}
}

func (e *env) magicLink(sink *server.MailSink, addr string) string {
	e.t.Helper()
	var link string
	for _, m := range sink.Messages() {
		if m.To == addr {
			link = regexp.MustCompile(`https?://\S+/v1/magic\?token=\S+`).FindString(m.Text)
		}
	}
	if link == "" {
		e.t.Fatalf("no magic link mailed to %s", addr)
	}
	return link
}

func (e *env) getPage(u string) string {
	e.t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.String()
}

func TestMagicLinkGETChangesNothing(t *testing.T) {
	sink := &server.MailSink{}
	e := newEnv(t, withMail(sink), withPolicy(t, `
signOn:
  - name: Default
    action: {factors: 2, authenticators: [push, email]}
`))
	e.enrolled("fay")
	tx := e.signIn("fay", "correct horse battery")
	if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthEmail}); err != nil {
		t.Fatal(err)
	}
	link := e.magicLink(sink, "fay@example.com")
	// A mail scanner fetches the link, twice.
	for range 2 {
		if page := e.getPage(link); !strings.Contains(page, `id="confirm"`) {
			t.Fatalf("the link page has no confirm button:\n%s", page)
		}
	}
	if r, err := e.poll(tx); err != nil || r.Status != sdk.StatusWaiting {
		t.Fatalf("after GETs of the link = %+v, %v; want still waiting", r, err)
	}
	// A post from another site is refused.
	tok, _ := url.Parse(link)
	req, _ := http.NewRequest(http.MethodPost, e.url+server.PathMagic, strings.NewReader(url.Values{"token": {tok.Query().Get("token")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST of the link = %d", resp.StatusCode)
	}
	if r, _ := e.poll(tx); r.Status != sdk.StatusWaiting {
		t.Fatalf("after a cross-site post = %+v", r)
	}
	// The person presses the button.
	e.openMagicLink(sink, "fay@example.com")
	if r, err := e.poll(tx); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("after the button = %+v, %v", r, err)
	}
}

func TestPossessionIsNeverMetByAPassword(t *testing.T) {
	for _, selfService := range []bool{false, true} {
		t.Run(map[bool]string{false: "enrollment off", true: "self-service enrollment"}[selfService], func(t *testing.T) {
			e := newEnv(t, withPolicy(t, `
signOn:
  - name: Passwordless
    action: {factors: 1, possession: true}
enrollment: {selfService: `+map[bool]string{false: "false", true: "true"}[selfService]+`}
`))
			e.addUser("gil", "correct horse battery")
			tx, r, err := e.identifyAs(e.api(), "intranet", "gil", "")
			if err != nil || !r.Has(sdk.RemSelectAuth) {
				t.Fatalf("identify = %+v, %v", r, err)
			}
			if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPassword}); err != nil {
				t.Fatal(err)
			}
			r, err = tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"})
			if !selfService {
				wantCode(t, err, "enrollment_required")
				return
			}
			if err != nil || r.Session != nil || !r.Has(sdk.RemEnrollAuth) {
				t.Fatalf("after the password = %+v, %v; want enrollment, no session", r, err)
			}
		})
	}
}

// normalized is an answer with what differs on every call (the state
// handle, the expiry) taken out.
func normalized(t *testing.T, r *sdk.Response, err error) string {
	t.Helper()
	var b []byte
	if err != nil {
		var se *sdk.Error
		if !asSDKError(err, &se) {
			t.Fatalf("not an API error: %v", err)
		}
		b, _ = json.Marshal(se)
		return "error " + string(b)
	}
	c := *r
	c.StateHandle, c.ExpiresAt = "", nil
	if c.Number != 0 {
		c.Number = 1
	}
	b, _ = json.Marshal(c)
	return string(b)
}

func asSDKError(err error, target **sdk.Error) bool {
	se, ok := err.(*sdk.Error)
	if ok {
		*target = se
	}
	return ok
}

func TestKnownAndUnknownLoginsGetIdenticalAnswers(t *testing.T) {
	sink := &server.MailSink{}
	e := newEnv(t, withMail(sink), withPolicy(t, "recovery: {authenticators: [push, email, totp]}\n"))
	e.enrolled("hal")                                                             // a device and an email
	e.addUser("ivy", "correct horse battery")                                     // no device
	if _, err := e.srv.AddUser(e.ctx, server.NewUser{Login: "jon"}); err != nil { // no device, no email, no password
		t.Fatal(err)
	}
	logins := []string{"hal", "ivy", "jon", "nobody-at-all"}
	type answers struct{ identify, password, recover, recoverPush, recoverEmail, recoverTOTP string }
	got := map[string]answers{}
	for _, login := range logins {
		var a answers
		tx, r, err := e.identifyAs(e.api(), "intranet", login, "")
		a.identify = normalized(t, r, err)
		r, err = tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "wrong password"})
		a.password = normalized(t, r, err)
		rec, _ := e.api().Interact(e.ctx, "intranet")
		r, err = rec.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: login})
		a.recover = normalized(t, r, err)
		r, err = rec.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
		a.recoverPush = normalized(t, r, err)
		r, err = rec.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthEmail})
		a.recoverEmail = normalized(t, r, err)
		if _, err := rec.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
			t.Fatal(err)
		}
		r, err = rec.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: "123456"})
		a.recoverTOTP = normalized(t, r, err)
		got[login] = a
	}
	for _, login := range logins[1:] {
		if got[login] != got[logins[0]] {
			t.Errorf("answers for %q differ from %q:\n%+v\n%+v", login, logins[0], got[login], got[logins[0]])
		}
	}
	if strings.Contains(got["hal"].recoverEmail, "•••") || strings.Contains(got["hal"].recoverEmail, "example.com") {
		t.Fatalf("the email step names the address before any factor: %s", got["hal"].recoverEmail)
	}
	// The real users still got their push and mail.
	e.srv.WaitBackground()
	if len(sink.Messages()) == 0 {
		t.Fatal("hal got no recovery mail")
	}
}

// parallel runs fn n times at once.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn(i)
		}()
	}
	close(start)
	wg.Wait()
}

func TestParallelGuessesNeverPassTheLimit(t *testing.T) {
	e := newEnv(t)
	u, _, _ := e.enrolled("kai")
	const n = 40
	guess := func(right int) (wrongChecked int, codes []string) {
		txs := make([]*sdk.Transaction, n)
		for i := range txs {
			txs[i], _, _ = e.identifyAs(e.api(), "intranet", "kai", "")
		}
		codes = make([]string, n)
		parallel(n, func(i int) {
			pw := "wrong password " + strconv.Itoa(i)
			if i == right {
				pw = "correct horse battery"
			}
			_, err := txs[i].Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: pw})
			codes[i] = errCode(err)
		})
		for _, c := range codes {
			switch c {
			case "invalid_credentials":
				wrongChecked++
			case "", "too_many_attempts":
			default:
				t.Fatalf("unexpected answer %q", c)
			}
		}
		return wrongChecked, codes
	}
	// Forty wrong passwords at once: five are checked.
	if checked, codes := guess(-1); checked > 5 {
		t.Fatalf("%d of %d parallel guesses were checked; the limit is 5 (answers %v)", checked, n, codes)
	}
	evs, _ := e.st.ListAudit(e.ctx, store.AuditFilter{UserID: u.ID, Types: []string{"signin.password_failed", "signin.password_ok"}})
	if len(evs) > 5 {
		t.Fatalf("%d password checks ran, over the limit of 5", len(evs))
	}
	// Thirty-nine wrong and the right one, once the wait is over: the right
	// one is checked only if it is among the five, and a success ends the
	// run of failures, so at most five more wrong ones follow it.
	e.clock.Advance(time.Hour)
	checked, codes := guess(n - 1)
	if checked > 10 || (codes[n-1] == "" && checked > 9) {
		t.Fatalf("%d wrong guesses were checked around one right one (answers %v)", checked, codes)
	}
	// The same holds for codes.
	e2 := newEnv(t)
	e2.enrolled("kit")
	ttxs := make([]*sdk.Transaction, n)
	for i := range ttxs {
		ttxs[i] = e2.signIn("kit", "correct horse battery")
		if _, err := ttxs[i].Do(e2.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
			t.Fatal(err)
		}
	}
	var codesChecked atomic.Int32
	parallel(n, func(i int) {
		_, err := ttxs[i].Do(e2.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: "000000"})
		if errCode(err) != "too_many_attempts" {
			codesChecked.Add(1)
		}
	})
	if n := codesChecked.Load(); n > 5 {
		t.Fatalf("%d of 40 parallel codes were checked; the limit is 5", n)
	}
}

func TestRepeatedFailuresSlowTheGuesserDownNotTheOwner(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("lou")
	// The owner signs in once from their browser on 127.0.0.2.
	owner := e.from("127.0.0.2")
	owner.Device = "lous-browser"
	tx, r, err := e.password(owner, "intranet", "lou", "correct horse battery")
	if err != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("owner = %+v, %v", r, err)
	}
	if r := e.pushAndApprove(tx, d); r.Status != sdk.StatusSuccess {
		t.Fatalf("owner sign-in = %+v", r)
	}
	// An attacker on 127.0.0.3 guesses the password over and over.
	attacker := e.from("127.0.0.3")
	throttled := false
	for i := range 30 {
		_, _, err := e.password(attacker, "intranet", "lou", "guess "+string(rune('a'+i)))
		switch errCode(err) {
		case "invalid_credentials":
		case "too_many_attempts":
			throttled = true
		default:
			t.Fatalf("guess %d: %v", i, err)
		}
		e.clock.Advance(2 * time.Second)
	}
	if !throttled {
		t.Fatal("30 wrong passwords from one address were never slowed down")
	}
	// Even the right password waits now from there.
	if _, _, err := e.password(attacker, "intranet", "lou", "correct horse battery"); errCode(err) != "too_many_attempts" {
		t.Fatalf("the right password from the throttled address: %v", err)
	}
	// The attacker also pushes recovery requests at lou's phone.
	for range 10 {
		rec, _ := attacker.Interact(e.ctx, "intranet")
		rec.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: "lou"})
		rec.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	}
	e.srv.WaitBackground()
	for _, p := range mustChallenges(t, e, d) {
		if _, err := d.Deny(e.ctx, p, false); err != nil {
			t.Fatal(err)
		}
	}
	// The owner, from their own browser, signs in with password and push.
	tx, r, err = e.password(owner, "intranet", "lou", "correct horse battery")
	if err != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("owner while the attacker is throttled = %+v, %v", r, err)
	}
	if r := e.pushAndApprove(tx, d); r.Status != sdk.StatusSuccess {
		t.Fatalf("owner's push = %+v", r)
	}
	// So does an owner's browser behind the attacker's own address.
	shared := e.from("127.0.0.3")
	shared.Device = "lous-browser"
	if _, r, err := e.password(shared, "intranet", "lou", "correct horse battery"); err != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("owner's known browser behind the attacker's address = %+v, %v", r, err)
	}
}

func mustChallenges(t *testing.T, e *env, d *core.Core) []core.Prompt {
	t.Helper()
	ps, err := d.Challenges(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestAccountFailuresStopAtTheNISTCeiling(t *testing.T) {
	e := newEnv(t)
	e.enrolled("max")
	// Guesses from many addresses, each staying under its own limits.
	failures := 0
	for i := 0; i < 120; i++ {
		c := e.from("127.0.1." + strconv.Itoa(2+i%100))
		_, _, err := e.password(c, "intranet", "max", "guess")
		if errCode(err) == "invalid_credentials" {
			failures++
		}
		e.clock.Advance(time.Minute)
	}
	if failures > 100 {
		t.Fatalf("%d consecutive failures were checked; NIST SP 800-63B allows 100", failures)
	}
	if failures < 50 {
		t.Fatalf("only %d failures were checked before the account stopped strangers; the per-address limits should not have", failures)
	}
}

func TestParallelRecoveryPushesNeverPassThePushLimit(t *testing.T) {
	e := newEnv(t, withPolicy(t, "push: {maxUnanswered: 3, window: 15m}\n"))
	u, _, _ := e.enrolled("ned")
	const n = 20
	// From one address: at most a couple.
	one := e.from("127.0.0.4")
	parallel(n, func(int) {
		tx, err := one.Interact(e.ctx, "intranet")
		if err != nil {
			return
		}
		tx.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: "ned"})
		tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	})
	e.srv.WaitBackground()
	sent := func() int {
		cs, err := e.st.ListChallenges(e.ctx, store.ChallengeFilter{UserID: u.ID})
		if err != nil {
			t.Fatal(err)
		}
		return len(cs)
	}
	if got := sent(); got > 2 {
		t.Fatalf("one address set off %d recovery pushes", got)
	}
	// From twenty addresses at once: never more than the budget of 3.
	parallel(n, func(i int) {
		c := e.from("127.0.2." + strconv.Itoa(2+i))
		tx, err := c.Interact(e.ctx, "intranet")
		if err != nil {
			return
		}
		tx.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: "ned"})
		tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	})
	e.srv.WaitBackground()
	if got := sent(); got > 3 {
		t.Fatalf("%d pushes went out against a limit of 3", got)
	}
}

func TestDeniedPushesUseUpTheBudget(t *testing.T) {
	e := newEnv(t, withPolicy(t, "push: {maxUnanswered: 2, window: 15m}\n"))
	_, d, _ := e.enrolled("ora")
	for range 2 {
		tx := e.signIn("ora", "correct horse battery")
		if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush}); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Deny(e.ctx, e.onlyPrompt(d), false); err != nil {
			t.Fatal(err)
		}
	}
	tx := e.signIn("ora", "correct horse battery")
	_, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	wantCode(t, err, "push_limited")
	// Approved pushes do not count: after the window, approve three in a row.
	e.clock.Advance(16 * time.Minute)
	for range 3 {
		if r := e.pushAndApprove(e.signIn("ora", "correct horse battery"), d); r.Status != sdk.StatusSuccess {
			t.Fatalf("approved push = %+v", r)
		}
	}
}

func TestSessionOfASuspendedUserIsRefusedEverywhere(t *testing.T) {
	e := newEnv(t, withPolicy(t, wikiPolicy))
	u, d, _ := e.enrolled("vic")
	s := e.pushAndApprove(e.signIn("vic", "correct horse battery"), d).Session
	tx, err := e.api().Start(e.ctx, sdk.Request{App: "wiki", SessionToken: s.Token})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.st.UpdateUser(e.ctx, u.ID, func(u *store.User) error { u.Status = store.UserSuspended; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api().Session(e.ctx, s.Token); sdk.Code(err) != "invalid_session" {
		t.Fatalf("a suspended user's session: %v", err)
	}
	// identify treats the login as unknown, and the session counts for
	// nothing.
	r, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "vic"})
	if err != nil || r.Session != nil || !r.Has(sdk.RemChallengeAuth) {
		t.Fatalf("identify for a suspended user with a session = %+v, %v", r, err)
	}
}

func TestALevelOrAFreshAuthenticationIsAskedBeyondTheRule(t *testing.T) {
	e := newEnv(t, withPolicy(t, wikiPolicy))
	d, wiki := e.wikiSession("wes")
	// The wiki's rule takes a password alone; asked for level mfa, the
	// sign-in wants the device too.
	tx, err := e.api().Start(e.ctx, sdk.Request{App: "wiki", Level: "mfa"})
	if err != nil {
		t.Fatal(err)
	}
	tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "wes"})
	r, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"})
	if err != nil || r.Session != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("wiki at level mfa after the password = %+v, %v", r, err)
	}
	if r = e.pushAndApprove(tx, d); r.Status != sdk.StatusSuccess {
		t.Fatalf("after the push = %+v", r)
	}
	// A session is not counted when a full sign-in after a time is asked.
	e.clock.Advance(time.Minute)
	tx, err = e.api().Start(e.ctx, sdk.Request{App: "wiki", SessionToken: wiki, AuthAfter: e.clock.Now().Unix()})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "wes"}); err != nil || !r.Has(sdk.RemChallengeAuth) {
		t.Fatalf("a fresh sign-in with a session = %+v, %v; want the password asked", r, err)
	}
	_, err = e.api().Start(e.ctx, sdk.Request{App: "wiki", Level: "gold"})
	wantCode(t, err, "bad_request")
}

func TestSteppingUpToUserVerificationAsksForThePushAgain(t *testing.T) {
	e := newEnv(t, withPolicy(t, wikiPolicy))
	_, d, _ := e.enrolled("xia")
	s := e.pushAndApprove(e.signIn("xia", "correct horse battery"), d).Session
	// The session has a password and a push, but the person was not
	// verified on the device: level mfa-uv asks for the push once more.
	tx, err := e.api().Start(e.ctx, sdk.Request{App: "wiki", SessionToken: s.Token, Level: "mfa-uv"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "xia"})
	if err != nil || r.Session != nil || !r.Has(sdk.RemSelectAuth) {
		t.Fatalf("step-up to mfa-uv = %+v, %v; want the push offered", r, err)
	}
	// A code carries no verification of the person; a push or the app on
	// this computer (behind its lock) do. This server has no passkeys (its
	// URL is an IP address).
	if opts := r.Remediation[0].Fields[0].Options; !slices.Equal(opts, []string{sdk.AuthPush, sdk.AuthSameDevice}) {
		t.Fatalf("options = %v; want the push and the same-device proof (only those carry verification)", opts)
	}
	r, err = tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil || r.Status != sdk.StatusWaiting {
		t.Fatalf("push = %+v, %v", r, err)
	}
	if p := e.onlyPrompt(d); p.UserVerification != "required" {
		t.Fatalf("the push asks verification %q, want required", p.UserVerification)
	}
}

func TestARADIUSClientsSignInsComeThroughRADIUSOnly(t *testing.T) {
	e := newEnv(t)
	if _, err := e.srv.RegisterApp(e.ctx, "vpn", store.AppRADIUS, nil); err != nil {
		t.Fatal(err)
	}
	_, err := e.api().Interact(e.ctx, "vpn")
	wantCode(t, err, "unknown_app")
	resp, err := http.Get(e.url + "/signin?app=vpn")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("/signin?app=vpn = %d, want 400", resp.StatusCode)
	}
}

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/store"
)

func TestEnrollFromQRThenPasswordPushApproveSucceeds(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("alice", "correct horse battery")
	png, err := enroll.EncodePNG(e.link("alice").String(), 400)
	if err != nil {
		t.Fatal(err)
	}
	qr := filepath.Join(t.TempDir(), "enroll.png")
	if err := os.WriteFile(qr, png, 0o600); err != nil {
		t.Fatal(err)
	}
	d := e.device("alice-laptop")
	a, err := d.Add(e.ctx, qr)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "alice" || a.Issuer != "Example Org" || a.Server != e.url {
		t.Fatalf("enrolled account = %+v", a)
	}

	tx, number := e.startPush("alice")
	p := e.onlyPrompt(d)
	if p.Kind != push.KindSignIn || p.Context.App != "intranet" || p.Context.UserAgent != "Mozilla/5.0 (e2e test)" || p.Context.ClientIP != "127.0.0.1" {
		t.Fatalf("prompt context = %+v kind %q", p.Context, p.Kind)
	}
	if len(p.Numbers) != 3 || !slices.Contains(p.Numbers, number) {
		t.Fatalf("prompt numbers %v do not include the page's number %d", p.Numbers, number)
	}
	r, err := e.poll(tx)
	if err != nil || r.Status != sdk.StatusWaiting || r.Number != number {
		t.Fatalf("poll before the answer = %+v, %v", r, err)
	}
	out, err := d.Approve(e.ctx, p, number)
	if err != nil || out != push.OutcomeApproved {
		t.Fatalf("approve = %q, %v", out, err)
	}
	r, err = e.poll(tx)
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != sdk.StatusSuccess || r.User != "alice" || r.Session == nil || r.Session.Token == "" {
		t.Fatalf("poll after approval = %+v", r)
	}
	who, err := sdk.New(e.url).Session(e.ctx, r.Session.Token)
	if err != nil || who.User != "alice" {
		t.Fatalf("session check = %+v, %v", who, err)
	}
	if c := e.challenge(p.ID); c.Status != store.ChallengeApproved {
		t.Fatalf("stored challenge status = %q", c.Status)
	}
	types := e.auditTypes(u.ID)
	for _, want := range []string{"user.created", "enroll.link_created", "device.enrolled", "push.sent", "push.approved", "signin.success"} {
		if !slices.Contains(types, want) {
			t.Errorf("audit log lacks %q: %v", want, types)
		}
	}
	// The transaction is over: nothing more can be done with it.
	_, err = e.poll(tx)
	wantCode(t, err, "transaction_ended")
}

func TestPushApprovedWithWrongNumberFails(t *testing.T) {
	e := newEnv(t)
	u, d, _ := e.enrolled("bob")
	tx, number := e.startPush("bob")
	p := e.onlyPrompt(d)
	wrong := p.Numbers[0]
	if wrong == number {
		wrong = p.Numbers[1]
	}
	out, err := d.Approve(e.ctx, p, wrong)
	if err != nil || out != push.OutcomeFailed {
		t.Fatalf("approve with a wrong number = %q, %v; want outcome failed", out, err)
	}
	_, err = e.poll(tx)
	wantCode(t, err, "wrong_number")
	if c := e.challenge(p.ID); c.Status != store.ChallengeFailed || c.Reason != "wrong number" {
		t.Fatalf("stored challenge = %q (%q)", c.Status, c.Reason)
	}
	// The page may send another push; the right number then succeeds.
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		t.Fatal(err)
	}
	p2 := e.onlyPrompt(d)
	if _, err := d.Approve(e.ctx, p2, r.Number); err != nil {
		t.Fatal(err)
	}
	if r, err := e.poll(tx); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("second push = %+v, %v", r, err)
	}
	if !slices.Contains(e.auditTypes(u.ID), "push.failed") {
		t.Fatal("audit log lacks push.failed")
	}
}

func TestNumberNotAmongChoicesIsRefusedOnTheDeviceWithoutAnswering(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("carol")
	e.startPush("carol")
	p := e.onlyPrompt(d)
	n := 10
	for slices.Contains(p.Numbers, n) {
		n++
	}
	if _, err := d.Approve(e.ctx, p, n); err == nil {
		t.Fatal("a number that is not a choice was accepted")
	}
	if c := e.challenge(p.ID); c.Status != store.ChallengePending {
		t.Fatalf("challenge after a typo = %q, want still pending", c.Status)
	}
}

func TestDeniedPushFailsTheSignIn(t *testing.T) {
	e := newEnv(t)
	u, d, _ := e.enrolled("dave")
	tx, _ := e.startPush("dave")
	p := e.onlyPrompt(d)
	out, err := d.Deny(e.ctx, p, false)
	if err != nil || out != push.OutcomeDenied {
		t.Fatalf("deny = %q, %v", out, err)
	}
	_, err = e.poll(tx)
	wantCode(t, err, "push_denied")
	if got, _ := e.st.GetUser(e.ctx, u.ID); got.Risk == "high" {
		t.Fatal("a plain denial raised the user's risk")
	}
}

func TestReportedPushIsAuditedRaisesRiskAndEndsTheSignIn(t *testing.T) {
	e := newEnv(t)
	u, d, _ := e.enrolled("erin")
	tx, _ := e.startPush("erin")
	p := e.onlyPrompt(d)
	out, err := d.Deny(e.ctx, p, true)
	if err != nil || out != push.OutcomeReported {
		t.Fatalf("report = %q, %v", out, err)
	}
	_, err = e.poll(tx)
	wantCode(t, err, "push_reported")
	got, err := e.st.GetUser(e.ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Risk != "high" {
		t.Fatalf("user risk after a report = %q, want high", got.Risk)
	}
	types := e.auditTypes(u.ID)
	if !slices.Contains(types, "push.reported") || !slices.Contains(types, "user.risk_raised") {
		t.Fatalf("audit log = %v; want push.reported and user.risk_raised", types)
	}
	// A reported sign-in cannot go on with another factor.
	_, err = tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP})
	wantCode(t, err, "transaction_ended")
	// The next push shows the raised risk to the person.
	e.startPush("erin")
	if p := e.onlyPrompt(d); p.Context.Risk != "high" {
		t.Fatalf("next prompt risk = %q, want high", p.Context.Risk)
	}
}

func TestExpiredChallengeCannotBeApproved(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("frank")
	tx, number := e.startPush("frank")
	p := e.onlyPrompt(d)
	e.clock.Advance(5*time.Minute + time.Second)
	_, err := d.Approve(e.ctx, p, number)
	wantCode(t, err, "challenge_expired")
	if c := e.challenge(p.ID); c.Status != store.ChallengeExpired {
		t.Fatalf("stored challenge = %q, want expired", c.Status)
	}
	_, err = e.poll(tx)
	wantCode(t, err, "push_expired")
	if ps, _ := d.Challenges(e.ctx); len(ps) != 0 {
		t.Fatalf("an expired challenge is still listed: %d", len(ps))
	}
}

func TestUnansweredChallengeExpiresInGarbageCollection(t *testing.T) {
	e := newEnv(t)
	u, d, _ := e.enrolled("gina")
	tx, _ := e.startPush("gina")
	p := e.onlyPrompt(d)
	e.clock.Advance(6 * time.Minute)
	if err := e.srv.GarbageCollect(e.ctx); err != nil {
		t.Fatal(err)
	}
	if c := e.challenge(p.ID); c.Status != store.ChallengeExpired {
		t.Fatalf("after GC the challenge is %q", c.Status)
	}
	_, err := e.poll(tx)
	wantCode(t, err, "push_expired")
	if !slices.Contains(e.auditTypes(u.ID), "push.expired") {
		t.Fatal("audit log lacks push.expired")
	}
}

func TestReplayedResponseIsRefusedAndChangesNothing(t *testing.T) {
	e := newEnv(t)
	_, d, a := e.enrolled("hank")
	_, number := e.startPush("hank")
	p := e.onlyPrompt(d)
	cl, err := d.Client(a)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cl.SignResponse(p.Challenge, push.Answer{Consent: push.ConsentApproved, Number: number})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := postResponse(e, p.ID, tok); err != nil || out != push.OutcomeApproved {
		t.Fatalf("first response = %q, %v", out, err)
	}
	before := e.challenge(p.ID)
	_, err = postResponse(e, p.ID, tok)
	wantCode(t, err, "already_answered")
	// A fresh signature over a changed answer is refused too.
	tok2, _ := cl.SignResponse(p.Challenge, push.Answer{Consent: push.ConsentReported})
	_, err = postResponse(e, p.ID, tok2)
	wantCode(t, err, "already_answered")
	if after := e.challenge(p.ID); after.Status != before.Status || !after.AnsweredAt.Equal(before.AnsweredAt) {
		t.Fatalf("a replay changed the challenge: %+v → %+v", before, after)
	}
}

func TestResponseSignedByAnotherDeviceIsRefused(t *testing.T) {
	e := newEnv(t)
	_, victim, _ := e.enrolled("ivan")
	_, other, otherAcct := e.enrolled("mallory")
	_, number := e.startPush("ivan")
	p := e.onlyPrompt(victim)

	// Mallory's device answers Ivan's challenge with its own key.
	cl, err := other.Client(otherAcct)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := cl.SignResponse(p.Challenge, push.Answer{Consent: push.ConsentApproved, Number: number})
	_, err = postResponse(e, p.ID, tok)
	wantCode(t, err, "response_rejected")

	// Or claims to be Ivan's device while signing with its own key.
	forged := *cl
	forged.EnrollmentID = p.Audience
	tok, _ = forged.SignResponse(p.Challenge, push.Answer{Consent: push.ConsentApproved, Number: number})
	_, err = postResponse(e, p.ID, tok)
	wantCode(t, err, "response_rejected")

	if c := e.challenge(p.ID); c.Status != store.ChallengePending {
		t.Fatalf("challenge after forged answers = %q, want pending", c.Status)
	}
}

func TestTOTPSignInAcceptsACodeOnce(t *testing.T) {
	e := newEnv(t)
	u, d, a := e.enrolled("judy")
	tx := e.signIn("judy", "correct horse battery")
	if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
		t.Fatal(err)
	}
	code, err := d.Code(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: code.Code})
	if err != nil || r.Status != sdk.StatusSuccess || r.Session == nil {
		t.Fatalf("TOTP sign-in = %+v, %v", r, err)
	}

	// The same code in a second sign-in is refused.
	tx2 := e.signIn("judy", "correct horse battery")
	if _, err := tx2.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
		t.Fatal(err)
	}
	_, err = tx2.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: code.Code})
	wantCode(t, err, "code_used")
	if !slices.Contains(e.auditTypes(u.ID), "totp.replayed") {
		t.Fatal("audit log lacks totp.replayed")
	}
	// The next step's code works.
	e.clock.Advance(30 * time.Second)
	next, _ := d.Code(a.ID)
	if r, err := tx2.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: next.Code}); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("next code = %+v, %v", r, err)
	}
}

func TestRepeatedFailuresSlowTheSourceDown(t *testing.T) {
	e := newEnv(t)
	u, _, _ := e.enrolled("kim")
	tx := e.signIn("kim", "correct horse battery")
	if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: "000000"})
		wantCode(t, err, "invalid_code")
	}
	_, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthTOTP, Passcode: "000000"})
	wantCode(t, err, "too_many_attempts")
	if se, ok := err.(*sdk.Error); !ok || se.RetryAfter < 1 {
		t.Fatalf("the refusal does not say how long to wait: %#v", err)
	}
	// From the same address, the right password waits too: the check is
	// not even made.
	c := sdk.New(e.url)
	tx2, _ := c.Interact(e.ctx, "intranet")
	tx2.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "kim"})
	_, err = tx2.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"})
	wantCode(t, err, "too_many_attempts")
	if !slices.Contains(e.auditTypes(u.ID), "signin.throttled") {
		t.Fatal("audit log lacks signin.throttled")
	}
	// The wait is short at first, and doubles with each further failure.
	e.clock.Advance(2 * time.Second)
	e.signIn("kim", "correct horse battery")
}

func TestWrongPasswordAndUnknownLoginLookAlike(t *testing.T) {
	e := newEnv(t)
	e.addUser("lena", "correct horse battery")
	for _, login := range []string{"lena", "nobody"} {
		tx, err := sdk.New(e.url).Interact(e.ctx, "intranet")
		if err != nil {
			t.Fatal(err)
		}
		r, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: login})
		if err != nil || !r.Has(sdk.RemChallengeAuth) {
			t.Fatalf("identify %s = %+v, %v", login, r, err)
		}
		_, err = tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "wrong password"})
		wantCode(t, err, "invalid_credentials")
	}
}

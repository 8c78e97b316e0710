package ui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// numbersShown are the prompt's number buttons, as shown.
func (h *harness) numbersShown() []int {
	if h.u.promptUI == nil {
		return nil
	}
	return h.u.promptUI.p.Numbers
}

func TestAPushShowsItsContextAndTheRightNumberApprovesIt(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("alice")
	tx, number := h.signIn("alice")

	test.AssertNotificationSent(t, &fyne.Notification{Title: "Sign-in request", Content: "intranet · 127.0.0.1 for Example Org (alice): pick the number shown on the sign-in screen."}, h.promptShown)
	h.mustShow("SIGN-IN REQUEST", "Did you just try to sign in?", "intranet", "127.0.0.1", "Firefox on Linux", "Example Org", "Expires in 5:00", "Deny")
	// Reporting is a second step after Deny, never one tap away.
	h.mustNotShow("This wasn't me")
	nums := h.numbersShown()
	if len(nums) != 3 || !slices.Contains(nums, number) {
		t.Fatalf("the prompt offers %v; the sign-in page shows %d", nums, number)
	}
	for _, n := range nums {
		h.mustShow(fmt.Sprint(n))
	}
	if !strings.Contains(h.u.win.Title(), "1 waiting") {
		t.Fatalf("window title %q does not say a prompt waits", h.u.win.Title())
	}

	h.tap(fmt.Sprint(number))
	c := h.waitForOutcome(u)
	if c.Status != store.ChallengeApproved {
		t.Fatalf("the server recorded %s, want approved", c.Status)
	}
	h.waitFor("the prompt to go", func() bool { return h.u.view == viewAccounts })
	h.mustShow("Approved")
	r, err := tx.Do(h.ctx, sdk.RemChallengePoll, sdk.Request{})
	if err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("the sign-in did not succeed: %+v %v", r, err)
	}
}

func TestDenyingAPushIsRecordedAndRemovesThePrompt(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("bob")
	h.signIn("bob")
	h.promptShown()
	h.tap("Deny")
	h.tap("No, just deny")
	if c := h.waitForOutcome(u); c.Status != store.ChallengeDenied {
		t.Fatalf("the server recorded %s, want denied", c.Status)
	}
	h.waitFor("the prompt to go", func() bool { return h.u.view == viewAccounts })
	h.mustShow("Denied")
}

func TestThisWasntMeReportsThePush(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("carol")
	h.signIn("carol")
	h.promptShown()
	h.tap("Deny")
	h.tap("This wasn't me")
	if c := h.waitForOutcome(u); c.Status != store.ChallengeReported {
		t.Fatalf("the server recorded %s, want reported", c.Status)
	}
	h.waitFor("the prompt to go", func() bool { return h.u.view == viewAccounts })
	h.mustShow("Reported")
}

func TestAWrongNumberFailsTheSignIn(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("erin")
	_, number := h.signIn("erin")
	h.promptShown()
	wrong := slices.DeleteFunc(slices.Clone(h.numbersShown()), func(n int) bool { return n == number })[0]
	h.tap(fmt.Sprint(wrong))
	if c := h.waitForOutcome(u); c.Status != store.ChallengeFailed {
		t.Fatalf("the server recorded %s, want failed", c.Status)
	}
	h.waitForText("That was not the number shown")
}

func TestAnExpiredPromptDisappearsByItself(t *testing.T) {
	h := newHarness(t)
	h.enrollThroughTheApp("frank")
	h.signIn("frank")
	h.promptShown()
	h.tick(2*time.Minute + 30*time.Second)
	h.mustShow("Expires in 2:30")
	h.tick(2*time.Minute + 30*time.Second)
	if h.u.view != viewAccounts || len(h.u.prompts) != 0 {
		t.Fatalf("the expired prompt is still shown (%s, %d prompts)", h.u.view, len(h.u.prompts))
	}
	h.mustShow("expired")
}

func TestAPromptAnsweredElsewhereDisappears(t *testing.T) {
	h := newHarness(t)
	h.enrollThroughTheApp("gina")
	_, number := h.signIn("gina")
	h.promptShown()
	// The same device answers from the command line.
	p := h.u.prompts[0].Prompt
	if _, err := h.core.Approve(h.ctx, p, number); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the prompt to go", func() bool { return h.u.view == viewAccounts })
	h.mustShow("answered on another device")
}

func TestAPasswordResetPromptSaysWhatItIs(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("hana")
	if _, err := h.srv.SendPush(h.ctx, server.PushRequest{
		User: u, Kind: push.KindRecovery, NumberChallenge: true, UserVerification: push.UVNone,
		Context: push.ChallengeContext{App: "Account recovery", ClientIP: "203.0.113.9", Location: "Lisbon, PT", UserAgent: "Safari/18", Risk: "high"},
	}); err != nil {
		t.Fatal(err)
	}
	h.promptShown()
	h.mustShow("PASSWORD RESET REQUEST", "Are you resetting your password?", "Lisbon, PT · 203.0.113.9", "Safari", "Unusual request (high risk)")
	if m := h.u.trayMenu(); !strings.Contains(m.Items[0].Label, "1 request waiting") || !strings.Contains(m.Items[1].Label, "Password reset: Account recovery (hana)") {
		t.Fatalf("the tray does not list the prompt: %q, %q", m.Items[0].Label, m.Items[1].Label)
	}
}

func TestAPushThatRequiresVerificationAsksForTheAppLockFirst(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("ivan")
	if err := h.core.SetLock(core.LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	h.u.guard.Unlock([]byte("2468"))
	res, err := h.srv.SendPush(h.ctx, server.PushRequest{
		User: u, Kind: push.KindStepUp, NumberChallenge: true, UserVerification: push.UVRequired,
		Context: push.ChallengeContext{App: "payroll", ClientIP: "127.0.0.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.promptShown()
	h.mustShow("You will be asked for your PIN to approve.")
	h.tap(fmt.Sprint(res.Number))
	h.mustShow("Verify it's you", "Enter your PIN to approve.")
	// A wrong PIN sends nothing; the dialog stays and says so under the
	// field.
	h.typeInto(h.entries()[0], "1111")
	h.tap("Approve")
	h.mustShow("Verify it's you", "Wrong PIN. Try again.")
	if c := h.onlyChallenge(u); c.Status != store.ChallengePending {
		t.Fatalf("a wrong PIN answered the push: %s", c.Status)
	}
	h.typeInto(h.entries()[0], "2468")
	h.tap("Approve")
	c := h.waitForOutcome(u)
	if c.Status != store.ChallengeApproved || !c.UV {
		t.Fatalf("the server recorded %s with uv=%v, want approved with the user verified", c.Status, c.UV)
	}
}

func TestAPromptOnALockedAppCanBeDeniedButApprovingAsksForTheLock(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("jane")
	if err := h.core.SetLock(core.LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	h.u.guard.Lock()
	h.u.render()
	h.mustShow("Assent is locked")
	h.signIn("jane")
	h.promptShown()
	h.mustShow("Did you just try to sign in?")
	h.tap(fmt.Sprint(h.numbersShown()[0]))
	h.mustShow("Verify it's you")
	h.tap("Cancel")
	h.tap("Deny")
	h.tap("No, just deny")
	if c := h.waitForOutcome(u); c.Status != store.ChallengeDenied {
		t.Fatalf("the server recorded %s, want denied", c.Status)
	}
	// The app is still locked once the prompt is gone.
	h.waitForText("Assent is locked")
}

// challenge is the server's record of one challenge of the user.
func (h *harness) challenge(u store.User, id string) store.Challenge {
	h.t.Helper()
	cs, err := h.st.ListChallenges(h.ctx, store.ChallengeFilter{UserID: u.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, c := range cs {
		if c.ID == id {
			return c
		}
	}
	h.t.Fatalf("the server has no challenge %s for %s", id, u.Login)
	return store.Challenge{}
}

func TestOneTapOnDenyNeverReportsAndBackReturnsToTheNumbers(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("kim")
	_, number := h.signIn("kim")
	h.promptShown()
	h.tap("Deny")
	// Deny asks whether to report; nothing is sent yet.
	h.mustShow("Report it as not you?", "This wasn't me", "No, just deny", "Back")
	if h.u.promptUI.choices.Visible() {
		t.Fatal("the numbers are still offered beside the report question")
	}
	h.pump()
	if c := h.onlyChallenge(u); c.Status != store.ChallengePending {
		t.Fatalf("one tap on Deny answered the push: %s", c.Status)
	}
	// Back is the prompt as it was, and the right number still approves.
	h.tap("Back")
	h.mustNotShow("This wasn't me")
	h.tap(fmt.Sprint(number))
	if c := h.waitForOutcome(u); c.Status != store.ChallengeApproved {
		t.Fatalf("the server recorded %s, want approved", c.Status)
	}
}

// A report makes the next sign-ins high risk, which asks for user
// verification; with no app lock the prompt says so up front, offers to
// set one there, and then approves with it.
func TestAfterAReportAHighRiskPushWithoutALockOffersOneAndThenApproves(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("lena")
	h.signIn("lena")
	h.promptShown()
	h.tap("Deny")
	h.tap("This wasn't me")
	if c := h.waitForOutcome(u); c.Status != store.ChallengeReported {
		t.Fatalf("the server recorded %s, want reported", c.Status)
	}
	h.waitFor("the prompt to go", func() bool { return h.u.view == viewAccounts })

	tx, number := h.signIn("lena")
	h.promptShown()
	p := h.u.prompts[0].Prompt
	if p.UserVerification != push.UVRequired || p.Context.Risk != "high" {
		t.Fatalf("the sign-in after a report asks uv=%q at risk %q; want required at high", p.UserVerification, p.Context.Risk)
	}
	h.mustShow("Unusual request (high risk)", "a push was reported as not made by the user",
		"This request needs an app lock", "Set a PIN", "Deny")
	// It does not promise a PIN that does not exist, nor offer numbers
	// that could only fail.
	h.mustNotShow("You will be asked for your PIN")
	if n := len(h.u.promptUI.numbers); n != 0 {
		t.Fatalf("%d numbers are offered that could only fail", n)
	}

	h.tap("Set a PIN")
	h.mustShow("Set PIN", "New PIN")
	es := h.entries()
	h.typeInto(es[0], "2580")
	h.typeInto(es[1], "2580")
	h.tap("Save")
	if h.core.LockKind() != core.LockPIN {
		t.Fatal("the PIN was not set")
	}
	// Back at the same prompt, now ready to approve.
	if h.u.view != viewPrompt || h.u.prompts[0].ID != p.ID {
		t.Fatalf("after setting the PIN the window shows %s", h.u.view)
	}
	h.mustShow("You will be asked for your PIN to approve.", fmt.Sprint(number))
	h.mustNotShow("This request needs an app lock")
	h.tap(fmt.Sprint(number))
	h.mustShow("Verify it's you")
	h.typeInto(h.entries()[0], "2580")
	h.tap("Approve")
	var c store.Challenge
	h.waitFor("the server to settle the second challenge", func() bool {
		c = h.challenge(u, p.ID)
		return c.Status != store.ChallengePending
	})
	if c.Status != store.ChallengeApproved || !c.UV {
		t.Fatalf("the server recorded %s with uv=%v, want approved with the user verified", c.Status, c.UV)
	}
	h.waitFor("the sign-in to go through", func() bool {
		r, err := tx.Do(h.ctx, sdk.RemChallengePoll, sdk.Request{})
		return err == nil && r.Status != sdk.StatusWaiting
	})
}

func TestAPromptShowsWhyItIsRiskyAndNamesTheBrowser(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("mia")
	raw := "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	if _, err := h.srv.SendPush(h.ctx, server.PushRequest{
		User: u, Kind: push.KindSignIn, NumberChallenge: true, UserVerification: push.UVNone,
		Context: push.ChallengeContext{App: "intranet", ClientIP: "198.51.100.7", UserAgent: raw, Risk: "medium",
			RiskReasons: []string{"new device", "6 failed attempts in the last hour", "\x1b[31mnew\nnetwork"}},
	}); err != nil {
		t.Fatal(err)
	}
	h.promptShown()
	h.mustShow("Unusual request (medium risk)", "Why: new device; 6 failed attempts in the last hour; [31mnew network.",
		"If you did not start it, choose Deny and report it.", "Chrome on Linux")
	// The raw header is there for whoever wants it, under Details.
	h.mustNotShow("AppleWebKit")
	d := h.u.promptUI.uaDetails
	if d == nil {
		t.Fatal("no details for the browser")
	}
	d.Open(0)
	h.mustShow(raw)
}

func TestBrowserNames(t *testing.T) {
	for ua, want := range map[string]string{
		"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36":                                   "Chrome on Linux",
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0":               "Edge on Windows",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1": "Safari on iOS",
		"Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0": "Firefox on Linux",
		"curl/8.5.0":              "curl",
		"":                        "",
		"   ":                     "",
		"(((\x00\x07)))":          "((()))",
		strings.Repeat("x", 5000): strings.Repeat("x", 59) + "…",
	} {
		if got := browserName(ua); got != want {
			t.Errorf("browserName(%.40q) = %q, want %q", ua, got, want)
		}
	}
}

// How an answer went is shown in the success colour with a tick only when
// the request was approved; every refusal is in the warning colour with a
// warning sign.
func TestResultsOtherThanApprovedLookLikeWarnings(t *testing.T) {
	for _, c := range []struct {
		name    string
		answer  func(h *harness, number int)
		text    string
		approve bool
	}{
		{"approved", func(h *harness, n int) { h.tap(fmt.Sprint(n)) }, "Approved", true},
		{"denied", func(h *harness, _ int) { h.tap("Deny"); h.tap("No, just deny") }, "Denied", false},
		{"reported", func(h *harness, _ int) { h.tap("Deny"); h.tap("This wasn't me") }, "Reported", false},
		{"wrong number", func(h *harness, n int) {
			h.tap(fmt.Sprint(slices.DeleteFunc(slices.Clone(h.numbersShown()), func(x int) bool { return x == n })[0]))
		}, "That was not the number shown", false},
		{"cancelled", func(h *harness, _ int) { h.u.resolved(h.u.prompts[0].ID, push.OutcomeCancelled) }, "The request was cancelled", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t)
			h.enrollThroughTheApp("nora")
			_, number := h.signIn("nora")
			h.promptShown()
			c.answer(h, number)
			h.waitFor("the prompt to go", func() bool { return h.u.view == viewAccounts })
			h.waitForText(c.text)
			toast := h.u.toast
			wantImp, wantMark := widget.WarningImportance, toastWarningIcon()
			if c.approve {
				wantImp, wantMark = widget.SuccessImportance, toastDoneIcon()
			}
			if toast.Importance != wantImp || h.u.toastIcon.Resource != wantMark || !h.u.toastIcon.Visible() {
				t.Fatalf("%q is shown with importance %v and the icon %v, want %v and %v", toast.Text, toast.Importance, h.u.toastIcon.Resource.Name(), wantImp, wantMark.Name())
			}
			if c.approve == (toast.Importance == widget.WarningImportance) {
				t.Fatal("a success and a refusal look alike")
			}
		})
	}
}

// The lock can come and go while a prompt that needs it is on screen:
// removed, a tap on a number offers to set one (no error); set elsewhere,
// the offer gives way to the numbers.
func TestAPromptFollowsTheAppLockSetOrRemovedElsewhere(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("quinn")
	if err := h.core.SetLock(core.LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	h.u.guard.Unlock([]byte("2468"))
	res, err := h.srv.SendPush(h.ctx, server.PushRequest{
		User: u, Kind: push.KindSignIn, NumberChallenge: true, UserVerification: push.UVRequired,
		Context: push.ChallengeContext{App: "intranet", ClientIP: "127.0.0.1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.promptShown()
	h.mustShow("You will be asked for your PIN to approve.")
	// The command line removes the lock.
	if err := h.core.ClearLock([]byte("2468")); err != nil {
		t.Fatal(err)
	}
	h.tap(fmt.Sprint(res.Number))
	h.mustShow("Set PIN", "New PIN")
	h.mustNotShow("Verification needed", "no app lock")
	h.tap("Cancel")
	if c := h.onlyChallenge(u); c.Status != store.ChallengePending {
		t.Fatalf("the push was answered: %s", c.Status)
	}

	// A fresh prompt view now offers the lock; the command line sets one.
	h.u.promptUI = nil
	h.u.render()
	h.mustShow("This request needs an app lock")
	if err := h.core.SetLock(core.LockPIN, []byte("1357"), nil); err != nil {
		t.Fatal(err)
	}
	h.tap("Set a PIN")
	h.mustNotShow("This request needs an app lock", "Set PIN")
	h.mustShow("You will be asked for your PIN to approve.")
	h.tap(fmt.Sprint(res.Number))
	h.typeInto(h.entries()[0], "1357")
	h.tap("Approve")
	if c := h.waitForOutcome(u); c.Status != store.ChallengeApproved || !c.UV {
		t.Fatalf("the server recorded %s with uv=%v, want approved with the user verified", c.Status, c.UV)
	}
}

package ui

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

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
	h.mustShow("SIGN-IN REQUEST", "Did you just try to sign in?", "intranet", "127.0.0.1", "Firefox/140.0", "Example Org", "Expires in 5:00", "Deny", "This wasn't me")
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
	h.mustShow("PASSWORD RESET REQUEST", "Are you resetting your password?", "Lisbon, PT · 203.0.113.9", "Safari/18", "Unusual request (high risk)")
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
	// A wrong PIN sends nothing.
	h.typeInto(h.entries()[0], "1111")
	h.tap("Approve")
	h.waitForText("Wrong PIN")
	if c := h.onlyChallenge(u); c.Status != store.ChallengePending {
		t.Fatalf("a wrong PIN answered the push: %s", c.Status)
	}
	h.tap("OK")
	h.tap(fmt.Sprint(res.Number))
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
	if c := h.waitForOutcome(u); c.Status != store.ChallengeDenied {
		t.Fatalf("the server recorded %s, want denied", c.Status)
	}
	// The app is still locked once the prompt is gone.
	h.waitForText("Assent is locked")
}

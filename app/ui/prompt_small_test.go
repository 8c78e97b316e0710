package ui

import (
	"fmt"
	"strings"
	"testing"

	"fyne.io/fyne/v2"

	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server"
)

// phoneSizes are the screens the prompt must fit: a small phone and a
// common one.
var phoneSizes = []fyne.Size{{Width: 360, Height: 640}, {Width: 400, Height: 800}}

// inWindow fails unless o is shown wholly inside a window of the size.
func (h *harness) inWindow(what string, o fyne.CanvasObject, size fyne.Size) {
	h.t.Helper()
	if o == nil || !o.Visible() {
		h.t.Fatalf("%s is not shown", what)
	}
	pos := h.app.Driver().AbsolutePositionForObject(o)
	end := pos.Add(fyne.NewPos(o.Size().Width, o.Size().Height))
	if o.Size().Width <= 0 || o.Size().Height <= 0 || pos.X < 0 || pos.Y < 0 || end.X > size.Width || end.Y > size.Height {
		h.t.Fatalf("at %vx%v, %s lies at %v to %v, outside the window", size.Width, size.Height, what, pos, end)
	}
}

// A prompt with all there is to show (a long risk explanation, a long
// browser string, a password-reset title) keeps the numbers and Deny on
// screen at phone sizes; the details scroll.
func TestThePromptFitsAPhoneWithTheNumbersAndDenyOnScreen(t *testing.T) {
	for _, size := range phoneSizes {
		t.Run(fmt.Sprintf("%vx%v", size.Width, size.Height), func(t *testing.T) {
			h := newHarness(t)
			u := h.enrollThroughTheApp("olga")
			h.u.win.Resize(size)
			if _, err := h.srv.SendPush(h.ctx, server.PushRequest{
				User: u, Kind: push.KindRecovery, NumberChallenge: true, UserVerification: push.UVNone,
				Context: push.ChallengeContext{App: "Account recovery portal", ClientIP: "203.0.113.9", Location: "Lisbon, Portugal",
					UserAgent: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
					Risk:      "high", RiskReasons: []string{"new device", "new network", "6 failed attempts in the last hour", "a push was reported as not made by the user"}},
			}); err != nil {
				t.Fatal(err)
			}
			h.promptShown()
			v := h.u.promptUI
			if len(v.numbers) != 3 {
				t.Fatalf("%d numbers", len(v.numbers))
			}
			for i, n := range v.numbers {
				h.inWindow(fmt.Sprintf("number %d", v.p.Numbers[i]), n, size)
			}
			h.inWindow("Deny", v.deny, size)
			if got := h.u.win.Canvas().Size(); got != size {
				t.Fatalf("the window grew to %v to hold the prompt", got)
			}
			// Deny's question fits too.
			h.tap("Deny")
			h.inWindow("This wasn't me", v.report, size)
			h.inWindow("No, just deny", v.justDeny, size)
			h.inWindow("Back", v.back, size)
		})
	}
}

// The offer to set an app lock fits as well, and so does the Set PIN
// dialog it opens.
func TestTheAppLockOfferFitsAPhone(t *testing.T) {
	for _, size := range phoneSizes {
		t.Run(fmt.Sprintf("%vx%v", size.Width, size.Height), func(t *testing.T) {
			h := newHarness(t)
			u := h.enrollThroughTheApp("pia")
			h.u.win.Resize(size)
			if _, err := h.srv.SendPush(h.ctx, server.PushRequest{
				User: u, Kind: push.KindSignIn, NumberChallenge: true, UserVerification: push.UVRequired,
				Context: push.ChallengeContext{App: "intranet", ClientIP: "198.51.100.7", UserAgent: strings.Repeat("Mozilla/5.0 ", 30),
					Risk: "high", RiskReasons: []string{"new device", "a push was reported as not made by the user"}},
			}); err != nil {
				t.Fatal(err)
			}
			h.promptShown()
			v := h.u.promptUI
			h.inWindow("Set a PIN", v.setPIN, size)
			h.inWindow("Use a passphrase", v.setPass, size)
			h.inWindow("Deny", v.deny, size)
			h.tap("Set a PIN")
			for i, e := range h.entries() {
				h.inWindow(fmt.Sprintf("PIN field %d", i+1), e, size)
			}
			h.inWindow("Save", h.tappable("Save").(fyne.CanvasObject), size)
		})
	}
}

package ui

import (
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
)

func TestTheAppLockIsAskedOnStartAndAfterIdlingAndUnlocksWithThePIN(t *testing.T) {
	h := newHarness(t)
	if _, err := h.core.AddOTP(githubURI); err != nil {
		t.Fatal(err)
	}
	h.tick(0)
	// Set the PIN through the settings dialog, as a person would.
	h.u.showSettings()
	h.mustShow("No app lock")
	h.tap("Set PIN…")
	es := h.entries()
	es[0].SetText("2468")
	es[1].SetText("2468")
	h.tap("Save")
	if h.core.LockKind() != core.LockPIN {
		t.Fatal("the PIN was not set")
	}

	// A new start of the app is locked; the codes are behind the lock.
	h.u.guard = h.core.NewGuard()
	h.u.render()
	h.mustShow("Assent is locked", "Enter your PIN to unlock")
	h.mustNotShow("alice@example.com", groupCode(h.codeNow(githubURI)))

	h.typeInto(h.entries()[0], "1357")
	h.tap("Unlock")
	h.mustShow("Wrong PIN. Try again.")
	h.typeInto(h.entries()[0], "2468")
	h.tap("Unlock")
	h.mustShow("alice@example.com")

	// Use puts the auto-lock (five minutes by default) off; idling locks.
	h.tick(4 * time.Minute)
	h.tap(groupCode(h.codeNow(githubURI)))
	h.tick(4 * time.Minute)
	h.mustShow("alice@example.com")
	h.tick(time.Minute)
	h.mustShow("Assent is locked")
	h.mustNotShow("alice@example.com")
}

func TestClosingToTheTrayLocksTheApp(t *testing.T) {
	h := newHarness(t)
	if err := h.core.SetLock(core.LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	h.u.guard.Unlock([]byte("2468"))
	h.u.render()
	h.mustShow("No accounts yet")
	// The test driver has no tray, so closing quits; hiding is what the
	// tray's close does.
	h.u.hide()
	if h.u.visible {
		t.Fatal("the window is still shown")
	}
	h.mustShow("Assent is locked")
}

func TestSettingsAreSavedAsTheyAreChanged(t *testing.T) {
	h := newHarness(t)
	h.u.showSettings()
	h.tap("Start hidden in the tray")
	h.tap("Keep running in the tray when closed")
	h.mustShow("After 5 minutes") // the auto-lock choice shown
	h.selects()[0].SetSelected("After 15 minutes")
	s := h.core.Settings()
	if !s.StartHidden || s.CloseToTray || s.AutoLock != 15*time.Minute || !s.LockWhenHidden {
		t.Fatalf("settings %+v", s)
	}
}

package ui

import (
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

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
	// The tray's settings are offered where there is a tray (the test
	// driver has none: see TestWithoutATrayTheSettingsLeaveTheTrayOut).
	h.u.app = trayApp{h.u.app}
	h.u.opts.HasTray = func() bool { return true }
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

// The Set PIN dialog says what is wrong under the field concerned and
// keeps what was typed; it takes digits only, Tab goes down the fields and
// Enter saves.
func TestSetPINShowsProblemsUnderTheFieldsAndKeepsTheForm(t *testing.T) {
	h := newHarness(t)
	h.u.setLockDialog(core.LockPIN)
	es := h.dialogEntries()
	if len(es) != 2 {
		t.Fatalf("%d fields, want New PIN and Again", len(es))
	}
	first, again := es[0], es[1]
	c := h.u.win.Canvas()
	if c.Focused() != first {
		t.Fatal("the dialog does not start in the first field")
	}
	c.FocusNext()
	if c.Focused() != again {
		t.Fatalf("Tab from New PIN goes to %T, not the next field", c.Focused())
	}

	// Letters and signs do not go in, typed or pasted.
	h.typeInto(first, "12a3-4")
	if first.Text != "1234" {
		t.Fatalf("the PIN field holds %q", first.Text)
	}
	h.app.Clipboard().SetContent("5 6x7")
	again.TypedShortcut(&fyne.ShortcutPaste{Clipboard: h.app.Clipboard()})
	h.pump()
	if again.Text != "567" {
		t.Fatalf("pasting into the PIN field gave %q", again.Text)
	}

	// Two different PINs: said under the second, both kept.
	h.tap("Save")
	h.mustShow("Set PIN", "The two PINs differ. Type the same PIN twice.")
	if first.Text != "1234" || again.Text != "567" || h.core.LockKind() != "" {
		t.Fatalf("the form lost what was typed (%q, %q) or saved a lock", first.Text, again.Text)
	}
	// Too short: said under the first.
	first.SetText("12")
	again.SetText("12")
	h.tap("Save")
	h.mustShow("A PIN has 4 to 16 digits.")
	h.mustNotShow("The two PINs differ")
	if h.core.LockKind() != "" {
		t.Fatal("a short PIN was saved")
	}
	// Enter in the last field saves.
	first.SetText("2468")
	again.SetText("2468")
	again.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	h.pump()
	if h.core.LockKind() != core.LockPIN {
		t.Fatal("Enter did not save the PIN")
	}
	h.mustNotShow("Set PIN", "A PIN has")
	if err := h.core.CheckUnlock([]byte("2468")); err != nil {
		t.Fatalf("the PIN saved is not the one typed: %v", err)
	}
}

// Changing the PIN with a wrong current one says so under Current, keeps
// the new PIN typed, and changes nothing.
func TestChangingThePINWithAWrongCurrentOneKeepsTheForm(t *testing.T) {
	h := newHarness(t)
	if err := h.core.SetLock(core.LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	h.u.guard.Unlock([]byte("2468"))
	h.u.setLockDialog(core.LockPIN)
	es := h.dialogEntries()
	if len(es) != 3 {
		t.Fatalf("%d fields, want Current, New PIN and Again", len(es))
	}
	h.typeInto(es[0], "1111")
	h.typeInto(es[1], "1357")
	h.typeInto(es[2], "1357")
	h.tap("Save")
	h.mustShow("Set PIN", "Current PIN", "Wrong PIN. Try again.")
	if es[1].Text != "1357" || es[2].Text != "1357" {
		t.Fatal("the new PIN typed was lost")
	}
	if err := h.core.CheckUnlock([]byte("2468")); err != nil {
		t.Fatalf("the PIN changed after a wrong current one: %v", err)
	}
	h.typeInto(es[0], "2468")
	h.tap("Save")
	if err := h.core.CheckUnlock([]byte("1357")); err != nil {
		t.Fatalf("the PIN did not change: %v", err)
	}
}

// Removing the lock with a wrong PIN keeps the dialog, with the problem
// under the field.
func TestAWrongPINInTheAskDialogStaysInTheDialog(t *testing.T) {
	h := newHarness(t)
	if err := h.core.SetLock(core.LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	h.u.guard.Unlock([]byte("2468"))
	h.u.removeLockDialog()
	e := h.entries()[0]
	h.typeInto(e, "99x99")
	if e.Text != "9999" {
		t.Fatalf("the PIN field holds %q", e.Text)
	}
	e.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	h.pump()
	h.mustShow("Remove the app lock", "Wrong PIN. Try again.")
	if h.core.LockKind() != core.LockPIN {
		t.Fatal("a wrong PIN removed the lock")
	}
	h.typeInto(h.entries()[0], "2468")
	h.tap("Remove")
	if h.core.LockKind() != "" {
		t.Fatal("the right PIN did not remove the lock")
	}
}

// dialogEntries are the entries of the topmost overlay (an open dialog).
func (h *harness) dialogEntries() []*widget.Entry {
	ov := h.u.win.Canvas().Overlays().Top()
	if ov == nil {
		h.t.Fatal("no dialog is open")
	}
	var out []*widget.Entry
	walk(ov, nil, func(o fyne.CanvasObject, _ []fyne.CanvasObject) bool {
		if e, ok := o.(*widget.Entry); ok {
			out = append(out, e)
			return false
		}
		return true
	})
	return out
}

package ui

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
)

// lockScreen asks for the app lock.
type lockScreen struct {
	u       *UI
	content fyne.CanvasObject
	prompt  *widget.Label
	entry   *widget.Entry
	msg     *widget.Label
}

func (u *UI) newLockScreen() *lockScreen {
	s := &lockScreen{u: u}
	logo := canvas.NewImageFromResource(appIcon)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSize(96, 96))
	title := widget.NewLabelWithStyle("Assent is locked", fyne.TextAlignCenter, fyne.TextStyle{Bold: true})
	title.SizeName = theme.SizeNameHeadingText
	s.prompt = widget.NewLabel("")
	s.prompt.Alignment = fyne.TextAlignCenter
	s.entry = widget.NewPasswordEntry()
	s.entry.OnSubmitted = func(string) { s.submit() }
	s.msg = widget.NewLabel("")
	s.msg.Importance = widget.DangerImportance
	s.msg.Alignment = fyne.TextAlignCenter
	s.msg.Wrapping = fyne.TextWrapWord
	unlock := widget.NewButton("Unlock", s.submit)
	unlock.Importance = widget.HighImportance
	form := fixedWidth(280, s.prompt, s.entry, unlock, s.msg)
	s.content = container.NewVBox(layout.NewSpacer(), container.NewCenter(logo), title, container.NewCenter(form), layout.NewSpacer())
	return s
}

func (s *lockScreen) reset() {
	s.prompt.SetText(fmt.Sprintf("Enter your %s to unlock", lockNoun(s.u.core.LockKind())))
	s.entry.SetText("")
	s.msg.SetText("")
}

func (s *lockScreen) focus(w fyne.Window) { w.Canvas().Focus(s.entry) }

func (s *lockScreen) submit() {
	err := s.u.guard.Unlock([]byte(s.entry.Text))
	s.entry.SetText("")
	if err != nil {
		s.msg.SetText(unlockProblem(err, s.u.core.LockKind()))
		return
	}
	s.msg.SetText("")
	s.u.render()
}

// unlockProblem says what went wrong with an unlock in a person's words.
func unlockProblem(err error, kind string) string {
	var te *core.ThrottledError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("Too many wrong tries. Wait %s, then try again.", te.Wait.Round(time.Second))
	case errors.Is(err, core.ErrWrongUnlock):
		return fmt.Sprintf("Wrong %s. Try again.", lockNoun(kind))
	}
	return err.Error()
}

// askSecret asks for the app lock in a dialog and hands it on, right or
// wrong: the caller says what came of it.
func (u *UI) askSecret(title, msg, confirmLabel string, then func(secret []byte)) {
	u.askLock(title, msg, confirmLabel, false, then)
}

// askLock asks for the app lock in a dialog and hands it on. With
// checkHere a wrong one is said under the field and the dialog stays, so
// nothing is sent and nothing retyped but the PIN. Enter submits; a PIN
// field takes digits only.
func (u *UI) askLock(title, msg, confirmLabel string, checkHere bool, then func(secret []byte)) {
	kind := u.core.LockKind()
	entry := widget.NewPasswordEntry()
	if kind == core.LockPIN {
		digitsOnly(entry)
	}
	problem := fieldError()
	var d *dialog.CustomDialog
	var content *fyne.Container
	ok := func() {
		u.touch()
		secret := []byte(entry.Text)
		// Checked here so that a typo keeps the dialog; whoever gets the
		// secret checks it again before it counts.
		if !checkHere {
			d.Hide()
			then(secret)
			return
		}
		if err := u.core.CheckUnlock(secret); err != nil && !errors.Is(err, core.ErrNoAppLock) {
			entry.SetText("")
			showFieldError(problem, unlockProblem(err, kind))
			refit(d, content)
			u.win.Canvas().Focus(entry)
			return
		}
		d.Hide()
		then(secret)
	}
	entry.OnSubmitted = func(string) { ok() }
	confirm := widget.NewButton(confirmLabel, ok)
	confirm.Importance = widget.HighImportance
	cancel := widget.NewButton("Cancel", func() { d.Hide() })
	content = fixedWidth(dialogWidth(u.win, 300), wrapped(msg), entry, problem)
	d = dialog.NewCustomWithoutButtons(title, content, u.win)
	d.SetButtons([]fyne.CanvasObject{cancel, confirm})
	d.Show()
	u.win.Canvas().Focus(entry)
}

// dialogWidth is a dialog's content width: want, or less on a narrow
// window (a phone), so that the dialog fits.
func dialogWidth(w fyne.Window, want float32) float32 {
	if avail := w.Canvas().Size().Width - 80; avail > 0 && avail < want {
		return max(avail, 200)
	}
	return want
}

// refit lays a dialog out again after a line under a field was shown or
// hidden, so that it grows or shrinks to fit.
func refit(d dialog.Dialog, content *fyne.Container) {
	content.Refresh()
	d.Resize(d.MinSize())
}

// fieldError is the line under a field that says what is wrong with it.
func fieldError() *widget.Label {
	l := widget.NewLabel("")
	l.Importance = widget.DangerImportance
	l.Wrapping = fyne.TextWrapWord
	l.SizeName = theme.SizeNameCaptionText
	l.Hide()
	return l
}

func showFieldError(l *widget.Label, msg string) {
	l.SetText(msg)
	l.Show()
}

func clearFieldError(l *widget.Label) {
	l.SetText("")
	l.Hide()
}

// digitsOnly makes an entry keep only the digits typed or pasted into it.
func digitsOnly(e *widget.Entry) {
	e.OnChanged = func(s string) {
		if d := keepDigits(s); d != s {
			e.SetText(d)
			e.CursorColumn = len([]rune(d))
		}
	}
}

func keepDigits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// sentence makes a problem a sentence: "a PIN has digits only" → "A PIN
// has digits only."
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	r := []rune(s)
	r[0] = unicode.ToUpper(r[0])
	if !strings.ContainsRune(".!?", r[len(r)-1]) {
		r = append(r, '.')
	}
	return string(r)
}

// Auto-lock choices of the settings dialog.
var autoLockChoices = []struct {
	label string
	d     time.Duration
}{
	{"After 1 minute", time.Minute},
	{"After 5 minutes", 5 * time.Minute},
	{"After 15 minutes", 15 * time.Minute},
	{"After 1 hour", time.Hour},
	{"Never", 0},
}

// showSettings is the settings dialog: the app lock, auto-lock, and how
// the app lives in the tray.
func (u *UI) showSettings() {
	u.touch()
	s := u.core.Settings()
	save := func(change func(*core.Settings)) {
		u.touch()
		next := u.core.Settings()
		change(&next)
		if err := u.core.SetSettings(next); err != nil {
			u.showError("Could not save the settings", err)
		}
	}
	var labels []string
	selected := ""
	for _, c := range autoLockChoices {
		labels = append(labels, c.label)
		if c.d == s.AutoLock {
			selected = c.label
		}
	}
	if selected == "" {
		labels = append(labels, "After "+s.AutoLock.String())
		selected = labels[len(labels)-1]
	}
	autoLock := widget.NewSelect(labels, func(l string) {
		for _, c := range autoLockChoices {
			if c.label == l {
				save(func(s *core.Settings) { s.AutoLock = c.d })
			}
		}
	})
	autoLock.SetSelected(selected)
	hidden := widget.NewCheck("Lock when the window is hidden", func(b bool) { save(func(s *core.Settings) { s.LockWhenHidden = b }) })
	hidden.SetChecked(s.LockWhenHidden)
	tray := widget.NewCheck("Keep running in the tray when closed", func(b bool) { save(func(s *core.Settings) { s.CloseToTray = b }) })
	tray.SetChecked(s.CloseToTray)
	startHidden := widget.NewCheck("Start hidden in the tray", func(b bool) { save(func(s *core.Settings) { s.StartHidden = b }) })
	startHidden.SetChecked(s.StartHidden)

	lockState := widget.NewLabel("")
	var d *dialog.CustomDialog
	setPIN := widget.NewButton("Set PIN…", func() { d.Hide(); u.setLockDialog(core.LockPIN) })
	setPass := widget.NewButton("Set passphrase…", func() { d.Hide(); u.setLockDialog(core.LockPassphrase) })
	remove := widget.NewButton("Remove lock…", func() { d.Hide(); u.removeLockDialog() })
	remove.Importance = widget.DangerImportance
	switch u.core.LockKind() {
	case core.LockPIN:
		lockState.SetText("Assent is locked with a PIN.")
	case core.LockPassphrase:
		lockState.SetText("Assent is locked with a passphrase.")
	default:
		lockState.SetText("No app lock: anyone at this device can see codes and approve sign-ins.")
		remove.Hide()
	}
	lockState.Wrapping = fyne.TextWrapWord

	traySep, trayHead := widget.NewSeparator(), heading("Tray")
	if !u.hasTray() { // closing quits, and nothing can start hidden
		traySep.Hide()
		trayHead.Hide()
		tray.Hide()
		startHidden.Hide()
	}
	content := fixedWidth(360,
		heading("App lock"),
		lockState,
		container.NewHBox(setPIN, setPass, remove),
		widget.NewForm(widget.NewFormItem("Auto-lock", autoLock)),
		hidden,
		traySep,
		trayHead,
		tray,
		startHidden,
	)
	d = dialog.NewCustom("Settings", "Close", content, u.win)
	d.Show()
}

// setLockDialog sets (or changes) the app lock.
func (u *UI) setLockDialog(kind string) { u.setLockDialogThen(kind, nil) }

// setLockDialogThen sets (or changes) the app lock, then calls done. What
// is wrong is said under the field concerned and the dialog keeps what
// was typed; Enter in any field saves; Tab goes down the fields.
func (u *UI) setLockDialogThen(kind string, done func()) {
	noun := lockNoun(kind)
	oldKind := u.core.LockKind()
	current := widget.NewPasswordEntry()
	first := widget.NewPasswordEntry()
	again := widget.NewPasswordEntry()
	if oldKind == core.LockPIN {
		digitsOnly(current)
	}
	if kind == core.LockPIN {
		digitsOnly(first)
		digitsOnly(again)
	}
	hint := fmt.Sprintf("%d to %d digits", core.MinPINLength, core.MaxPINLength)
	if kind == core.LockPassphrase {
		hint = fmt.Sprintf("at least %d characters", core.MinPassphraseLength)
	}
	first.SetPlaceHolder(hint)
	currentErr, firstErr, againErr := fieldError(), fieldError(), fieldError()

	var rows []fyne.CanvasObject
	if oldKind != "" {
		rows = append(rows, fieldLabel("Current "+lockNoun(oldKind)), current, currentErr)
	}
	rows = append(rows, fieldLabel("New "+noun), first, firstErr, fieldLabel("The same "+noun+" again"), again, againErr)

	var d *dialog.CustomDialog
	content := fixedWidth(dialogWidth(u.win, 320), rows...)
	save := func() {
		u.touch()
		for _, l := range []*widget.Label{currentErr, firstErr, againErr} {
			clearFieldError(l)
		}
		// Whatever is said below, the dialog fits it.
		saved := false
		defer func() {
			if !saved {
				refit(d, content)
			}
		}()
		if err := core.CheckLockSecret(kind, []byte(first.Text)); err != nil {
			showFieldError(firstErr, sentence(err.Error()))
			u.win.Canvas().Focus(first)
			return
		}
		if first.Text != again.Text {
			showFieldError(againErr, fmt.Sprintf("The two %ss differ. Type the same %s twice.", noun, noun))
			u.win.Canvas().Focus(again)
			return
		}
		err := u.core.SetLock(kind, []byte(first.Text), []byte(current.Text))
		switch {
		case err == nil:
		case oldKind != "" && (errors.Is(err, core.ErrWrongUnlock) || errors.Is(err, core.ErrUnlockThrottled)):
			current.SetText("")
			showFieldError(currentErr, unlockProblem(err, oldKind))
			u.win.Canvas().Focus(current)
			return
		default:
			u.log.Error("set app lock", "err", err)
			var se *core.LockSecretError
			if errors.As(err, &se) {
				showFieldError(firstErr, sentence(se.Problem))
			} else {
				showFieldError(againErr, "The app lock could not be saved. Try again; if it keeps failing, see the log.")
			}
			return
		}
		saved = true
		d.Hide()
		u.guard.Touch()
		u.showToast(fmt.Sprintf("App lock set. Assent asks for the %s when it opens and after it was idle.", noun))
		if done != nil {
			done()
		}
	}
	for _, e := range []*widget.Entry{current, first, again} {
		e.OnSubmitted = func(string) { save() }
	}
	saveButton := widget.NewButton("Save", save)
	saveButton.Importance = widget.HighImportance
	cancel := widget.NewButton("Cancel", func() { d.Hide() })
	d = dialog.NewCustomWithoutButtons("Set "+noun, content, u.win)
	d.SetButtons([]fyne.CanvasObject{cancel, saveButton})
	d.Show()
	if oldKind != "" {
		u.win.Canvas().Focus(current)
	} else {
		u.win.Canvas().Focus(first)
	}
}

// fieldLabel names the field under it.
func fieldLabel(s string) *widget.Label {
	l := widget.NewLabel(s)
	l.TextStyle = fyne.TextStyle{Bold: true}
	return l
}

func (u *UI) removeLockDialog() {
	u.askLock("Remove the app lock", fmt.Sprintf("Enter your %s to remove it.", lockNoun(u.core.LockKind())), "Remove", true, func(secret []byte) {
		if err := u.core.ClearLock(secret); err != nil {
			u.showError("Lock not removed", errors.New(unlockProblem(err, u.core.LockKind())))
			return
		}
		u.showToast("The app lock was removed.")
	})
}

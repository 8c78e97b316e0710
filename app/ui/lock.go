package ui

import (
	"errors"
	"fmt"
	"time"

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

// askSecret asks for the app lock in a dialog and hands it on.
func (u *UI) askSecret(title, msg, confirmLabel string, then func(secret []byte)) {
	entry := widget.NewPasswordEntry()
	var d *dialog.CustomDialog
	ok := func() {
		secret := []byte(entry.Text)
		d.Hide()
		then(secret)
	}
	entry.OnSubmitted = func(string) { ok() }
	confirm := widget.NewButton(confirmLabel, ok)
	confirm.Importance = widget.HighImportance
	cancel := widget.NewButton("Cancel", func() { d.Hide() })
	d = dialog.NewCustomWithoutButtons(title, fixedWidth(300, wrapped(msg), entry), u.win)
	d.SetButtons([]fyne.CanvasObject{cancel, confirm})
	d.Show()
	u.win.Canvas().Focus(entry)
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

	content := fixedWidth(360,
		heading("App lock"),
		lockState,
		container.NewHBox(setPIN, setPass, remove),
		widget.NewForm(widget.NewFormItem("Auto-lock", autoLock)),
		hidden,
		widget.NewSeparator(),
		heading("Tray"),
		tray,
		startHidden,
	)
	d = dialog.NewCustom("Settings", "Close", content, u.win)
	d.Show()
}

// setLockDialog sets (or changes) the app lock.
func (u *UI) setLockDialog(kind string) {
	current := widget.NewPasswordEntry()
	first := widget.NewPasswordEntry()
	again := widget.NewPasswordEntry()
	noun := lockNoun(kind)
	var items []*widget.FormItem
	if u.core.LockKind() != "" {
		items = append(items, widget.NewFormItem("Current", current))
	}
	hint := fmt.Sprintf("%d to %d digits", core.MinPINLength, core.MaxPINLength)
	if kind == core.LockPassphrase {
		hint = fmt.Sprintf("at least %d characters", core.MinPassphraseLength)
	}
	first.SetPlaceHolder(hint)
	items = append(items, widget.NewFormItem("New "+noun, first), widget.NewFormItem("Again", again))
	d := dialog.NewForm("Set "+noun, "Save", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		if first.Text != again.Text {
			u.showError("Not saved", fmt.Errorf("the two %ss differ", noun))
			return
		}
		if err := u.core.SetLock(kind, []byte(first.Text), []byte(current.Text)); err != nil {
			u.showError("Not saved", errors.New(unlockProblem(err, u.core.LockKind())))
			return
		}
		u.guard.Touch()
		u.showToast(fmt.Sprintf("App lock set. Assent asks for the %s when it opens and after it was idle.", noun))
	}, u.win)
	d.Resize(fyne.NewSize(380, 0))
	d.Show()
}

func (u *UI) removeLockDialog() {
	u.askSecret("Remove the app lock", fmt.Sprintf("Enter your %s to remove it.", lockNoun(u.core.LockKind())), "Remove", func(secret []byte) {
		if err := u.core.ClearLock(secret); err != nil {
			u.showError("Lock not removed", errors.New(unlockProblem(err, u.core.LockKind())))
			return
		}
		u.showToast("The app lock was removed.")
	})
}

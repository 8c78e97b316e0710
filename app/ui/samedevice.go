package ui

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
)

// Same-device sign-in: while the app runs, app/core serves the loopback
// route a sign-in page in a browser on this computer asks (DESIGN.md,
// "Same-device proof"); each request it has checked comes here, and the
// window asks "Sign in to ORG as USER in this browser?".

const viewSameDevice = "samedevice"

// sameDeviceView is a same-device request on screen.
type sameDeviceView struct {
	u       *UI
	ask     core.SameDeviceAsk
	answer  chan core.SameDeviceDecision
	done    bool // answered, or the request went away
	busy    bool // the app lock is being checked
	content fyne.CanvasObject
	expires *widget.Label
	bar     *thinBar
	signIn  *widget.Button
	deny    *widget.Button
	uvNote  *widget.Label
	setLock *widget.Button
	total   time.Duration
}

// startSameDevice starts the loopback server; it stops with the app.
func (u *UI) startSameDevice() {
	if u.opts.NoSameDevice {
		return
	}
	addr, err := u.core.ServeSameDevice(u.ctx, u.askSameDevice)
	if err != nil {
		u.log.Warn("same-device sign-in is off", "err", err)
		return
	}
	u.sameDeviceAddr = addr
	u.log.Debug("same-device sign-in", "addr", addr)
}

// SameDeviceAddr is where the same-device server listens ("" when off).
func (u *UI) SameDeviceAddr() string { return u.sameDeviceAddr }

// askSameDevice runs on the loopback server's goroutine: it shows the
// request and waits for the person, or for the request to go away.
func (u *UI) askSameDevice(ctx context.Context, a core.SameDeviceAsk) (core.SameDeviceDecision, error) {
	answer := make(chan core.SameDeviceDecision, 1)
	var v *sameDeviceView
	u.opts.Do(func() { v = u.showSameDevice(a, answer) })
	select {
	case d := <-answer:
		return d, nil
	case <-ctx.Done():
		expired := errors.Is(ctx.Err(), context.DeadlineExceeded)
		u.opts.Do(func() { u.sameDeviceGone(v, expired) })
		return core.SameDeviceDecision{}, ctx.Err()
	}
}

// showSameDevice puts a request on screen, brings the window forward and
// sends a notification.
func (u *UI) showSameDevice(a core.SameDeviceAsk, answer chan core.SameDeviceDecision) *sameDeviceView {
	v := u.newSameDeviceView(a, answer)
	u.sameDevice = v
	u.render()
	u.app.SendNotification(fyne.NewNotification("Sign-in in your browser", sameDeviceQuestion(a)))
	u.show()
	return v
}

func sameDeviceQuestion(a core.SameDeviceAsk) string {
	return fmt.Sprintf("Sign in to %s as %s in this browser?", a.OrgName(), a.Account.Name)
}

// sameDeviceGone takes a request away that was not answered in time, or
// whose page stopped waiting.
func (u *UI) sameDeviceGone(v *sameDeviceView, expired bool) {
	if v == nil || u.sameDevice != v || v.done {
		return
	}
	v.done = true
	u.closeSameDevice(v)
	if expired {
		u.showWarning("The browser sign-in expired before it was answered.")
	} else {
		u.showWarning("The browser stopped waiting for an answer.")
	}
}

func (u *UI) closeSameDevice(v *sameDeviceView) {
	if u.sameDevice == v {
		u.sameDevice = nil
		u.render()
	}
}

func (u *UI) newSameDeviceView(a core.SameDeviceAsk, answer chan core.SameDeviceDecision) *sameDeviceView {
	v := &sameDeviceView{u: u, ask: a, answer: answer}
	org := a.OrgName()
	who := container.New(layout.NewCustomPaddedVBoxLayout(0), heading(org), secondary(a.Account.Name))
	header := container.NewBorder(nil, nil, container.NewCenter(avatar(org, 40)), nil, who)

	tag := widget.NewLabel("SIGN-IN ON THIS COMPUTER")
	tag.Importance = widget.HighImportance
	tag.TextStyle = fyne.TextStyle{Bold: true}
	tag.SizeName = theme.SizeNameCaptionText
	title := widget.NewLabel(sameDeviceQuestion(a))
	title.SizeName = theme.SizeNameHeadingText
	title.TextStyle = fyne.TextStyle{Bold: true}
	title.Wrapping = fyne.TextWrapWord

	details := widget.NewForm()
	add := func(k, val string) {
		if strings.TrimSpace(val) == "" {
			return
		}
		l := widget.NewLabel(val)
		l.Wrapping = fyne.TextWrapBreak
		details.Append(k, l)
	}
	add("App", a.App)
	add("Page", a.Origin)
	add("Account", labelOf(a.Account))
	detailCard := container.NewStack(card(10), padded(details, 4))
	hint := wrapped("A page in a browser on this computer asks to sign you in. Only sign in if you just started it, on the page shown above.")
	hint.Importance = widget.LowImportance

	v.expires = widget.NewLabel("")
	v.expires.TextStyle = fyne.TextStyle{Bold: true}
	v.bar = newThinBar()
	v.total = a.Expires.Sub(u.opts.Now())

	v.signIn = widget.NewButtonWithIcon("Sign in", theme.ConfirmIcon(), v.approve)
	v.signIn.Importance = widget.HighImportance
	v.deny = widget.NewButtonWithIcon("Deny", theme.CancelIcon(), v.decline)
	v.uvNote = wrapped("")
	v.setLock = widget.NewButtonWithIcon("Set an app lock…", theme.SettingsIcon(), func() { u.touch(); u.setLockDialog(core.LockPIN) })
	v.refreshVerification()

	body := container.New(layout.NewCustomPaddedVBoxLayout(10),
		header,
		widget.NewSeparator(),
		vbox(tag, title),
		detailCard,
		hint,
		container.NewBorder(nil, nil, nil, v.expires, v.bar.obj),
		layout.NewSpacer(),
		v.uvNote,
		v.setLock,
		container.NewGridWithColumns(2, v.deny, v.signIn),
	)
	v.content = container.NewVScroll(padded(body, 16))
	v.refresh(u.opts.Now())
	return v
}

// refreshVerification says whether approving asks for the app lock, and
// offers to set one when the request needs it and there is none.
func (v *sameDeviceView) refreshVerification() {
	want, err := v.ask.WantsVerification()
	switch {
	case err != nil:
		v.uvNote.SetText("This sign-in asks you to verify it's you, which needs an app lock (a PIN or passphrase). Set one, then sign in.")
		v.uvNote.Importance = widget.WarningImportance
		v.uvNote.SizeName = theme.SizeNameText
		v.uvNote.Show()
		v.setLock.Show()
	case want:
		v.uvNote.SetText(fmt.Sprintf("You will be asked for your %s to sign in.", lockNoun(v.u.core.LockKind())))
		v.uvNote.Importance = widget.LowImportance
		v.uvNote.SizeName = theme.SizeNameCaptionText
		v.uvNote.Show()
		v.setLock.Hide()
	default:
		v.uvNote.Hide()
		v.setLock.Hide()
	}
	v.uvNote.Refresh()
}

// refresh moves the countdown.
func (v *sameDeviceView) refresh(now time.Time) {
	left := max(v.ask.Expires.Sub(now), 0)
	secs := int((left + time.Second - 1) / time.Second)
	v.expires.SetText(fmt.Sprintf("Expires in %d:%02d", secs/60, secs%60))
	if v.total > 0 {
		v.bar.set(float64(left)/float64(v.total), left <= 30*time.Second)
	}
	v.refreshVerification()
}

// tickSameDevice is the heartbeat of the request on screen.
func (u *UI) tickSameDevice(now time.Time) {
	if u.sameDevice != nil && u.view == viewSameDevice {
		u.sameDevice.refresh(now)
	}
}

// renderSameDevice shows the request in the window.
func (u *UI) renderSameDevice() {
	if u.view != viewSameDevice || u.win.Content() != u.sameDevice.content {
		u.win.SetContent(u.sameDevice.content)
	}
	u.sameDevice.refresh(u.opts.Now())
	u.win.SetTitle("Assent — sign in?")
}

func (v *sameDeviceView) reply(approve bool) {
	if v.done {
		return
	}
	v.done = true
	v.answer <- core.SameDeviceDecision{Approve: approve}
	v.u.closeSameDevice(v)
	if approve {
		v.u.showToast("Confirmed. Carry on in your browser.")
	} else {
		v.u.showWarning("Denied. The browser was not signed in.")
	}
}

func (v *sameDeviceView) decline() {
	v.u.touch()
	v.reply(false)
}

// approve signs in, asking for the app lock first when the request wants
// the person verified or the app is locked.
func (v *sameDeviceView) approve() {
	u := v.u
	u.touch()
	if v.done || v.busy {
		return
	}
	want, err := v.ask.WantsVerification()
	if err != nil {
		v.offerLock()
		return
	}
	if !want && !u.guard.Locked() {
		v.reply(true)
		return
	}
	u.askSecret("Verify it's you", fmt.Sprintf("Enter your %s to sign in.", lockNoun(u.core.LockKind())), "Sign in", v.verify)
}

// verify checks the app lock off the Fyne goroutine (Argon2id takes a
// moment) and signs in when it is right.
func (v *sameDeviceView) verify(secret []byte) {
	u := v.u
	v.busy = true
	v.setBusy(true)
	ask := v.ask
	go func() {
		err := ask.Verify(secret)
		u.opts.Do(func() {
			v.busy = false
			v.setBusy(false)
			if v.done {
				return
			}
			if err != nil {
				u.showError("Not verified", errors.New(unlockProblem(err, u.core.LockKind())))
				return
			}
			v.reply(true)
		})
	}()
}

func (v *sameDeviceView) setBusy(busy bool) {
	for _, b := range []*widget.Button{v.signIn, v.deny} {
		if busy {
			b.Disable()
		} else {
			b.Enable()
		}
	}
}

// offerLock says that the request needs an app lock and offers to set one.
func (v *sameDeviceView) offerLock() {
	u := v.u
	var d *dialog.CustomDialog
	msg := "This sign-in asks you to verify it's you, which needs an app lock: a PIN or a passphrase Assent asks before it approves. Set one now, then sign in."
	cancel := widget.NewButton("Not now", func() { d.Hide() })
	pin := widget.NewButton("Set PIN…", func() { d.Hide(); u.setLockDialog(core.LockPIN) })
	pin.Importance = widget.HighImportance
	pass := widget.NewButton("Set passphrase…", func() { d.Hide(); u.setLockDialog(core.LockPassphrase) })
	d = dialog.NewCustomWithoutButtons("App lock needed", fixedWidth(320, wrapped(msg)), u.win)
	d.SetButtons([]fyne.CanvasObject{cancel, pass, pin})
	d.Show()
}

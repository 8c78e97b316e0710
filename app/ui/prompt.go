package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/push"
)

// promptView is a push prompt: what is asked, by which app, from where,
// the countdown to expiry, the three numbers, Deny and "This wasn't me".
type promptView struct {
	u       *UI
	p       *pending
	content fyne.CanvasObject
	count   *widget.Label
	expires *widget.Label
	bar     *thinBar
	numbers []*tapArea
	approve *widget.Button
	deny    *widget.Button
	report  *widget.Button
	sending *widget.Label
}

// kindTitle is the question a prompt asks, and what it is.
func kindTitle(kind string) (question, what string) {
	switch kind {
	case push.KindRecovery:
		return "Are you resetting your password?", "Password reset"
	case push.KindEnroll:
		return "Are you adding a new device?", "New device"
	case push.KindStepUp:
		return "Is it you?", "Confirm it's you"
	}
	return "Did you just try to sign in?", "Sign-in"
}

func (u *UI) newPromptView(p *pending, count int) *promptView {
	v := &promptView{u: u, p: p}
	question, what := kindTitle(p.Kind)

	org := orName(p.Account.Issuer, p.Account.Server)
	who := container.New(layout.NewCustomPaddedVBoxLayout(0), heading(org), secondary(p.Account.Name))
	v.count = secondary("")
	v.count.Alignment = fyne.TextAlignTrailing
	v.count.Truncation = fyne.TextTruncateOff
	header := container.NewBorder(nil, nil, container.NewCenter(avatar(org, 40)), container.NewCenter(v.count), who)

	tag := widget.NewLabel(strings.ToUpper(what + " request"))
	tag.Importance = widget.HighImportance
	tag.TextStyle = fyne.TextStyle{Bold: true}
	tag.SizeName = theme.SizeNameCaptionText
	title := widget.NewLabel(question)
	title.SizeName = theme.SizeNameHeadingText
	title.TextStyle = fyne.TextStyle{Bold: true}
	title.Wrapping = fyne.TextWrapWord

	details := widget.NewForm()
	add := func(k, val string) {
		if strings.TrimSpace(val) == "" {
			return
		}
		l := widget.NewLabel(val)
		l.Wrapping = fyne.TextWrapWord
		details.Append(k, l)
	}
	add("App", p.Context.App)
	add("From", joinNonEmpty(" · ", p.Context.Location, p.Context.ClientIP))
	add("Browser", p.Context.UserAgent)
	add("When", when(time.Unix(p.Context.Time, 0), u.opts.Now()))
	add("Account", labelOf(p.Account))
	card := canvas.NewRectangle(theme.Color(theme.ColorNameInputBackground))
	card.CornerRadius = 10
	detailCard := container.NewStack(card, padded(details, 4))

	var risk fyne.CanvasObject
	if r := p.Context.Risk; r == "medium" || r == "high" {
		l := widget.NewLabel(fmt.Sprintf("Unusual request (%s risk). If you did not start it, choose “This wasn't me”.", r))
		l.Wrapping = fyne.TextWrapWord
		l.Importance = widget.WarningImportance
		risk = container.NewBorder(nil, nil, widget.NewIcon(theme.WarningIcon()), nil, l)
	}

	v.expires = widget.NewLabel("")
	v.expires.TextStyle = fyne.TextStyle{Bold: true}
	v.bar = newThinBar()

	var choose fyne.CanvasObject
	if len(p.Numbers) > 0 {
		hint := widget.NewLabel("Tap the number shown on your sign-in screen")
		hint.Alignment = fyne.TextAlignCenter
		hint.Wrapping = fyne.TextWrapWord
		grid := container.NewGridWithColumns(len(p.Numbers))
		for _, n := range p.Numbers {
			txt := bigText(fmt.Sprint(n), 36, true, theme.Color(theme.ColorNameForeground))
			txt.Alignment = fyne.TextAlignCenter
			box := container.New(layout.NewCustomPaddedLayout(18, 18, 0, 0), container.NewCenter(txt))
			b := newTapArea(box, theme.Color(theme.ColorNameInputBackground), theme.Color(theme.ColorNameHover), 12, func() { v.approveWith(n) })
			v.numbers = append(v.numbers, b)
			grid.Add(b)
		}
		choose = container.NewVBox(hint, grid)
	} else {
		v.approve = widget.NewButtonWithIcon("Yes, it's me", theme.ConfirmIcon(), func() { v.approveWith(0) })
		v.approve.Importance = widget.HighImportance
		choose = v.approve
	}
	var uvNote fyne.CanvasObject
	if want, _ := u.core.WantsVerification(p.Prompt); want {
		uvNote = secondary(fmt.Sprintf("You will be asked for your %s to approve.", lockNoun(u.core.LockKind())))
	}

	v.deny = widget.NewButtonWithIcon("Deny", theme.CancelIcon(), func() { v.send("deny", 0) })
	v.report = widget.NewButtonWithIcon("This wasn't me", theme.WarningIcon(), func() { v.send("report", 0) })
	v.report.Importance = widget.DangerImportance
	v.sending = secondary("")
	v.sending.Alignment = fyne.TextAlignCenter
	v.sending.Hide()

	body := container.New(layout.NewCustomPaddedVBoxLayout(10), nonNil(
		header,
		widget.NewSeparator(),
		vbox(tag, title),
		detailCard,
		risk,
		container.NewBorder(nil, nil, nil, v.expires, v.bar.obj),
		layout.NewSpacer(),
		choose,
		uvNote,
		container.NewGridWithColumns(2, v.deny, v.report),
		v.sending,
	)...)
	v.content = container.NewVScroll(padded(body, 16))
	v.setCount(count)
	return v
}

func (v *promptView) setCount(n int) {
	if n > 1 {
		v.count.SetText(fmt.Sprintf("1 of %d", n))
	} else {
		v.count.SetText("")
	}
}

// refresh moves the countdown.
func (v *promptView) refresh(now time.Time) {
	left := v.p.ExpiresAt().Sub(now)
	if left < 0 {
		left = 0
	}
	secs := int((left + time.Second - 1) / time.Second)
	v.expires.SetText(fmt.Sprintf("Expires in %d:%02d", secs/60, secs%60))
	total := time.Duration(v.p.Exp-v.p.IAT) * time.Second
	if total > 0 {
		v.bar.set(float64(left)/float64(total), left <= 30*time.Second)
	}
}

func (v *promptView) approveWith(number int) {
	u := v.u
	u.touch()
	if v.p.busy {
		return
	}
	want, err := u.core.WantsVerification(v.p.Prompt)
	if err != nil {
		u.showError("Verification needed", err)
		return
	}
	if want || u.guard.Locked() {
		u.askSecret("Verify it's you", fmt.Sprintf("Enter your %s to approve.", lockNoun(u.core.LockKind())), "Approve", func(secret []byte) {
			v.sendApproval(number, secret)
		})
		return
	}
	v.send("approve", number)
}

func (v *promptView) sendApproval(number int, secret []byte) {
	p := v.p
	v.start(func(ctx context.Context) (string, error) {
		return v.u.core.ApproveVerified(ctx, p.Prompt, number, secret)
	})
}

func (v *promptView) send(what string, number int) {
	u := v.u
	u.touch()
	if v.p.busy {
		return
	}
	p := v.p
	v.start(func(ctx context.Context) (string, error) {
		switch what {
		case "approve":
			return u.core.Approve(ctx, p.Prompt, number)
		case "report":
			return u.core.Deny(ctx, p.Prompt, true)
		}
		return u.core.Deny(ctx, p.Prompt, false)
	})
}

// start sends an answer in the background; the buttons wait for it.
func (v *promptView) start(answer func(context.Context) (string, error)) {
	u := v.u
	v.p.busy = true
	v.setBusy(true)
	do := u.opts.Do
	p := v.p
	ctx, cancel := context.WithTimeout(u.ctx, 30*time.Second)
	go func() {
		defer cancel()
		outcome, err := answer(ctx)
		do(func() { u.answered(p, outcome, err) })
	}()
}

func (v *promptView) setBusy(busy bool) {
	for _, b := range v.numbers {
		b.setDisabled(busy)
	}
	for _, b := range []*widget.Button{v.approve, v.deny, v.report} {
		if b == nil {
			continue
		}
		if busy {
			b.Disable()
		} else {
			b.Enable()
		}
	}
	if busy {
		v.sending.SetText("Sending your answer…")
		v.sending.Show()
	} else {
		v.sending.Hide()
	}
}

// answered shows how an answer went and takes the prompt away once it is
// settled.
func (u *UI) answered(p *pending, outcome string, err error) {
	p.busy = false
	if err != nil {
		var ae *push.APIError
		switch {
		case errors.As(err, &ae) && slices.Contains([]string{"already_answered", "challenge_expired", "response_rejected"}, ae.Code):
			u.removePrompt(p.ID)
			u.showToast("That request can no longer be answered: " + ae.Message)
		case errors.Is(err, core.ErrWrongUnlock), errors.Is(err, core.ErrUnlockThrottled):
			u.promptAgain(p)
			u.showError("Not verified", errors.New(unlockProblem(err, u.core.LockKind())))
		default:
			u.promptAgain(p)
			u.showError("Could not answer", err)
		}
		return
	}
	u.removePrompt(p.ID)
	switch outcome {
	case push.OutcomeApproved:
		u.showToast("Approved. Carry on where you signed in.")
	case push.OutcomeDenied:
		u.showToast("Denied. Nobody was let in.")
	case push.OutcomeReported:
		u.showToast("Reported. The request was refused and your administrator will see it was not you.")
	case push.OutcomeFailed:
		u.showToast("That was not the number shown, so the request was refused. Start again if it was you.")
	default:
		u.showToast("Answered: " + outcome + ".")
	}
}

func (u *UI) promptAgain(p *pending) {
	if u.view == viewPrompt && u.promptUI != nil && u.promptUI.p == p {
		u.promptUI.setBusy(false)
	}
}

// addPrompt shows a new prompt: the window comes forward and a
// notification tells of it.
func (u *UI) addPrompt(p core.Prompt) {
	if p.Expired(u.opts.Now()) || slices.ContainsFunc(u.prompts, func(x *pending) bool { return x.ID == p.ID }) {
		return
	}
	u.prompts = append(u.prompts, &pending{Prompt: p})
	slices.SortStableFunc(u.prompts, func(a, b *pending) int { return int(a.IAT - b.IAT) })
	u.promptsChanged()
	_, what := kindTitle(p.Kind)
	msg := fmt.Sprintf("%s for %s", joinNonEmpty(" · ", p.Context.App, p.Context.ClientIP), labelOf(p.Account))
	if len(p.Numbers) > 0 {
		msg += ": pick the number shown on the sign-in screen."
	}
	u.app.SendNotification(fyne.NewNotification(what+" request", msg))
	u.show()
}

// resolved removes a prompt that was settled elsewhere.
func (u *UI) resolved(id, outcome string) {
	i := slices.IndexFunc(u.prompts, func(x *pending) bool { return x.ID == id })
	if i < 0 || u.prompts[i].busy {
		// Unknown, or settled by this app's own answer, whose reply says
		// how it went.
		return
	}
	u.removePrompt(id)
	switch outcome {
	case push.OutcomeExpired:
		u.showToast("The request expired before it was answered.")
	case push.OutcomeCancelled:
		u.showToast("The request was cancelled.")
	default:
		u.showToast("The request was answered on another device (" + outcome + ").")
	}
}

func (u *UI) removePrompt(id string) {
	u.prompts = slices.DeleteFunc(u.prompts, func(x *pending) bool { return x.ID == id })
	u.promptsChanged()
}

func (u *UI) promptsChanged() {
	u.render()
	u.updateTray()
}

// when is a prompt's time, with the date when it is not today.
func when(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04:05")
	}
	return t.Format("2 Jan 15:04:05")
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

func lockNoun(kind string) string {
	if kind == core.LockPassphrase {
		return "passphrase"
	}
	return "PIN"
}

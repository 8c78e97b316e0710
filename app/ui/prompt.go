package ui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/push"
)

// promptView is a push prompt: what is asked, by which app, from where,
// the countdown to expiry; pinned at the bottom, so that they stay in
// reach on a small screen while the details scroll, the three numbers
// and Deny. Deny asks next whether to report the request ("This wasn't
// me"), so that one tap never reports. A request that needs the app lock
// while none is set offers to set one first.
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
	sending *widget.Label

	// choices are the numbers (or Yes) and Deny; confirm replaces them
	// after Deny, asking whether to report.
	choices  *fyne.Container
	confirm  *fyne.Container
	report   *widget.Button
	justDeny *widget.Button
	back     *widget.Button

	// needsLock: the request requires user verification and no app lock
	// is set; lockOffer says so and offers to set one.
	needsLock bool
	lockOffer fyne.CanvasObject
	setPIN    *widget.Button
	setPass   *widget.Button

	risk      *widget.Label
	reasons   *widget.Label
	browser   *widget.Label
	uaDetails *widget.Accordion
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
	add := func(k, val string) *widget.Label {
		if strings.TrimSpace(val) == "" {
			return nil
		}
		l := widget.NewLabel(val)
		l.Wrapping = fyne.TextWrapWord
		details.Append(k, l)
		return l
	}
	add("App", p.Context.App)
	add("From", joinNonEmpty(" · ", p.Context.Location, p.Context.ClientIP))
	if raw := cleanUA(p.Context.UserAgent); raw != "" {
		v.browser = widget.NewLabel(browserName(raw))
		v.browser.Wrapping = fyne.TextWrapWord
		value := fyne.CanvasObject(v.browser)
		if v.browser.Text != raw {
			full := widget.NewLabel(clip(raw, maxShownUA))
			full.Wrapping = fyne.TextWrapBreak
			full.SizeName = theme.SizeNameCaptionText
			v.uaDetails = widget.NewAccordion(widget.NewAccordionItem("Details", full))
			value = container.New(layout.NewCustomPaddedVBoxLayout(0), v.browser, v.uaDetails)
		}
		details.Append("Browser", value)
	}
	add("When", when(time.Unix(p.Context.Time, 0), u.opts.Now()))
	add("Account", labelOf(p.Account))
	detailCard := container.NewStack(card(10), padded(details, 4))

	var risk fyne.CanvasObject
	if r := p.Context.Risk; r == "medium" || r == "high" {
		v.risk = widget.NewLabel(fmt.Sprintf("Unusual request (%s risk)", r))
		v.risk.TextStyle = fyne.TextStyle{Bold: true}
		v.risk.Importance = widget.WarningImportance
		v.risk.Wrapping = fyne.TextWrapWord
		text := "If you did not start it, choose Deny and report it."
		if reasons := riskReasons(p.Context.RiskReasons); reasons != "" {
			text = "Why: " + reasons + ".\n" + text
		}
		v.reasons = widget.NewLabel(text)
		v.reasons.Wrapping = fyne.TextWrapWord
		icon := widget.NewIcon(theme.NewWarningThemedResource(theme.WarningIcon()))
		risk = container.NewBorder(nil, nil, container.NewVBox(icon), nil,
			container.New(layout.NewCustomPaddedVBoxLayout(0), v.risk, v.reasons))
	}

	v.expires = widget.NewLabel("")
	v.expires.TextStyle = fyne.TextStyle{Bold: true}
	v.bar = newThinBar()

	want, err := u.core.WantsVerification(p.Prompt)
	v.needsLock = want && errors.Is(err, core.ErrNoAppLock)

	var choose, uvNote fyne.CanvasObject
	switch {
	case v.needsLock:
		v.lockOffer = v.newLockOffer()
	case len(p.Numbers) > 0:
		hint := widget.NewLabel("Tap the number shown on your sign-in screen")
		hint.Alignment = fyne.TextAlignCenter
		hint.Wrapping = fyne.TextWrapWord
		grid := container.NewGridWithColumns(len(p.Numbers))
		for _, n := range p.Numbers {
			txt, shown := bigText(fmt.Sprint(n), 36, true, theme.ColorNameForeground)
			txt.Alignment = fyne.TextAlignCenter
			box := container.New(layout.NewCustomPaddedLayout(14, 14, 0, 0), container.NewCenter(shown))
			b := newTapArea(box, theme.ColorNameInputBackground, theme.ColorNameHover, 12, func() { v.approveWith(n) })
			v.numbers = append(v.numbers, b)
			grid.Add(b)
		}
		choose = container.New(layout.NewCustomPaddedVBoxLayout(4), hint, grid)
	default:
		v.approve = widget.NewButtonWithIcon("Yes, it's me", theme.ConfirmIcon(), func() { v.approveWith(0) })
		v.approve.Importance = widget.HighImportance
		choose = v.approve
	}
	if want && !v.needsLock {
		note := secondary(fmt.Sprintf("You will be asked for your %s to approve.", lockNoun(u.core.LockKind())))
		note.Alignment = fyne.TextAlignCenter
		uvNote = note
	}

	// Deny is the plain choice; reporting is the next, confirmed step.
	v.deny = widget.NewButtonWithIcon("Deny", theme.CancelIcon(), v.askReport)
	v.choices = container.New(layout.NewCustomPaddedVBoxLayout(8), nonNil(v.lockOffer, choose, uvNote, v.deny)...)
	v.confirm = v.newReportQuestion()
	v.confirm.Hide()
	v.sending = secondary("")
	v.sending.Alignment = fyne.TextAlignCenter
	v.sending.Hide()

	body := container.New(layout.NewCustomPaddedVBoxLayout(10), nonNil(
		header,
		widget.NewSeparator(),
		vbox(tag, title),
		risk,
		detailCard,
		container.NewBorder(nil, nil, nil, v.expires, v.bar.obj),
	)...)
	bottom := container.New(layout.NewCustomPaddedVBoxLayout(4), v.choices, v.confirm, v.sending)
	bottomBar := container.NewBorder(widget.NewSeparator(), nil, nil, nil, container.New(layout.NewCustomPaddedLayout(10, 14, 16, 16), bottom))
	v.content = container.NewBorder(nil, bottomBar, nil, nil, container.NewVScroll(container.New(layout.NewCustomPaddedLayout(16, 8, 16, 16), body)))
	v.setCount(count)
	return v
}

// riskReasons are the server's reasons for a risk, as one line: "new
// device; new network". They come signed by the server, but are kept to
// printable text of a sensible length all the same.
func riskReasons(reasons []string) string {
	var out []string
	for _, r := range reasons {
		if r = clip(cleanUA(r), 120); r != "" {
			out = append(out, r)
		}
		if len(out) == 6 {
			break
		}
	}
	return strings.Join(out, "; ")
}

// newLockOffer says that the request needs an app lock, and offers to set
// one there and then; once it is set the prompt comes back, ready to
// approve.
func (v *promptView) newLockOffer() fyne.CanvasObject {
	title := widget.NewLabel("This request needs an app lock")
	title.TextStyle = fyne.TextStyle{Bold: true}
	title.Wrapping = fyne.TextWrapWord
	msg := widget.NewLabel("To approve it you must prove it's you with a PIN or passphrase for Assent, and none is set. Set one now, then approve.")
	msg.Wrapping = fyne.TextWrapWord
	v.setPIN = widget.NewButtonWithIcon("Set a PIN", theme.AccountIcon(), func() { v.offerLock(core.LockPIN) })
	v.setPIN.Importance = widget.HighImportance
	v.setPass = widget.NewButton("Use a passphrase", func() { v.offerLock(core.LockPassphrase) })
	v.setPass.Importance = widget.LowImportance
	icon := widget.NewIcon(theme.NewPrimaryThemedResource(theme.InfoIcon()))
	text := container.New(layout.NewCustomPaddedVBoxLayout(0), title, msg)
	return container.NewStack(card(10), padded(container.NewVBox(
		container.NewBorder(nil, nil, container.NewVBox(icon), nil, text),
		container.NewGridWithColumns(2, v.setPIN, v.setPass),
	), 6))
}

// offerLock sets the app lock from the prompt and comes back to it.
func (v *promptView) offerLock(kind string) {
	u := v.u
	u.touch()
	back := func() {
		if u.promptUI != v || u.view != viewPrompt {
			return
		}
		u.promptUI = u.newPromptView(v.p, len(u.prompts))
		u.win.SetContent(u.promptUI.content)
		u.promptUI.refresh(u.opts.Now())
	}
	if u.core.LockKind() != "" {
		// Set meanwhile (in Settings, or by the command line): nothing to
		// offer any more.
		back()
		return
	}
	u.setLockDialogThen(kind, func() {
		back()
		u.showToast(fmt.Sprintf("App lock set. Now approve the request with your %s.", lockNoun(kind)))
	})
}

// newReportQuestion is what Deny leads to: was it someone else?
func (v *promptView) newReportQuestion() *fyne.Container {
	q := widget.NewLabel("Report it as not you?")
	q.TextStyle = fyne.TextStyle{Bold: true}
	q.Alignment = fyne.TextAlignCenter
	q.Wrapping = fyne.TextWrapWord
	msg := widget.NewLabel("If you did not start this request, someone may know your password. Reporting refuses it and tells your administrator.")
	msg.Wrapping = fyne.TextWrapWord
	msg.Alignment = fyne.TextAlignCenter
	v.report = widget.NewButtonWithIcon("This wasn't me", theme.NewWarningThemedResource(theme.WarningIcon()), func() { v.send("report", 0) })
	v.report.Importance = widget.DangerImportance
	v.justDeny = widget.NewButton("No, just deny", func() { v.send("deny", 0) })
	v.back = widget.NewButtonWithIcon("Back", theme.NavigateBackIcon(), v.cancelReport)
	v.back.Importance = widget.LowImportance
	return container.New(layout.NewCustomPaddedVBoxLayout(6), q, msg, container.NewGridWithColumns(2, v.justDeny, v.report), v.back)
}

// askReport is Deny: it asks whether to report the request as well.
func (v *promptView) askReport() {
	v.u.touch()
	if v.p.busy {
		return
	}
	v.choices.Hide()
	v.confirm.Show()
	v.relayout()
}

// relayout fits the view again after a part of it was shown or hidden.
// Twice: a wrapping label knows its height only once it has its width,
// which the first pass gives it.
func (v *promptView) relayout() {
	if c, ok := v.content.(*fyne.Container); ok {
		c.Refresh()
		c.Refresh()
	}
}

func (v *promptView) cancelReport() {
	v.u.touch()
	v.confirm.Hide()
	v.choices.Show()
	v.relayout()
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
	if errors.Is(err, core.ErrNoAppLock) {
		// The lock went away since the prompt was drawn: offer it again.
		v.offerLock(core.LockPIN)
		return
	}
	if err != nil {
		u.showErrorFor("Verification needed", err, orgOf(v.p.Account))
		return
	}
	if want || u.guard.Locked() {
		u.askLock("Verify it's you", fmt.Sprintf("Enter your %s to approve.", lockNoun(u.core.LockKind())), "Approve", true, func(secret []byte) {
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
	for _, b := range []*widget.Button{v.approve, v.deny, v.report, v.justDeny, v.back, v.setPIN, v.setPass} {
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
	v.relayout()
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
			u.showWarning("That request can no longer be answered: " + ae.Message)
		case errors.Is(err, core.ErrWrongUnlock), errors.Is(err, core.ErrUnlockThrottled):
			u.promptAgain(p)
			u.showError("Not verified", errors.New(unlockProblem(err, u.core.LockKind())))
		default:
			u.promptAgain(p)
			u.showErrorFor("Could not answer", err, orgOf(p.Account))
		}
		return
	}
	u.removePrompt(p.ID)
	switch outcome {
	case push.OutcomeApproved:
		u.showOutcome(true, "Approved. Carry on where you signed in.")
	case push.OutcomeDenied:
		u.showOutcome(false, "Denied. Nobody was let in.")
	case push.OutcomeReported:
		u.showOutcome(false, "Reported. The request was refused and your administrator will see it was not you.")
	case push.OutcomeFailed:
		u.showOutcome(false, "That was not the number shown, so the request was refused. Start again if it was you.")
	default:
		u.showOutcome(false, "Answered: "+outcome+".")
	}
}

// orgOf names the organisation an account's requests come from, for
// messages such as "Couldn't reach Acme Corp": its issuer, else its
// server's host.
func orgOf(a core.Account) string { return orName(a.Issuer, hostOf(a.Server)) }

// showOutcome shows how a request ended at the bottom of the window: in
// the success colour with a tick when it was approved, in the warning
// colour with a warning sign when nobody was let in (denied, reported,
// a wrong number, cancelled, expired).
func (u *UI) showOutcome(approved bool, msg string) {
	if approved {
		u.showToast(msg)
	} else {
		u.showWarning(msg)
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
		u.showOutcome(false, "The request expired before it was answered.")
	case push.OutcomeCancelled:
		u.showOutcome(false, "The request was cancelled.")
	case push.OutcomeApproved:
		u.showOutcome(true, "The request was answered on another device (approved).")
	default:
		u.showOutcome(false, "The request was answered on another device ("+outcome+").")
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

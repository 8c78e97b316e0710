package ui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
)

// maxOpenedFile bounds what is read from an opened or dropped file.
const maxOpenedFile = 64 << 20

// showAddDialog offers every way to add an account without a camera.
func (u *UI) showAddDialog() {
	var d *dialog.CustomDialog
	action := func(label string, icon fyne.Resource, f func()) *widget.Button {
		b := widget.NewButtonWithIcon(label, icon, func() {
			u.touch()
			d.Hide()
			f()
		})
		b.Alignment = widget.ButtonAlignLeading
		return b
	}
	scan := action("Scan QR code from screen", theme.ViewFullScreenIcon(), u.scanScreen)
	scan.Importance = widget.HighImportance
	if !core.ScreenCaptureSupported {
		scan.Hide()
	}
	link := widget.NewEntry()
	link.SetPlaceHolder("assent://… or otpauth://…")
	linkErr := errorLabel()
	addLink := func() {
		u.touch()
		text := link.Text
		in, err := core.ParseInputText(text)
		if errors.Is(err, core.ErrPasswordNeeded) {
			d.Hide()
			u.needsPassword(err, func(password string) (core.Input, error) { return core.ParseInputTextPassword(text, password) })
			return
		}
		if err != nil {
			// Said under the field; the text stays to be corrected.
			summary, details := core.Explain(err, "")
			u.log.Info("link refused", "err", details)
			linkErr.SetText(summary)
			linkErr.Show()
			return
		}
		d.Hide()
		u.handleInput(in)
	}
	link.OnSubmitted = func(string) { addLink() }
	addBtn := widget.NewButton("Add", addLink)
	content := container.New(layout.NewCustomPaddedVBoxLayout(6),
		scan,
		action("Open QR image or export file…", theme.FileImageIcon(), u.openFileDialog),
		action("Paste link from clipboard", theme.ContentPasteIcon(), u.pasteFromClipboard),
		action("Enter a secret by hand", theme.DocumentCreateIcon(), u.manualEntry),
		widget.NewSeparator(),
		secondary("Or paste a link here"),
		container.NewBorder(nil, nil, nil, addBtn, link),
		linkErr,
		secondary("Tip: drop a QR code picture or an export file onto the window."),
	)
	d = dialog.NewCustom("Add an account", "Cancel", fixedWidth(340, content), u.win)
	d.Show()
}

// handleInput adds what the person gave: an enrollment link enrolls this
// device (over the network, with progress shown), an otpauth URI is added
// at once, an export is shown before anything is imported.
func (u *UI) handleInput(in core.Input) {
	if in.Import != nil {
		u.previewImport(in.Import)
		return
	}
	v, err := enroll.Parse(in.Link)
	if err != nil {
		u.showError("Cannot add this", err)
		return
	}
	if l, ok := v.(*enroll.Link); ok {
		u.enroll(l)
		return
	}
	a, err := u.core.Add(u.ctx, in.Link)
	if err != nil {
		u.showError("Could not add the account", err)
		return
	}
	u.changed()
	u.showToast("Added " + labelOf(a) + ".")
}

// enroll enrolls this device with a link's server. When the same account
// (server and user) is enrolled already, it first offers to replace that
// enrollment: two would get every push twice, and answering one cancels
// the other's.
func (u *UI) enroll(l *enroll.Link) {
	if old := u.core.Duplicates(l); len(old) > 0 {
		u.confirmReplace(l, old)
		return
	}
	u.startEnroll(l, nil)
}

// confirmReplace asks whether a new enrollment replaces the old ones.
func (u *UI) confirmReplace(l *enroll.Link, old []core.Account) {
	org := orName(l.Org, hostOf(l.Server))
	msg := fmt.Sprintf("%s at %s is already on this device (enrolled %s). Enrolling again would add a second device that gets every sign-in request twice.\n\n"+
		"Replace it? The old enrollment is revoked on %s and the new one takes its place.", l.User, org, old[0].AddedAt.Local().Format("2 Jan 2006"), org)
	d := dialog.NewCustomConfirm("Already enrolled", "Replace", "Cancel", fixedWidth(320, wrapped(msg)), func(ok bool) {
		u.touch()
		if ok {
			u.startEnroll(l, old)
		}
	}, u.win)
	d.Show()
}

// startEnroll enrolls over the network with progress shown; old
// enrollments given are revoked and removed once the new one works.
func (u *UI) startEnroll(l *enroll.Link, old []core.Account) {
	act := widget.NewActivity()
	act.Start()
	org := orName(l.Org, hostOf(l.Server))
	msg := wrapped(fmt.Sprintf("Enrolling this device with %s as %s…", org, l.User))
	progress := dialog.NewCustomWithoutButtons("Enrolling", container.NewVBox(act, fixedWidth(300, msg)), u.win)
	progress.Show()
	do := u.opts.Do
	ctx, cancel := context.WithTimeout(u.ctx, time.Minute)
	go func() {
		defer cancel()
		var a core.Account
		var err error
		if len(old) > 0 {
			a, err = u.core.EnrollReplacing(ctx, l, old)
		} else {
			a, err = u.core.Enroll(ctx, l)
		}
		do(func() {
			act.Stop()
			progress.Hide()
			var rerr *core.ReplaceError
			if errors.As(err, &rerr) {
				u.changed() // the new enrollment is there
				u.showErrorFor("Old enrollment kept", err, org)
				return
			}
			if err != nil {
				u.showErrorFor("Could not enroll", err, org)
				return
			}
			u.changed()
			if len(old) > 0 {
				u.showToast(fmt.Sprintf("Enrolled %s with %s again; the old enrollment was revoked.", a.Name, orName(a.Issuer, a.Server)))
				return
			}
			u.showToast(fmt.Sprintf("Enrolled %s with %s. Sign-in requests will appear here.", a.Name, orName(a.Issuer, a.Server)))
		})
	}()
}

func (u *UI) pasteFromClipboard() {
	text := u.app.Clipboard().Content()
	if strings.TrimSpace(text) == "" {
		u.showError("Nothing to paste", errors.New("the clipboard is empty: copy the enrollment link or the otpauth:// URI first"))
		return
	}
	in, err := core.ParseInputText(text)
	if u.needsPassword(err, func(password string) (core.Input, error) { return core.ParseInputTextPassword(text, password) }) {
		return
	}
	if err != nil {
		u.showError("Cannot add what is on the clipboard", err)
		return
	}
	u.handleInput(in)
}

// scanScreen hides the window, so it does not cover the page with the QR
// code, captures the screen, and shows the window again.
func (u *UI) scanScreen() {
	wasVisible := u.visible
	u.win.Hide()
	do := u.opts.Do
	delay := u.opts.ScanDelay
	go func() {
		time.Sleep(delay)
		text, err := u.opts.ScanScreen()
		do(func() {
			if wasVisible {
				u.show()
			}
			if err != nil {
				u.showError("No QR code found", err)
				return
			}
			in, err := core.ParseInputText(text)
			if err != nil {
				u.showError("Cannot add the QR code on the screen", err)
				return
			}
			u.handleInput(in)
		})
	}()
}

// openFileDialog opens a QR picture or an export file (on Android the
// system picker).
func (u *UI) openFileDialog() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			u.showError("Cannot open the file", err)
			return
		}
		if r == nil {
			return // cancelled
		}
		u.openReader(r)
	}, u.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".png", ".jpg", ".jpeg", ".json", ".txt"}))
	d.Resize(u.win.Canvas().Size())
	d.Show()
}

// dropped handles files dropped on the window: the first one is read.
func (u *UI) dropped(uris []fyne.URI) {
	if len(uris) == 0 {
		return
	}
	u.touch()
	r, err := storage.Reader(uris[0])
	if err != nil {
		u.showError("Cannot open the dropped file", err)
		return
	}
	u.openReader(r)
}

func (u *UI) openReader(r fyne.URIReadCloser) {
	defer r.Close()
	name := r.URI().Name()
	data, err := io.ReadAll(io.LimitReader(r, maxOpenedFile+1))
	if err != nil {
		u.showError("Cannot read "+name, err)
		return
	}
	in, err := core.ParseInputData(name, data)
	if u.needsPassword(err, func(password string) (core.Input, error) { return core.ParseInputDataPassword(name, data, password) }) {
		return
	}
	if err != nil {
		u.showError("Nothing to add in "+name, err)
		return
	}
	u.handleInput(in)
}

// needsPassword asks for the password of an encrypted export when err
// says one is needed, and reads the export with it through open: a wrong
// password is said under the field, which keeps the dialog open.
func (u *UI) needsPassword(err error, open func(password string) (core.Input, error)) bool {
	var pe *enroll.PasswordError
	if !errors.As(err, &pe) {
		return false
	}
	pw := widget.NewPasswordEntry()
	pw.SetPlaceHolder("export password")
	busy := widget.NewActivity()
	busy.Hide()
	var f *formDialog
	f = newFormDialog(u.win, "Open "+pe.Source+" export", "Open", func(f *formDialog) bool {
		u.touch()
		if pw.Text == "" {
			f.setError("password", "Enter the password this export was made with.")
			return false
		}
		password := pw.Text
		f.submit.Disable()
		busy.Show()
		busy.Start()
		do := u.opts.Do
		go func() {
			// Opening it costs a deliberately slow key derivation.
			in, err := open(password)
			do(func() {
				busy.Stop()
				busy.Hide()
				f.submit.Enable()
				if errors.Is(err, core.ErrWrongPassword) {
					f.setError("password", "Wrong password. Try again.")
					pw.SetText("")
					u.win.Canvas().Focus(pw)
					return
				}
				f.d.Hide()
				if err != nil {
					u.showError("Cannot open the export", err)
					return
				}
				u.handleInput(in)
			})
		}()
		return false
	})
	f.field("password", "Password", pw)
	f.setNote(fmt.Sprintf("This %s export is encrypted. Enter the password it was exported with.", pe.Source), busy)
	f.show(360)
	return true
}

// manualEntry is the form for a secret typed by hand: issuer, account and
// secret, with type, digits, algorithm, period (TOTP) and counter (HOTP)
// under Advanced. What is refused is said under its field and the form
// stays open with what was typed.
func (u *UI) manualEntry() {
	issuer := widget.NewEntry()
	issuer.SetPlaceHolder("e.g. GitHub")
	name := widget.NewEntry()
	name.SetPlaceHolder("e.g. alice@example.com")
	secret := widget.NewEntry()
	secret.SetPlaceHolder("base32, e.g. JBSW Y3DP EHPK 3PXP")
	kind := widget.NewSelect([]string{kindTOTP, kindHOTP}, nil)
	digits := widget.NewSelect(digitChoices(), nil)
	digits.SetSelected("6")
	algorithm := widget.NewSelect([]string{"SHA1", "SHA256", "SHA512"}, nil)
	algorithm.SetSelected("SHA1")
	period := widget.NewEntry()
	period.SetText("30")
	counter := widget.NewEntry()
	counter.SetText("0")

	f := newFormDialog(u.win, "Enter a secret", "Add", func(f *formDialog) bool {
		u.touch()
		o, field, err := manualOTP(issuer.Text, name.Text, secret.Text, kind.Selected == kindHOTP, digits.Selected, algorithm.Selected, period.Text, counter.Text)
		if err == nil {
			var a core.Account
			if a, err = u.core.AddOTPAuth(o); err == nil {
				u.changed()
				u.showToast("Added " + labelOf(a) + ".")
				return true
			}
		}
		f.setError(formProblem(field, err))
		u.log.Info("manual entry refused", "err", err)
		return false
	})
	f.field("issuer", "Issuer", issuer)
	f.field("name", "Account", name)
	f.field("secret", "Secret", secret)
	f.advancedField("type", "Type", kind)
	f.advancedField("digits", "Digits", digits)
	f.advancedField("algorithm", "Algorithm", algorithm)
	f.advancedField("period", "Period (s)", period)
	f.advancedField("counter", "Counter", counter)
	kind.OnChanged = func(k string) {
		f.showRow("period", k != kindHOTP)
		f.showRow("counter", k == kindHOTP)
	}
	kind.SetSelected(kindTOTP)
	f.show(400)
}

const (
	kindTOTP = "Time-based (TOTP)"
	kindHOTP = "Counter-based (HOTP)"
)

// digitChoices are the code lengths the form offers: every length the
// codes support (crypto.MinDigits to MaxDigits).
func digitChoices() []string {
	var out []string
	for d := crypto.MinDigits; d <= crypto.MaxDigits; d++ {
		out = append(out, strconv.Itoa(d))
	}
	return out
}

// formFields maps an otpauth URI's fields to the manual form's.
var formFields = map[string]string{"label": "name", "issuer": "issuer", "secret": "secret", "digits": "digits",
	"algorithm": "algorithm", "period": "period", "counter": "counter", "type": "type"}

// formProblem is where a refused manual entry's problem shows and what it
// says.
func formProblem(field string, err error) (string, string) {
	if f, problem, ok := core.FieldProblem(err); ok {
		return formFields[f], problem
	}
	summary, _ := core.Explain(err, "")
	return field, summary
}

// manualOTP turns the form's fields into an account; core checks it. The
// field it returns is the one a problem is about.
func manualOTP(issuer, name, secret string, hotp bool, digits, algorithm, period, counter string) (*enroll.OTPAuth, string, error) {
	key, err := enroll.DecodeSecret(secret)
	if err != nil {
		return nil, "secret", err
	}
	o := &enroll.OTPAuth{Type: "totp", Issuer: strings.TrimSpace(issuer), Account: strings.TrimSpace(name), Secret: key, Algorithm: algorithm}
	if o.Account == "" {
		return nil, "name", errors.New("Enter the account name, e.g. your email address at the site.")
	}
	if o.Digits, err = strconv.Atoi(digits); err != nil {
		return nil, "digits", errors.New("Pick how many digits the codes have (6 unless the site says otherwise).")
	}
	if hotp {
		o.Type = "hotp"
		if o.Counter, err = strconv.ParseUint(strings.TrimSpace(counter), 10, 64); err != nil {
			return nil, "counter", errors.New("The counter is a whole number: 0 for a new account.")
		}
	} else if o.Period, err = strconv.Atoi(strings.TrimSpace(period)); err != nil || o.Period <= 0 {
		return nil, "period", errors.New("The period is the number of seconds a code lasts: usually 30.")
	}
	return o, "", nil
}

// previewImport shows what an export holds and imports it when asked.
func (u *UI) previewImport(imp *enroll.Import) {
	plan := u.core.PreviewImport(imp)
	list := container.NewVBox()
	if n := len(plan.Accounts); n > 0 {
		list.Add(heading(fmt.Sprintf("%s to add:", plural(n, "account"))))
		for _, o := range plan.Accounts {
			list.Add(widget.NewLabel("• " + importLine(o)))
		}
	} else {
		list.Add(widget.NewLabel("There is nothing new to add."))
	}
	if len(plan.Skipped) > 0 {
		list.Add(heading("Not imported:"))
		for _, s := range plan.Skipped {
			l := widget.NewLabel("• " + s.Label + " — " + s.Reason)
			l.Wrapping = fyne.TextWrapWord
			l.Importance = widget.WarningImportance
			list.Add(l)
		}
	}
	if plan.BatchSize > 1 {
		list.Add(wrapped(fmt.Sprintf("This is QR code %d of %d of the export: import the others too.", plan.BatchIndex+1, plan.BatchSize)))
	}
	scroll := container.NewVScroll(fixedWidth(340, list))
	scroll.SetMinSize(fyne.NewSize(360, min(list.MinSize().Height+8, 320)))
	title := "Import from " + imp.Source
	if len(plan.Accounts) == 0 {
		dialog.NewCustom(title, "Close", scroll, u.win).Show()
		return
	}
	d := dialog.NewCustomConfirm(title, "Import "+plural(len(plan.Accounts), "account"), "Cancel", scroll, func(ok bool) {
		if !ok {
			return
		}
		added, err := u.core.Import(imp)
		if err != nil {
			u.showError("Import failed; nothing was added", err)
			return
		}
		u.changed()
		u.showToast(fmt.Sprintf("Imported %s from %s.", plural(len(added), "account"), imp.Source))
	}, u.win)
	d.Show()
}

func importLine(o *enroll.OTPAuth) string {
	kind := strings.ToUpper(o.Type)
	if o.Type == "steam" {
		kind = "Steam"
	}
	if o.Issuer == "" {
		return fmt.Sprintf("%s (%s)", o.Account, kind)
	}
	return fmt.Sprintf("%s — %s (%s)", o.Issuer, o.Account, kind)
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

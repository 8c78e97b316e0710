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
	addLink := func() {
		u.touch()
		text := link.Text
		in, err := core.ParseInputText(text)
		if err != nil {
			u.showError("Cannot add this", err)
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

func (u *UI) enroll(l *enroll.Link) {
	act := widget.NewActivity()
	act.Start()
	msg := wrapped(fmt.Sprintf("Enrolling this device with %s as %s…", hostOf(l.Server), l.User))
	progress := dialog.NewCustomWithoutButtons("Enrolling", container.NewVBox(act, fixedWidth(300, msg)), u.win)
	progress.Show()
	do := u.opts.Do
	ctx, cancel := context.WithTimeout(u.ctx, time.Minute)
	go func() {
		defer cancel()
		a, err := u.core.Enroll(ctx, l)
		do(func() {
			act.Stop()
			progress.Hide()
			if err != nil {
				u.showError("Could not enroll", err)
				return
			}
			u.changed()
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
	if err != nil {
		u.showError("Nothing to add in "+name, err)
		return
	}
	u.handleInput(in)
}

// manualEntry is the form for a secret typed by hand.
func (u *UI) manualEntry() {
	issuer := widget.NewEntry()
	issuer.SetPlaceHolder("e.g. GitHub")
	name := widget.NewEntry()
	name.SetPlaceHolder("e.g. alice@example.com")
	secret := widget.NewEntry()
	secret.SetPlaceHolder("base32, e.g. JBSW Y3DP EHPK 3PXP")
	kind := widget.NewSelect([]string{"Time-based (TOTP)", "Counter-based (HOTP)"}, nil)
	kind.SetSelectedIndex(0)
	digits := widget.NewSelect([]string{"6", "8"}, nil)
	digits.SetSelected("6")
	algorithm := widget.NewSelect([]string{"SHA1", "SHA256", "SHA512"}, nil)
	algorithm.SetSelected("SHA1")
	period := widget.NewEntry()
	period.SetText("30")
	counter := widget.NewEntry()
	counter.SetText("0")
	items := []*widget.FormItem{
		widget.NewFormItem("Issuer", issuer),
		widget.NewFormItem("Account", name),
		widget.NewFormItem("Secret", secret),
		widget.NewFormItem("Type", kind),
		widget.NewFormItem("Digits", digits),
		widget.NewFormItem("Algorithm", algorithm),
		widget.NewFormItem("Period (s)", period),
		widget.NewFormItem("Counter", counter),
	}
	d := dialog.NewForm("Enter a secret", "Add", "Cancel", items, func(ok bool) {
		if !ok {
			return
		}
		o, err := manualOTP(issuer.Text, name.Text, secret.Text, kind.SelectedIndex() == 1, digits.Selected, algorithm.Selected, period.Text, counter.Text)
		if err != nil {
			u.showError("Cannot add this account", err)
			return
		}
		a, err := u.core.AddOTPAuth(o)
		if err != nil {
			u.showError("Cannot add this account", err)
			return
		}
		u.changed()
		u.showToast("Added " + labelOf(a) + ".")
	}, u.win)
	d.Resize(fyne.NewSize(400, 0))
	d.Show()
}

// manualOTP turns the form's fields into an account; core checks it.
func manualOTP(issuer, name, secret string, hotp bool, digits, algorithm, period, counter string) (*enroll.OTPAuth, error) {
	key, err := enroll.DecodeSecret(secret)
	if err != nil {
		return nil, err
	}
	o := &enroll.OTPAuth{Type: "totp", Issuer: strings.TrimSpace(issuer), Account: strings.TrimSpace(name), Secret: key, Algorithm: algorithm}
	if o.Digits, err = strconv.Atoi(digits); err != nil {
		return nil, fmt.Errorf("digits: want 6 or 8")
	}
	if hotp {
		o.Type = "hotp"
		if o.Counter, err = strconv.ParseUint(strings.TrimSpace(counter), 10, 64); err != nil {
			return nil, fmt.Errorf("counter: want a whole number, 0 for a new account")
		}
	} else if o.Period, err = strconv.Atoi(strings.TrimSpace(period)); err != nil {
		return nil, fmt.Errorf("period: want the time step in seconds, usually 30")
	}
	return o, nil
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

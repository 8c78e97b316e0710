package ui

import (
	"context"
	"errors"
	"log/slog"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
)

// LaunchOptions start the app.
type LaunchOptions struct {
	// Core opens the home; Passphrase is filled in by Launch when the file
	// key store needs one and the environment gave none.
	Core core.Options
	// EnvPassphrase is ASSENT_PASSPHRASE, when set.
	EnvPassphrase []byte
	UI            Options
}

// Launch opens the home — asking in a window for the file key store's
// passphrase when it is needed, and showing in a window why a key store
// cannot be opened — then shows the app and starts listening for pushes.
// The caller runs a.Run afterwards.
func Launch(ctx context.Context, a fyne.App, o LaunchOptions) {
	ready := func(c *core.Core) {
		u := New(a, c, o.UI)
		u.Start(ctx)
		u.startTicker(ctx)
		u.ShowAtStart()
	}
	kind := o.Core.KeyStore
	existing, err := core.HomeKeyStore(o.Core.Home)
	if err != nil {
		showStartError(a, err, nil)
		return
	}
	if kind == "" {
		kind = existing
	}
	if kind == "" {
		kind = core.DefaultKeyStore()
	}
	if kind == core.KeyStoreFile && len(o.EnvPassphrase) == 0 {
		askPassphrase(ctx, a, o, existing == "", ready)
		return
	}
	if kind == core.KeyStoreFile {
		pass := o.EnvPassphrase
		o.Core.Passphrase = func() ([]byte, error) { return pass, nil }
	}
	c, err := core.Open(o.Core)
	if err != nil {
		var retry func()
		if existing == "" && errors.Is(err, crypto.ErrKeychainUnavailable) {
			// A new home may choose the encrypted file instead.
			retry = func() {
				o.Core.KeyStore = core.KeyStoreFile
				Launch(ctx, a, o)
			}
		}
		showStartError(a, err, retry)
		return
	}
	ready(c)
}

// startTicker drives codes, countdowns and the auto-lock once a second.
func (u *UI) startTicker(ctx context.Context) {
	go func() {
		t := newTicker()
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				u.opts.Do(u.tick)
			}
		}
	}()
}

// askPassphrase asks for the file key store's passphrase (twice for a new
// home) and opens the home with it.
func askPassphrase(ctx context.Context, a fyne.App, o LaunchOptions, fresh bool, ready func(*core.Core)) {
	w := a.NewWindow("Assent")
	w.SetIcon(appIcon)
	pass := widget.NewPasswordEntry()
	again := widget.NewPasswordEntry()
	msg := widget.NewLabel("")
	msg.Wrapping = fyne.TextWrapWord
	msg.Importance = widget.DangerImportance
	intro := "Enter the passphrase of Assent's encrypted key store."
	if fresh {
		intro = "Choose a passphrase for Assent's encrypted key store. It protects your accounts' keys on this device; it cannot be recovered."
	} else {
		again.Hide()
	}
	again.SetPlaceHolder("again")
	var open *widget.Button
	submit := func() {
		if pass.Text == "" {
			msg.SetText("Enter a passphrase.")
			return
		}
		if fresh && pass.Text != again.Text {
			msg.SetText("The two passphrases differ.")
			return
		}
		p := []byte(pass.Text)
		o.Core.Passphrase = func() ([]byte, error) { return p, nil }
		open.Disable()
		msg.SetText("Opening…")
		opts := o.Core
		do := o.UI.Do
		if do == nil {
			do = fyne.Do
		}
		go func() {
			// Argon2id takes a moment: off the UI goroutine.
			c, err := core.Open(opts)
			do(func() {
				open.Enable()
				if err != nil {
					if errors.Is(err, crypto.ErrWrongPassphrase) {
						msg.SetText("Wrong passphrase. Try again.")
					} else {
						summary, details := core.Explain(err, "")
						slog.Warn("open the key store", "err", details)
						msg.SetText(summary)
					}
					pass.SetText("")
					return
				}
				w.Hide()
				ready(c)
				w.Close()
			})
		}()
	}
	pass.OnSubmitted = func(string) {
		if fresh && again.Text == "" {
			w.Canvas().Focus(again)
			return
		}
		submit()
	}
	again.OnSubmitted = func(string) { submit() }
	open = widget.NewButton("Open", submit)
	open.Importance = widget.HighImportance
	logo := canvas.NewImageFromResource(appIcon)
	logo.FillMode = canvas.ImageFillContain
	logo.SetMinSize(fyne.NewSize(80, 80))
	w.SetContent(padded(container.NewVBox(container.NewCenter(logo), fixedWidth(320, wrapped(intro), pass, again, open, msg), layout.NewSpacer()), 20))
	w.Resize(fyne.NewSize(440, 420))
	w.Show()
	w.Canvas().Focus(pass)
}

// showStartError explains why the app cannot start, with a way out when
// there is one.
func showStartError(a fyne.App, err error, retry func()) {
	w := a.NewWindow("Assent")
	w.SetIcon(appIcon)
	summary, details := core.Explain(err, "")
	slog.Warn("open the accounts", "err", details)
	text := "Assent cannot open its accounts. " + summary
	quit := widget.NewButton("Quit", a.Quit)
	buttons := container.NewHBox(layout.NewSpacer(), quit)
	if retry != nil {
		text += "\n\nYou can keep this device's keys in an encrypted file instead, protected by a passphrase."
		use := widget.NewButton("Use an encrypted file", func() { w.Close(); retry() })
		use.Importance = widget.HighImportance
		buttons.Add(use)
	}
	body := append([]fyne.CanvasObject{wrapped(text)}, errorContent("", details, nil)[1:]...)
	w.SetContent(padded(container.NewBorder(nil, buttons, nil, nil, container.NewVBox(body...)), 20))
	w.Resize(fyne.NewSize(480, 320))
	w.Show()
}

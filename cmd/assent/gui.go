//go:build !nogui

package main

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/app/ui"
	"github.com/seed-3a5b824e/assent/crypto"
)

// appID names the app to the OS (preferences, notifications, Android);
// FyneApp.toml says the same.
const appID = "io.github.seed_3a5b824e.assent"

// runApp opens the app's window and runs it until it quits.
func runApp(ctx context.Context, home, keystore string, hidden, noSameDevice bool) (err error) {
	if keystore != "" && keystore != core.KeyStoreKeychain && keystore != core.KeyStoreFile {
		return userErrorf("--keystore %s: want keychain or file", keystore)
	}
	if err := checkDisplay(); err != nil {
		return err
	}
	defer func() {
		// The window system refused after all (a display that went away
		// between the check and the window): one line, not a trace.
		if r := recover(); r != nil {
			err = errNoDisplay(fmt.Sprintf("the window could not open (%v)", r))
		}
	}()
	a := app.NewWithID(appID)
	if home == "" {
		if runtime.GOOS == "android" || runtime.GOOS == "ios" {
			// A phone app keeps its files in its own storage.
			home = a.Storage().RootURI().Path()
		} else {
			h, err := core.DefaultHome()
			if err != nil {
				return err
			}
			home = h
		}
	}
	pass, _ := crypto.PassphraseFromEnv()
	ui.Launch(ctx, a, ui.LaunchOptions{
		Core:          core.Options{Home: home, KeyStore: keystore},
		EnvPassphrase: pass,
		UI:            ui.Options{Hidden: hidden, NoSameDevice: noSameDevice},
	})
	go func() {
		<-ctx.Done()
		if fyne.CurrentDevice().IsMobile() {
			// Fyne's mobile driver ignores Quit (a phone app must not end
			// itself), so Run would never return: under its simulation a
			// SIGTERM or Ctrl-C ends the process here.
			os.Exit(0)
		}
		// Fyne is called from its own goroutine only.
		fyne.Do(a.Quit)
	}()
	a.Run()
	return nil
}

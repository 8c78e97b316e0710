//go:build !nogui

package main

import (
	"context"
	"fmt"
	"runtime"

	"fyne.io/fyne/v2/app"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/app/ui"
	"github.com/seed-3a5b824e/assent/crypto"
)

// appID names the app to the OS (preferences, notifications, Android);
// FyneApp.toml says the same.
const appID = "io.github.seed_3a5b824e.assent"

// runApp opens the app's window and runs it until it quits.
func runApp(ctx context.Context, home, keystore string, hidden, noSameDevice bool) error {
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
	if keystore != "" && keystore != core.KeyStoreKeychain && keystore != core.KeyStoreFile {
		return fmt.Errorf("--keystore %q: want keychain or file", keystore)
	}
	pass, _ := crypto.PassphraseFromEnv()
	ui.Launch(ctx, a, ui.LaunchOptions{
		Core:          core.Options{Home: home, KeyStore: keystore},
		EnvPassphrase: pass,
		UI:            ui.Options{Hidden: hidden, NoSameDevice: noSameDevice},
	})
	go func() {
		<-ctx.Done()
		a.Quit()
	}()
	a.Run()
	return nil
}

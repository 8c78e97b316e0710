package ui

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
)

// windowTexts is what a window shows.
func windowTexts(w fyne.Window) string {
	var out []string
	roots := append([]fyne.CanvasObject{w.Canvas().Content()}, w.Canvas().Overlays().List()...)
	for _, r := range roots {
		walk(r, nil, func(o fyne.CanvasObject, _ []fyne.CanvasObject) bool {
			if s, leaf := textOf(o); leaf {
				out = append(out, s)
				return false
			}
			return true
		})
	}
	return strings.Join(out, "\n")
}

func windowWidgets[T fyne.CanvasObject](w fyne.Window) []T {
	var out []T
	walk(w.Canvas().Content(), nil, func(o fyne.CanvasObject, _ []fyne.CanvasObject) bool {
		if x, ok := o.(T); ok {
			out = append(out, x)
		}
		return true
	})
	return out
}

func TestANewFileStoreHomeAsksForAPassphraseTwiceThenOpens(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	a := test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var queue []func()
	do := func(f func()) { mu.Lock(); queue = append(queue, f); mu.Unlock() }
	pump := func() {
		mu.Lock()
		q := queue
		queue = nil
		mu.Unlock()
		for _, f := range q {
			f()
		}
	}
	home := filepath.Join(t.TempDir(), "home")
	Launch(ctx, a, LaunchOptions{
		Core: core.Options{Home: home, KeyStore: core.KeyStoreFile, FileKDF: cheapArgon2, LockKDF: cheapArgon2},
		UI:   Options{Do: do, HasTray: func() bool { return false }},
	})
	var wins []fyne.Window
	for _, w := range a.Driver().AllWindows() {
		if w.Title() == "Assent" {
			wins = append(wins, w)
		}
	}
	if len(wins) != 1 || !strings.Contains(windowTexts(wins[0]), "Choose a passphrase") {
		t.Fatalf("want one window asking for a new passphrase, got %d", len(wins))
	}
	w := wins[0]
	entries := windowWidgets[*widget.Entry](w)
	if len(entries) != 2 {
		t.Fatalf("want the passphrase asked twice, got %d entries", len(entries))
	}
	open := windowWidgets[*widget.Button](w)[0]
	entries[0].SetText("one passphrase")
	entries[1].SetText("another one")
	test.Tap(open)
	if !strings.Contains(windowTexts(w), "The two passphrases differ.") {
		t.Fatalf("mismatch not shown:\n%s", windowTexts(w))
	}
	entries[1].SetText("one passphrase")
	test.Tap(open)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pump()
		var main fyne.Window
		for _, x := range a.Driver().AllWindows() {
			if strings.Contains(windowTexts(x), "No accounts yet") {
				main = x
			}
		}
		if main != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the app did not open after the passphrase")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if kind, _ := core.HomeKeyStore(home); kind != core.KeyStoreFile {
		t.Fatalf("the home keeps its keys in %q, want the file store", kind)
	}
}

func TestAKeychainThatIsNotThereIsExplainedWithAWayOut(t *testing.T) {
	// No session bus here (the test unsets it), so the OS keychain cannot
	// be reached: a new home is offered the encrypted file instead.
	t.Setenv("TMPDIR", t.TempDir())
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	a := test.NewTempApp(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	Launch(ctx, a, LaunchOptions{
		Core: core.Options{Home: filepath.Join(t.TempDir(), "home"), KeyStore: core.KeyStoreKeychain, KeychainService: "assent-ui-test"},
		UI:   Options{HasTray: func() bool { return false }},
	})
	var text string
	for _, w := range a.Driver().AllWindows() {
		text += windowTexts(w)
	}
	for _, want := range []string{"Assent cannot open its accounts. The system keychain is not available.", "Details", "Use an encrypted file"} {
		if !strings.Contains(text, want) {
			t.Fatalf("the start window does not say %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "DBUS_SESSION_BUS_ADDRESS") {
		t.Fatalf("the technical cause is shown outside Details:\n%s", text)
	}
}

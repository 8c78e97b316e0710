package ui

import (
	"os"
	"path/filepath"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/storage"

	"github.com/seed-3a5b824e/assent/enroll"
)

func TestDroppingAGoogleExportQRShowsWhatWillBeImportedThenImportsIt(t *testing.T) {
	h := newHarness(t)
	export, err := enroll.EncodeMigration([]*enroll.OTPAuth{
		{Type: "totp", Issuer: "GitHub", Account: "alice@example.com", Secret: []byte("Hello!\xde\xad\xbe\xef"), Algorithm: "SHA1", Digits: 6, Period: 30},
		{Type: "hotp", Issuer: "Bank", Account: "alice", Secret: []byte("0123456789abcdef"), Algorithm: "SHA256", Digits: 8, Counter: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	png, err := enroll.EncodePNG(export, 400)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "google-export.png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	h.u.dropped([]fyne.URI{storage.NewFileURI(path)})
	h.mustShow("Import from Google Authenticator", "2 accounts to add:", "GitHub — alice@example.com (TOTP)", "Bank — alice (HOTP)")
	if n := len(h.core.Accounts()); n != 0 {
		t.Fatalf("%d accounts imported before the person agreed", n)
	}
	h.tap("Import 2 accounts")
	h.mustShow("Imported 2 accounts from Google Authenticator", "GitHub", "Bank", groupCode(h.codeNow(githubURI)))
	if n := len(h.core.Accounts()); n != 2 {
		t.Fatalf("%d accounts in the vault, want 2", n)
	}

	// The same export again has nothing new.
	h.u.dropped([]fyne.URI{storage.NewFileURI(path)})
	h.mustShow("There is nothing new to add.", "already in Assent")
}

func TestOpeningAnAegisExportImportsSevenDigitAndSteamAccounts(t *testing.T) {
	h := newHarness(t)
	data, err := os.ReadFile("../../enroll/testdata/aegis-plain.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "aegis-export.json")
	os.WriteFile(path, data, 0o600)
	h.u.dropped([]fyne.URI{storage.NewFileURI(path)})
	h.mustShow("Import from Aegis", "5 accounts to add:", "Deno — Mason (TOTP)", "SPDX — James (TOTP)", "Boeing — Sophia (Steam)")
	h.tap("Cancel")
	if n := len(h.core.Accounts()); n != 0 {
		t.Fatalf("Cancel imported %d accounts", n)
	}
	h.u.dropped([]fyne.URI{storage.NewFileURI(path)})
	h.tap("Import 5 accounts")
	h.mustShow("Mason", "Jeremy", "Sophie", "James", "Sophia")
}

func TestAnEncryptedAegisExportAsksForItsPasswordAndKeepsAskingWhenWrong(t *testing.T) {
	h := newHarness(t)
	h.u.dropped([]fyne.URI{storage.NewFileURI(mustAbs(t, "../../enroll/testdata/importers/aegis_encrypted.json"))})
	h.mustShow("Open Aegis export", "This Aegis export is encrypted")
	pw := h.entry("export password")
	h.typeInto(pw, "not it")
	h.tap("Open")
	h.waitForText("Wrong password. Try again.")
	h.mustShow("Open Aegis export")
	h.typeInto(pw, "test")
	pw.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	h.waitForText("Import from Aegis")
	h.mustNotShow("Wrong password")
	h.mustShow("accounts to add:")
}

func mustAbs(t *testing.T, path string) string {
	t.Helper()
	abs, err := filepath.Abs(path)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

func TestAPastedGoogleExportLinkIsPreviewed(t *testing.T) {
	h := newHarness(t)
	h.app.Clipboard().SetContent("otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZTAC")
	h.tap("Add")
	h.tap("Paste link from clipboard")
	h.mustShow("1 account to add:", "Example — alice@google.com (TOTP)")
	h.tap("Import 1 account")
	h.mustShow("alice@google.com")
}

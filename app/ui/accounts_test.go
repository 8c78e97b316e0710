package ui

import (
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
)

const githubURI = "otpauth://totp/GitHub:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=GitHub"

// codeNow is what the account's code is on the device clock, as shown.
func (h *harness) codeNow(uri string) string {
	h.t.Helper()
	o, err := enroll.ParseOTPAuth(uri)
	if err != nil {
		h.t.Fatal(err)
	}
	code, err := crypto.TOTP(crypto.OTPParams{Secret: o.Secret, Algorithm: o.Algorithm, Digits: o.Digits, Period: o.Period}, h.u.opts.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return code
}

func TestAnEmptyAppOffersToAddAnAccount(t *testing.T) {
	h := newHarness(t)
	h.mustShow("No accounts yet", "Add an account")
	h.tap("Add an account")
	h.mustShow("Scan QR code from screen", "Open QR image or export file…", "Paste link from clipboard", "Enter a secret by hand")
}

func TestPastingAnOTPURIAddsTheAccountAndShowsItsLiveCode(t *testing.T) {
	h := newHarness(t)
	h.app.Clipboard().SetContent(githubURI)
	h.tap("Add")
	h.tap("Paste link from clipboard")

	h.mustShow("GitHub", "alice@example.com", groupCode(h.codeNow(githubURI)))
	h.mustNotShow("No accounts yet")
	if got := h.core.Accounts(); len(got) != 1 || got[0].Label() != "GitHub:alice@example.com" {
		t.Fatalf("the vault holds %+v", got)
	}
	// The countdown runs down to the step boundary, then a new code shows.
	secs := 30 - h.u.opts.Now().Unix()%30
	h.mustShow(itoa(int(secs)))
	h.tick(time.Duration(secs) * time.Second)
	h.mustShow(groupCode(h.codeNow(githubURI)), "30")
}

func TestALinkTypedIntoTheAddDialogIsAdded(t *testing.T) {
	h := newHarness(t)
	h.tap("Add")
	h.typeInto(h.entry("assent://… or otpauth://…"), githubURI)
	h.tap("Add") // the dialog's Add, topmost
	h.mustShow("alice@example.com")
}

func TestTappingAnAccountCopiesItsCodeAndTheClipboardIsClearedAfter30Seconds(t *testing.T) {
	h := newHarness(t)
	if _, err := h.core.AddOTP(githubURI); err != nil {
		t.Fatal(err)
	}
	h.tick(0)
	code := h.codeNow(githubURI)
	h.tap(groupCode(code))
	if got := h.app.Clipboard().Content(); got != code {
		t.Fatalf("clipboard holds %q, want the code %q", got, code)
	}
	h.mustShow("clipboard clears in 30 seconds")
	h.fireTimers(29 * time.Second)
	if got := h.app.Clipboard().Content(); got != code {
		t.Fatalf("after 29 s the clipboard holds %q", got)
	}
	h.fireTimers(ClipboardClearAfter)
	if got := h.app.Clipboard().Content(); got != "" {
		t.Fatalf("after 30 s the clipboard still holds %q", got)
	}

	// Something the person copied since is left alone.
	h.tap(groupCode(code))
	h.app.Clipboard().SetContent("a note")
	h.fireTimers(ClipboardClearAfter)
	if got := h.app.Clipboard().Content(); got != "a note" {
		t.Fatalf("the clipboard's newer content was cleared: %q", got)
	}
}

func TestAnHOTPCodeIsRevealedOnTapAndMovesTheCounter(t *testing.T) {
	h := newHarness(t)
	if _, err := h.core.AddOTP("otpauth://hotp/Bank:alice?secret=JBSWY3DPEHPK3PXP&issuer=Bank&counter=0"); err != nil {
		t.Fatal(err)
	}
	h.tick(0)
	h.mustShow("••• •••")
	first, _ := crypto.HOTP(crypto.OTPParams{Secret: []byte("Hello!\xde\xad\xbe\xef"), Algorithm: "SHA1", Digits: 6}, 0)
	h.tap("••• •••")
	h.mustShow(groupCode(first))
	if got := h.app.Clipboard().Content(); got != first {
		t.Fatalf("clipboard %q, want %q", got, first)
	}
	if a := h.core.Accounts()[0]; a.Counter != 1 {
		t.Fatalf("counter %d after one code, want 1", a.Counter)
	}
	// It stays shown as time goes by; the next tap shows the next one.
	h.tick(time.Second)
	h.mustShow(groupCode(first))
	second, _ := crypto.HOTP(crypto.OTPParams{Secret: []byte("Hello!\xde\xad\xbe\xef"), Algorithm: "SHA1", Digits: 6}, 1)
	h.tap(groupCode(first))
	h.mustShow(groupCode(second))
}

func TestSearchShowsOnlyMatchingAccounts(t *testing.T) {
	h := newHarness(t)
	for _, uri := range []string{githubURI, "otpauth://totp/Google:bob@gmail.com?secret=JBSWY3DPEHPK3PXP&issuer=Google"} {
		if _, err := h.core.AddOTP(uri); err != nil {
			t.Fatal(err)
		}
	}
	h.tick(0)
	h.mustShow("GitHub", "Google")
	h.typeInto(h.entry("Search accounts"), "goo")
	h.mustShow("Google")
	h.mustNotShow("GitHub")
	h.typeInto(h.entry("Search accounts"), "zzz")
	h.mustShow("No account matches")
}

func TestRenameAndReorderThroughTheRowMenu(t *testing.T) {
	h := newHarness(t)
	for _, uri := range []string{githubURI, "otpauth://totp/Google:bob@gmail.com?secret=JBSWY3DPEHPK3PXP&issuer=Google"} {
		if _, err := h.core.AddOTP(uri); err != nil {
			t.Fatal(err)
		}
	}
	h.tick(0)
	// The second row's ⋯ menu: move it up.
	h.rowMenu(1)
	h.tap("Move up")
	if got := labels(h.core.Accounts()); got != "Google:bob@gmail.com,GitHub:alice@example.com" {
		t.Fatalf("order after Move up: %s", got)
	}
	if h.u.rows[0].a.Issuer != "Google" {
		t.Fatal("the list did not follow the new order")
	}
	// Rename the (now second) GitHub account.
	h.rowMenu(1)
	h.tap("Rename…")
	es := h.entries()
	issuer, name := es[0], es[1]
	issuer.SetText("GitHub Enterprise")
	name.SetText("alice")
	h.tap("Save")
	h.mustShow("GitHub Enterprise")
	if got := labels(h.core.Accounts()); got != "Google:bob@gmail.com,GitHub Enterprise:alice" {
		t.Fatalf("after rename: %s", got)
	}
}

// rowMenu opens the ⋯ menu of the i-th account row.
func (h *harness) rowMenu(i int) {
	h.t.Helper()
	var more []*widget.Button
	for _, b := range h.iconButtons() {
		if b.Icon.Name() == "more-horizontal.svg" || strings.Contains(b.Icon.Name(), "more-horizontal") {
			more = append(more, b)
		}
	}
	if i >= len(more) {
		h.t.Fatalf("no ⋯ button for row %d (found %d)", i, len(more))
	}
	test.Tap(more[i])
	h.pump()
}

func labels(accts []core.Account) string {
	var s []string
	for _, a := range accts {
		s = append(s, a.Label())
	}
	return strings.Join(s, ",")
}

func TestDeletingAnOTPAccountAsksFirst(t *testing.T) {
	h := newHarness(t)
	if _, err := h.core.AddOTP(githubURI); err != nil {
		t.Fatal(err)
	}
	h.tick(0)
	h.rowMenu(0)
	h.tap("Delete…")
	h.mustShow("Delete account?", "make sure you can still sign in to GitHub")
	h.tap("Cancel")
	if len(h.core.Accounts()) != 1 {
		t.Fatal("Cancel deleted the account")
	}
	h.rowMenu(0)
	h.tap("Delete…")
	h.tap("Delete")
	h.waitFor("the account to go", func() bool { return len(h.u.accounts) == 0 })
	h.mustShow("No accounts yet")
}

func TestDeletingAnAssentAccountRevokesTheDeviceOnItsServer(t *testing.T) {
	h := newHarness(t)
	h.enrollThroughTheApp("dana")
	dev := h.core.Accounts()[0].EnrollmentID
	h.rowMenu(0)
	h.tap("Delete…")
	h.mustShow("This device will be revoked on " + h.url)
	h.tap("Delete")
	h.waitFor("the account to go", func() bool { return len(h.u.accounts) == 0 })
	d, err := h.st.GetDevice(h.ctx, dev)
	if err != nil {
		t.Fatal(err)
	}
	if d.RevokedAt.IsZero() {
		t.Fatal("the server did not revoke the device")
	}
}

func TestTypingASecretByHandAddsATOTPAccount(t *testing.T) {
	h := newHarness(t)
	h.tap("Add")
	h.tap("Enter a secret by hand")
	h.entry("e.g. GitHub").SetText("Forge")
	h.entry("e.g. alice@example.com").SetText("carol")
	h.entry("base32, e.g. JBSW Y3DP EHPK 3PXP").SetText("jbsw y3dp ehpk 3pxp")
	h.tap("Add")
	h.mustShow("Forge", "carol", groupCode(h.codeNow("otpauth://totp/Forge:carol?secret=JBSWY3DPEHPK3PXP")))

	// A secret that is not base32 is refused with why.
	h.tap("Add")
	h.tap("Enter a secret by hand")
	h.entry("e.g. alice@example.com").SetText("dave")
	h.entry("base32, e.g. JBSW Y3DP EHPK 3PXP").SetText("not base32!")
	h.tap("Add")
	h.mustShow("base32")
	if len(h.core.Accounts()) != 1 {
		t.Fatal("a bad secret was added")
	}
}

func TestScanningTheScreenAddsTheAccountInTheQRCode(t *testing.T) {
	h := newHarness(t, screenShows(githubURI))
	h.tap("Add")
	h.tap("Scan QR code from screen")
	h.waitForText("alice@example.com")
	if !h.u.visible {
		t.Fatal("the window did not come back after the scan")
	}
}

func TestScanningAScreenWithoutACodeSaysSo(t *testing.T) {
	h := newHarness(t)
	h.tap("Add")
	h.tap("Scan QR code from screen")
	h.waitForText("No QR code found")
}

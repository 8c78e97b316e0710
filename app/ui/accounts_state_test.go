package ui

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/server/store"
)

// restartApp quits the app and starts it again over the same home and
// server, as a person restarting it would; change adjusts its options.
func (h *harness) restartApp(change ...func(*Options)) {
	h.t.Helper()
	if h.u.cancelListen != nil {
		h.u.cancelListen()
	}
	deviceNow := func() time.Time { return h.clock.Now().Add(h.skew) }
	c, err := core.Open(core.Options{
		Home: h.core.Home(), KeyStore: core.KeyStoreFile,
		Passphrase: func() ([]byte, error) { return []byte("device passphrase"), nil },
		FileKDF:    cheapArgon2, LockKDF: cheapArgon2, Now: deviceNow, DeviceName: "ui-test",
	})
	if err != nil {
		h.t.Fatal(err)
	}
	opts := Options{Now: deviceNow, Do: h.post, AfterFunc: h.afterFunc, ScanScreen: func() (string, error) { return h.scan() }}
	for _, f := range change {
		f(&opts)
	}
	h.core = c
	h.app = test.NewTempApp(h.t)
	h.u = New(h.app, c, opts)
	h.u.Start(h.ctx)
	h.u.show()
}

// enrollAnother enrolls one more user through the app's paste action.
func (h *harness) enrollAnother(login string) (store.User, core.Account) {
	h.t.Helper()
	u := h.addUser(login)
	n := len(h.u.accounts)
	h.app.Clipboard().SetContent(h.link(login).String())
	h.tap("Add")
	h.tap("Paste link from clipboard")
	h.waitFor("the enrolled account", func() bool { return len(h.u.accounts) == n+1 })
	h.waitForText(login + " · push: connected")
	return u, h.u.accounts[n]
}

// codeOf is an account's current code as its card would show it.
func (h *harness) codeOf(a core.Account) string {
	h.t.Helper()
	c, err := core.TOTPCode(a, h.u.opts.Now())
	if err != nil {
		h.t.Fatal(err)
	}
	return groupCode(c.Code)
}

func TestEachAccountShowsItsOwnStateAndARevokedOneSaysSoAfterARestart(t *testing.T) {
	h := newHarness(t)
	_, alice := h.enrollAnother("alice")
	_, bob := h.enrollAnother("bob")
	h.mustShow("alice · push: connected", "bob · push: connected", h.codeOf(bob))

	// An administrator removes bob's device (what the admin page's Revoke
	// calls): only bob's card changes.
	if err := h.srv.RevokeDevice(h.ctx, bob.EnrollmentID, "admin"); err != nil {
		t.Fatal(err)
	}
	h.waitForText(revokedText)
	h.mustShow("alice · push: connected", h.codeOf(alice), "Remove", "Example Org · "+strings.TrimPrefix(h.url, "http://")+" — connected")
	h.mustNotShow(h.codeOf(bob), "bob · push:", "offline", "alice · "+revokedText)
	if n := h.count(revokedText); n != 1 {
		t.Fatalf("%d cards say %q, want bob's only", n, revokedText)
	}

	// Its code is not copied either.
	h.tap(revokedText)
	if got := h.app.Clipboard().Content(); got != "" && !strings.HasPrefix(got, "assent://") {
		t.Fatalf("a revoked account's code was copied: %q", got)
	}

	// After a restart, before any connection is back, each card says its
	// own state; once connected, still.
	h.restartApp()
	h.tick(0)
	h.mustShow(revokedText, "Remove")
	h.mustNotShow(h.codeOf(bob))
	h.waitForText("alice · push: connected")
	h.mustShow(revokedText)
	h.mustNotShow(h.codeOf(bob), "bob · push: connected")
	if n := h.count(revokedText); n != 1 {
		t.Fatalf("%d cards say %q after the restart", n, revokedText)
	}
	for _, it := range h.u.trayMenu().Items {
		if it.ChildMenu != nil {
			for _, c := range it.ChildMenu.Items {
				if strings.Contains(c.Label, "bob") {
					t.Fatalf("the tray offers the revoked account's code: %q", c.Label)
				}
			}
		}
	}

	// Remove takes it away; alice stays.
	h.tap("Remove")
	h.waitFor("bob's card to go", func() bool { return len(h.u.accounts) == 1 })
	if h.u.accounts[0].ID != alice.ID {
		t.Fatalf("the wrong account stayed: %+v", h.u.accounts[0])
	}
	h.mustShow("alice · push: connected")
	h.mustNotShow(revokedText)
}

func TestEnrollingTheSameAccountAgainOffersToReplaceTheOldEnrollment(t *testing.T) {
	h := newHarness(t)
	user := h.enrollThroughTheApp("alice")
	old := h.u.accounts[0]

	paste := func() {
		h.app.Clipboard().SetContent(h.link("alice").String())
		h.tap("Add")
		h.tap("Paste link from clipboard")
		h.waitForText("Already enrolled")
		h.mustShow("alice at Example Org is already on this device", "every sign-in request twice", "Replace")
	}
	// Cancel leaves everything as it was: no second device on the server.
	paste()
	h.tap("Cancel")
	devs, err := h.st.ListDevices(h.ctx, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || len(h.core.Accounts()) != 1 {
		t.Fatalf("after Cancel: %d devices, %d accounts", len(devs), len(h.core.Accounts()))
	}

	paste()
	h.tap("Replace")
	h.waitFor("the new enrollment", func() bool {
		return len(h.u.accounts) == 1 && h.u.accounts[0].ID != old.ID
	})
	h.waitForText("alice · push: connected")
	h.mustShow("the old enrollment was revoked")
	devs, err = h.st.ListDevices(h.ctx, user.ID)
	if err != nil {
		t.Fatal(err)
	}
	live := 0
	for _, d := range devs {
		if d.ID == old.EnrollmentID && d.RevokedAt.IsZero() {
			t.Fatal("the old device is still live on the server")
		}
		if d.RevokedAt.IsZero() {
			live++
		}
	}
	if live != 1 {
		t.Fatalf("%d live devices on the server, want 1", live)
	}
	// A sign-in now makes one push, to the new device only.
	h.signIn("alice")
	h.promptShown()
	h.onlyChallenge(user)
	if len(h.u.prompts) != 1 {
		t.Fatalf("%d prompts for one sign-in", len(h.u.prompts))
	}
}

func TestAUsedLinkIsExplainedWithDetailsBehindAnExpander(t *testing.T) {
	h := newHarness(t)
	h.addUser("bob")
	l := h.link("bob")
	// Someone else's device used the link first.
	other, err := core.Open(core.Options{Home: filepath.Join(t.TempDir(), "other"), KeyStore: core.KeyStoreFile,
		Passphrase: func() ([]byte, error) { return []byte("x"), nil }, FileKDF: cheapArgon2, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Enroll(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	h.app.Clipboard().SetContent(l.String())
	h.tap("Add")
	h.tap("Paste link from clipboard")
	h.waitForText("Could not enroll")
	h.mustShow("This QR code was used already. Ask your administrator for a new one.", "Details")
	h.mustNotShow("HTTP 409") // behind the closed expander
	h.tap("Details")
	h.mustShow("token_used", "HTTP 409")
}

// count is how many texts on screen are exactly s.
func (h *harness) count(s string) int {
	n := 0
	for _, t := range h.texts() {
		if t == s {
			n++
		}
	}
	return n
}

func TestTheManualEntryFormKeepsWhatWasTypedAndSaysWhatIsWrongUnderTheField(t *testing.T) {
	h := newHarness(t)
	h.tap("Add")
	h.tap("Enter a secret by hand")
	issuer, name, secret := h.entry("e.g. GitHub"), h.entry("e.g. alice@example.com"), h.entry("base32, e.g. JBSW Y3DP EHPK 3PXP")
	if f := h.u.win.Canvas().Focused(); f != issuer {
		t.Fatalf("the form opens with %v focused, want the issuer", f)
	}
	// Tab follows the fields.
	h.u.win.Canvas().FocusNext()
	if h.u.win.Canvas().Focused() != name {
		t.Fatal("Tab from Issuer does not go to Account")
	}
	h.u.win.Canvas().FocusNext()
	if h.u.win.Canvas().Focused() != secret {
		t.Fatal("Tab from Account does not go to Secret")
	}

	// The advanced settings are out of the way until asked for.
	h.mustNotShow("Digits", "Algorithm", "Counter", "Period (s)")
	h.typeInto(issuer, "Forge")
	h.typeInto(name, "dave")
	h.typeInto(secret, "JBSW Y3DP EHPK 3PX1")
	h.tap("Add")
	h.mustShow("The secret can't contain \"1\"", "Enter a secret")
	h.mustNotShow("otpauth URI", "field \"secret\"")
	if issuer.Text != "Forge" || name.Text != "dave" || secret.Text != "JBSW Y3DP EHPK 3PX1" {
		t.Fatalf("the form lost what was typed: %q %q %q", issuer.Text, name.Text, secret.Text)
	}
	if len(h.core.Accounts()) != 0 {
		t.Fatal("a bad secret was added")
	}

	// A bad period opens Advanced and says so under it.
	secret.SetText("JBSW Y3DP EHPK 3PXP")
	h.tap("Advanced")
	h.mustShow("Digits", "Algorithm", "Period (s)", "Time-based (TOTP)")
	h.mustNotShow("Counter")
	var digits *widget.Select
	for _, s := range h.selects() {
		if s.Selected == "6" {
			digits = s
		}
	}
	if digits == nil || len(digits.Options) < 3 {
		t.Fatalf("the digits choice is not a list of lengths: %+v", digits)
	}
	for _, e := range h.entries() {
		if e.Text == "30" {
			e.SetText("half a minute")
		}
	}
	h.tap("Add")
	h.mustShow("The period is the number of seconds a code lasts")
	h.mustNotShow("can't contain")

	// HOTP asks for a counter instead of a period.
	for _, s := range h.selects() {
		if s.Selected == "Time-based (TOTP)" {
			s.SetSelected("Counter-based (HOTP)")
		}
	}
	h.pump()
	h.mustShow("Counter")
	h.mustNotShow("Period (s)")

	// Enter in a field submits.
	secret.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	h.pump()
	h.waitFor("the account", func() bool { return len(h.u.accounts) == 1 })
	if a := h.u.accounts[0]; a.Kind != core.KindHOTP || a.Issuer != "Forge" || a.Name != "dave" {
		t.Fatalf("added %+v", a)
	}
	h.mustNotShow("Enter a secret")
}

func TestAnAccountWithoutAnIssuerShowsItsNameOnce(t *testing.T) {
	h := newHarness(t)
	h.tap("Add")
	h.tap("Enter a secret by hand")
	h.entry("e.g. alice@example.com").SetText("erin@example.com")
	h.entry("base32, e.g. JBSW Y3DP EHPK 3PXP").SetText("JBSWY3DPEHPK3PXP")
	h.tap("Add")
	h.waitFor("the account", func() bool { return len(h.u.accounts) == 1 })
	n := 0
	for _, s := range h.texts() {
		if s == "erin@example.com" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the name shows %d times:\n%s", n, strings.Join(h.texts(), "\n"))
	}
}

func TestWithoutATrayTheMenuLocksAndNotificationsAreExplainedOnce(t *testing.T) {
	h := newHarness(t)
	if err := h.core.SetLock(core.LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	none := func(o *Options) {
		o.HasTray = func() bool { return false }
		o.HasNotifications = func() bool { return false }
	}
	h.restartApp(none)
	h.typeInto(h.entries()[0], "2468")
	h.entries()[0].TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	h.pump()
	h.waitFor("the accounts view", func() bool { return h.u.view == viewAccounts })

	var labels []string
	var lock *fyne.MenuItem
	for _, it := range h.u.mainMenu().Items {
		labels = append(labels, it.Label)
		if it.Label == "Lock now" {
			lock = it
		}
	}
	if lock == nil {
		t.Fatalf("the ⋮ menu without a tray: %q", labels)
	}
	h.mustShow(noNotificationsText)
	h.tap("Got it")
	h.mustNotShow(noNotificationsText)
	lock.Action()
	h.pump()
	if h.u.view != viewLocked {
		t.Fatalf("Lock now left the view %q", h.u.view)
	}
	// Said once: not again at the next start.
	h.restartApp(none)
	h.mustNotShow(noNotificationsText)
}

func TestARefusedLinkAndAnEmptyNameAreSaidUnderTheFieldAndKept(t *testing.T) {
	h := newHarness(t)
	h.tap("Add")
	bad := "otpauth://totp/Forge:carol?secret=JBSWY3DPEHPK3PX1&issuer=Forge"
	link := h.entry("assent://… or otpauth://…")
	h.typeInto(link, bad)
	link.TypedKey(&fyne.KeyEvent{Name: fyne.KeyReturn})
	h.pump()
	h.mustShow("The secret can't contain \"1\"", "Paste link from clipboard")
	h.mustNotShow("field \"secret\"")
	if link.Text != bad {
		t.Fatalf("the link field lost its text: %q", link.Text)
	}
	if len(h.core.Accounts()) != 0 {
		t.Fatal("a bad link was added")
	}

	// Rename refuses an empty name under the field, keeping the issuer typed.
	if _, err := h.core.AddOTP(githubURI); err != nil {
		t.Fatal(err)
	}
	h.tap("Cancel")
	h.tick(0)
	h.rowMenu(0)
	h.tap("Rename…")
	var issuer, name *widget.Entry
	for _, e := range h.entries() {
		switch e.Text {
		case "GitHub":
			issuer = e
		case "alice@example.com":
			name = e
		}
	}
	issuer.SetText("GitHub Enterprise")
	name.SetText("  ")
	h.tap("Save")
	h.mustShow("Enter a name", "Rename account")
	if issuer.Text != "GitHub Enterprise" {
		t.Fatal("the form lost the issuer")
	}
	name.SetText("alice")
	h.tap("Save")
	h.mustNotShow("Rename account")
	if got := labels(h.core.Accounts()); got != "GitHub Enterprise:alice" {
		t.Fatalf("renamed to %s", got)
	}
}

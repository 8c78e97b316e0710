package ui

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store"
)

// trayApp is the test app on a desktop that has a tray (the test driver
// has none).
type trayApp struct{ fyne.App }

func (trayApp) SetSystemTrayMenu(*fyne.Menu)    {}
func (trayApp) SetSystemTrayIcon(fyne.Resource) {}
func (trayApp) SetSystemTrayWindow(fyne.Window) {}

// Without a tray, closing the window quits and nothing can start hidden,
// so the settings do not offer either.
func TestWithoutATrayTheSettingsLeaveTheTrayOut(t *testing.T) {
	h := newHarness(t)
	h.u.opts.HasTray = func() bool { return false }
	h.u.showSettings()
	h.mustShow("App lock", "Auto-lock", "Lock when the window is hidden")
	h.mustNotShow("Tray", "Keep running in the tray when closed", "Start hidden in the tray")
	h.tap("Close")

	// The same settings on a desktop with a tray offer both.
	h.u.app = trayApp{h.u.app}
	h.u.opts.HasTray = func() bool { return true }
	h.u.showSettings()
	h.mustShow("App lock", "Tray", "Keep running in the tray when closed", "Start hidden in the tray")
}

// A 7-digit code is shown "123 4567" and a Steam code whole, as
// core.GroupCode spaces them, in the account's card.
func TestSevenDigitAndSteamCodesAreShownGroupedAsTheirIssuersDo(t *testing.T) {
	h := newHarness(t)
	data, err := os.ReadFile("../../enroll/testdata/aegis-plain.json")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "aegis-export.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	h.u.dropped([]fyne.URI{storage.NewFileURI(path)})
	h.tap("Import 5 accounts")
	h.tick(time.Second)

	shapes := map[string]*regexp.Regexp{
		"7 digits": regexp.MustCompile(`^[0-9]{3} [0-9]{4}$`),
		"8 digits": regexp.MustCompile(`^[0-9]{4} [0-9]{4}$`),
		"Steam":    regexp.MustCompile(`^[` + crypto.SteamAlphabet + `]{5}$`),
	}
	seen := map[string]bool{}
	for _, a := range h.core.Accounts() {
		if a.Kind == core.KindHOTP {
			continue
		}
		what := fmt.Sprintf("%d digits", a.Digits)
		if a.Kind == core.KindSteam {
			what = "Steam"
		}
		shape, ok := shapes[what]
		if !ok {
			continue
		}
		code, err := core.TOTPCode(a, h.u.opts.Now())
		if err != nil {
			t.Fatal(err)
		}
		shown := h.cardCode(a.Name)
		if shown != code.Grouped() || !shape.MatchString(shown) {
			t.Fatalf("%s (%s): the card shows %q for the code %q", a.Name, what, shown, code.Code)
		}
		seen[what] = true
	}
	if len(seen) != len(shapes) {
		t.Fatalf("checked %v, want %d kinds", seen, len(shapes))
	}
}

// cardCode is the code shown in the card of the account named name.
func (h *harness) cardCode(name string) string {
	h.t.Helper()
	for _, r := range h.u.rows {
		if r.a.Name == name {
			if !r.codeBox.Visible() || !r.code.Visible() {
				h.t.Fatalf("%s shows no code", name)
			}
			return r.code.Text
		}
	}
	h.t.Fatalf("no card for %s", name)
	return ""
}

// When the server cannot be reached, the answer's error names the
// organisation the request came from.
func TestAnAnswerThatCannotReachTheServerNamesTheOrganisation(t *testing.T) {
	h := newHarness(t)
	u := h.enrollThroughTheApp("olga")
	_, number := h.signIn("olga")
	h.promptShown()
	h.hs.Close() // the server goes off the network
	h.tap(fmt.Sprint(number))
	h.waitForText("Couldn't reach Example Org")
	h.mustShow("Could not answer", "Details")
	if c := h.onlyChallenge(u); c.Status != store.ChallengePending {
		t.Fatalf("the challenge is %q", c.Status)
	}
}

// toastLooks checks the toast's colour and icon.
func (h *harness) toastLooks(warning bool, text string) {
	h.t.Helper()
	h.waitForText(text)
	wantImp, wantIcon := widget.SuccessImportance, toastDoneIcon()
	if warning {
		wantImp, wantIcon = widget.WarningImportance, toastWarningIcon()
	}
	if h.u.toast.Importance != wantImp || h.u.toastIcon.Resource != wantIcon || !h.u.toastBox.Visible() {
		h.t.Fatalf("%q is shown with importance %v and icon %s, want %v and %s",
			h.u.toast.Text, h.u.toast.Importance, h.u.toastIcon.Resource.Name(), wantImp, wantIcon.Name())
	}
	// It sits at the bottom of the window, under the list's header, not
	// where it was before it was hidden.
	d := fyne.CurrentApp().Driver()
	top, search := d.AbsolutePositionForObject(h.u.toastBox), d.AbsolutePositionForObject(h.u.search)
	win := h.u.win.Canvas().Size()
	if top.Y <= search.Y || top.Y+h.u.toastBox.Size().Height > win.Height+1 || h.u.toast.Size().Width < 100 {
		h.t.Fatalf("the toast lies at %v, size %v (search at %v, window %v)", top, h.u.toastBox.Size(), search, win)
	}
}

// A warning after a denial, then a plain confirmation: each toast has its
// own colour and icon, none keeps the one before.
func TestEachToastHasItsOwnLookAndNoneKeepsTheOneBefore(t *testing.T) {
	h := newHarness(t)
	if _, err := h.core.AddOTP(githubURI); err != nil {
		t.Fatal(err)
	}
	h.u.changed()
	h.enrollThroughTheApp("nora")
	h.signIn("nora")
	h.promptShown()
	h.tap("Deny")
	h.tap("No, just deny")
	h.waitFor("the prompt to go", func() bool { return h.u.view == viewAccounts })
	h.toastLooks(true, "Denied. Nobody was let in.")

	h.tap(groupCode(h.codeNow(githubURI)))
	h.toastLooks(false, "Copied the GitHub")

	h.u.showWarning("The request was cancelled.")
	h.toastLooks(true, "The request was cancelled.")
	h.u.showOutcome(true, "Approved. Carry on where you signed in.")
	h.toastLooks(false, "Approved.")

	h.tick(toastFor)
	if h.u.toastBox.Visible() {
		t.Fatalf("the toast %q is still shown", h.u.toast.Text)
	}
}

// A prompt that expires while shown says so as a warning.
func TestAnExpiredPromptIsSaidAsAWarning(t *testing.T) {
	h := newHarness(t)
	h.enrollThroughTheApp("frank")
	h.signIn("frank")
	h.promptShown()
	h.tick(5*time.Minute + time.Second)
	if h.u.view != viewAccounts {
		t.Fatalf("the view is %s", h.u.view)
	}
	h.toastLooks(true, "The request expired before it was answered.")
}

// forcedVariant is the app's theme as a system in one variant has it.
type forcedVariant struct {
	fyne.Theme
	v fyne.ThemeVariant
}

func (f forcedVariant) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	return f.Theme.Color(n, f.v)
}

// Each variant has its own colours: dark text on light surfaces in the
// light one, light text on dark surfaces in the dark one. A variant that
// is no preference (the test driver's) is the light one.
func TestTheThemeGivesEachVariantItsOwnColours(t *testing.T) {
	th := newTheme()
	for _, v := range []fyne.ThemeVariant{theme.VariantLight, theme.VariantDark, 2} {
		dark := v == theme.VariantDark
		for _, surface := range []fyne.ThemeColorName{theme.ColorNameBackground, theme.ColorNameInputBackground, theme.ColorNameOverlayBackground} {
			if l := relativeLuminance(th.Color(surface, v)); dark != (l < 0.5) {
				t.Errorf("variant %d: %s has luminance %.2f", v, surface, l)
			}
			for _, text := range []fyne.ThemeColorName{theme.ColorNameForeground, theme.ColorNamePrimary, theme.ColorNameError, theme.ColorNameWarning, theme.ColorNameSuccess, theme.ColorNameDisabled} {
				if r := contrastRatio(th.Color(text, v), th.Color(surface, v)); r < 4.5 {
					t.Errorf("variant %d: %s on %s is %.2f:1", v, text, surface, r)
				}
			}
		}
	}
	if th.Color(theme.ColorNameForeground, theme.VariantLight) == th.Color(theme.ColorNameForeground, theme.VariantDark) {
		t.Error("both variants have the same text colour")
	}
}

// The views are built before a phone tells the app its light/dark variant
// (Fyne's mobile driver starts dark and learns the system's with the first
// frame). Every colour the app draws itself — the title, the codes, the
// cards, the countdown, a prompt's numbers — follows the variant then.
func TestTheAppsOwnColoursFollowAChangeOfVariant(t *testing.T) {
	h := newHarness(t)
	if _, err := h.core.AddOTP(githubURI); err != nil {
		t.Fatal(err)
	}
	h.u.changed()
	for _, v := range []fyne.ThemeVariant{theme.VariantDark, theme.VariantLight, theme.VariantDark} {
		h.app.Settings().SetTheme(forcedVariant{newTheme(), v})
		h.waitFor(fmt.Sprintf("the accounts in variant %d", v), func() bool { return len(h.wrongColours(v)) == 0 })
	}

	h.enrollThroughTheApp("nora")
	h.signIn("nora")
	h.promptShown()
	for _, v := range []fyne.ThemeVariant{theme.VariantLight, theme.VariantDark} {
		h.app.Settings().SetTheme(forcedVariant{newTheme(), v})
		h.waitFor(fmt.Sprintf("the prompt in variant %d", v), func() bool { return len(h.wrongColours(v)) == 0 })
	}
}

// wrongColours lists what the app drew itself in another colour than the
// theme's for variant v.
func (h *harness) wrongColours(v fyne.ThemeVariant) []string {
	h.pump()
	th := newTheme()
	var wrong []string
	same := func(a, b color.Color) bool {
		r1, g1, b1, a1 := a.RGBA()
		r2, g2, b2, a2 := b.RGBA()
		return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
	}
	for _, r := range h.roots() {
		walk(r, nil, func(o fyne.CanvasObject, _ []fyne.CanvasObject) bool {
			switch x := o.(type) {
			case *tinted:
				var got color.Color
				switch y := x.obj.(type) {
				case *canvas.Text:
					got = y.Color
				case *canvas.Rectangle:
					got = y.FillColor
				case *canvas.Circle:
					got = y.FillColor
				case *canvas.Arc:
					got = y.FillColor
				}
				if got != nil && !same(got, th.Color(x.name, v)) {
					wrong = append(wrong, fmt.Sprintf("%T %s", x.obj, x.name))
				}
			case *tapArea:
				if !same(x.bg.FillColor, th.Color(x.fill, v)) {
					wrong = append(wrong, "a card")
				}
			}
			return true
		})
	}
	// The title was the one seen wrong: check it was looked at.
	found := false
	for _, r := range h.roots() {
		walk(r, nil, func(o fyne.CanvasObject, _ []fyne.CanvasObject) bool {
			if t, ok := o.(*canvas.Text); ok && t.Text == "Assent" {
				found = true
				if !same(t.Color, th.Color(theme.ColorNameForeground, v)) {
					wrong = append(wrong, "the title")
				}
			}
			return true
		})
	}
	if !found && h.u.view == viewAccounts {
		wrong = append(wrong, "no title")
	}
	return wrong
}

// On a phone that shows no notifications the notice speaks of the phone,
// not of a desktop and its window.
func TestTheNoNotificationsNoticeOnAPhoneSpeaksOfThePhone(t *testing.T) {
	h := newHarness(t)
	h.u.opts.HasNotifications = func() bool { return false }
	h.u.opts.IsMobile = func() bool { return true }
	h.u.noticeNoNotifications()
	h.mustShow(noNotificationsPhoneText)
	h.mustNotShow("desktop", "this window")
	h.tap("Got it")
	h.mustNotShow(noNotificationsPhoneText)
	if !h.core.Settings().NoNotificationsSaid {
		t.Fatal("Got it was not remembered")
	}
}

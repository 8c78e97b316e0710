// Package ui is the Assent app's window: the account list with live codes,
// push prompts with number matching, adding and importing accounts, the app
// lock, settings, the system tray and notifications. It is Fyne only: every
// decision it shows comes from app/core, which the headless `assent`
// command uses too.
//
// Threading: Fyne widgets are touched on the Fyne goroutine only. Work
// that waits (the network, Argon2id, screen capture) runs in goroutines
// and hands its result back through Options.Do (fyne.Do in the app).
package ui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/assets"
	"github.com/seed-3a5b824e/assent/push"
)

// ClipboardClearAfter is how long a copied code stays on the clipboard.
const ClipboardClearAfter = 30 * time.Second

// DriftWarning is how far the device clock may be from a server's before
// the app warns: codes have a 30-second step and device tokens a minute.
const DriftWarning = 30 * time.Second

// toastFor is how long a short message stays at the bottom of the window.
const toastFor = 4 * time.Second

// Options wire the app; zero values are the real thing.
type Options struct {
	// Now is the clock codes, countdowns and auto-lock read.
	Now func() time.Time
	// Do runs f on the Fyne goroutine (fyne.Do); tests queue it.
	Do func(f func())
	// AfterFunc runs f after d (time.AfterFunc); tests fire it by hand.
	AfterFunc func(d time.Duration, f func()) (stop func())
	// ScanScreen captures the screen and reads a QR code
	// (core.ScanScreen).
	ScanScreen func() (string, error)
	// ScanDelay lets the window hide before the screen is captured.
	ScanDelay time.Duration
	// HasTray says whether the desktop shows tray icons (trayAvailable).
	HasTray func() bool
	// HasNotifications says whether the desktop shows notifications
	// (notificationsAvailable); without, the app says so once.
	HasNotifications func() bool
	// IsMobile says whether the app runs as a phone app (Fyne's mobile
	// driver: fyne.CurrentDevice().IsMobile()), which words some
	// messages for a phone.
	IsMobile func() bool
	// Hidden starts the app in the system tray (also a setting).
	Hidden bool
	// NoSameDevice leaves same-device sign-in (the loopback server a
	// browser on this computer asks) off.
	NoSameDevice bool
	Logger       *slog.Logger
}

// UI is the running app.
type UI struct {
	app   fyne.App
	core  *core.Core
	opts  Options
	win   fyne.Window
	guard *core.Guard
	log   *slog.Logger

	ctx          context.Context
	started      bool
	cancelListen context.CancelFunc
	listening    string // the Assent accounts being listened for

	accounts []core.Account
	listSig  string
	query    string

	prompts []*pending
	servers map[string]*serverState // by server URL
	// states are each Assent account's own push channel: two accounts on
	// one server can differ (one revoked, one live).
	states map[string]*accountState // by account id

	visible bool // the window is shown

	// What the window shows.
	view       string
	search     *widget.Entry
	list       *fyne.Container
	rows       []*accountRow
	empty      fyne.CanvasObject
	status     *fyne.Container
	notice     *fyne.Container // a one-time notice (no notifications here)
	toast      *widget.Label
	toastIcon  *widget.Icon // ✔ or ⚠ before the toast's text
	toastBox   *fyne.Container
	toastUntil time.Time
	accountsUI fyne.CanvasObject
	lockUI     *lockScreen
	promptUI   *promptView

	// sameDevice is a same-device request on screen; it comes before
	// everything else, since a browser waits for it.
	sameDevice     *sameDeviceView
	sameDeviceAddr string

	// clip is the code last put on the clipboard, cleared after
	// ClipboardClearAfter unless something else was copied meanwhile.
	clip     string
	clipStop func()
}

// pending is a prompt on screen.
type pending struct {
	core.Prompt
	busy bool // an answer is on its way
}

// serverState is what the app knows of one server's push channel.
type serverState struct {
	name  string
	state push.ConnState
	err   error
	drift time.Duration
	known bool // a welcome told the drift
}

// accountState is what the app knows of one account's push channel.
type accountState struct {
	state push.ConnState
	err   error
}

// Views.
const (
	viewAccounts = "accounts"
	viewLocked   = "locked"
	viewPrompt   = "prompt"
)

// New builds the app's window over an opened core. Show it with Show (or
// leave it hidden in the tray), and start push listening with Start.
func New(a fyne.App, c *core.Core, opts Options) *UI {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Do == nil {
		opts.Do = fyne.Do
	}
	if opts.AfterFunc == nil {
		opts.AfterFunc = func(d time.Duration, f func()) func() {
			t := time.AfterFunc(d, func() { fyne.Do(f) })
			return func() { t.Stop() }
		}
	}
	if opts.ScanScreen == nil {
		opts.ScanScreen = core.ScanScreen
	}
	if opts.HasTray == nil {
		opts.HasTray = trayAvailable
	}
	if opts.HasNotifications == nil {
		opts.HasNotifications = notificationsAvailable
	}
	if opts.IsMobile == nil {
		opts.IsMobile = func() bool { return fyne.CurrentDevice().IsMobile() }
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	u := &UI{app: a, core: c, opts: opts, guard: c.NewGuard(), log: opts.Logger, servers: map[string]*serverState{}, states: map[string]*accountState{}, ctx: context.Background()}
	a.Settings().SetTheme(newTheme())
	a.SetIcon(appIcon)
	u.win = a.NewWindow("Assent")
	u.win.SetIcon(appIcon)
	u.win.Resize(fyne.NewSize(440, 760))
	u.win.SetMaster()
	u.win.SetOnDropped(func(_ fyne.Position, uris []fyne.URI) { u.dropped(uris) })
	u.win.SetCloseIntercept(u.closeRequested)
	u.buildAccountsView()
	u.noticeNoNotifications()
	u.lockUI = u.newLockScreen()
	u.reload(true)
	u.render()
	u.setupTray()
	u.setupLifecycle()
	return u
}

var appIcon = fyne.NewStaticResource("icon.png", assets.Icon)

// ShowAtStart shows the window unless the app starts hidden in the tray
// (the --hidden flag or the setting), which only a desktop with a tray can.
func (u *UI) ShowAtStart() {
	if u.hasTray() && (u.opts.Hidden || u.core.Settings().StartHidden) {
		u.visible = false
		return
	}
	u.show()
}

func (u *UI) show() {
	u.visible = true
	u.win.Show()
	u.win.RequestFocus()
}

func newTicker() *time.Ticker { return time.NewTicker(time.Second) }

// Start listens for pushes on every Assent account until ctx ends, and
// polls once for prompts that are already waiting.
func (u *UI) Start(ctx context.Context) {
	u.ctx = ctx
	u.started = true
	u.restartListening()
	u.startSameDevice()
}

// restartListening (re)starts the push channels when the set of Assent
// accounts changed.
func (u *UI) restartListening() {
	var ids []string
	for _, a := range u.accounts {
		if a.Kind == core.KindAssent {
			ids = append(ids, a.ID)
		}
	}
	sig := strings.Join(ids, ",")
	if sig == u.listening && u.cancelListen != nil {
		return
	}
	if u.cancelListen != nil {
		u.cancelListen()
		u.cancelListen = nil
	}
	u.listening = sig
	if len(ids) == 0 {
		u.servers = map[string]*serverState{}
		u.states = map[string]*accountState{}
		u.renderStatus()
		return
	}
	ctx, cancel := context.WithCancel(u.ctx)
	u.cancelListen = cancel
	do := u.opts.Do
	go func() {
		// The poll finds prompts that were waiting before the socket is up,
		// and prompts of servers whose socket cannot be kept.
		ps, err := u.core.Challenges(ctx)
		if err != nil {
			u.log.Warn("poll for prompts", "err", err)
		}
		if ctx.Err() == nil {
			do(func() {
				for _, p := range ps {
					u.addPrompt(p)
				}
			})
		}
	}()
	go func() {
		_ = u.core.Listen(ctx, core.Events{
			Prompt: func(p core.Prompt) {
				do(func() {
					if ctx.Err() == nil {
						u.addPrompt(p)
					}
				})
			},
			Resolved: func(_ core.Account, id, outcome string) { do(func() { u.resolved(id, outcome) }) },
			State: func(a core.Account, s push.ConnState, err error) {
				do(func() {
					if ctx.Err() == nil {
						u.setState(a, s, err)
					}
				})
			},
			Drift: func(a core.Account, d time.Duration) {
				do(func() {
					if ctx.Err() == nil {
						u.setDrift(a, d)
					}
				})
			},
			Error: func(a core.Account, err error) { u.log.Warn("push", "account", a.Label(), "err", err) },
		})
	}()
}

// reload rereads the account list (another process may have changed it)
// and rebuilds the rows when it changed.
func (u *UI) reload(force bool) {
	accts := u.core.Accounts()
	var b strings.Builder
	for _, a := range accts {
		fmt.Fprintf(&b, "%s|%s|%s|%d|%t\n", a.ID, a.Issuer, a.Name, a.Counter, a.Revoked())
	}
	if !force && b.String() == u.listSig {
		return
	}
	u.listSig = b.String()
	u.accounts = accts
	u.rebuildRows()
	if u.started {
		u.restartListening()
	}
	u.updateTray()
}

// changed is called after the app changed the vault itself.
func (u *UI) changed() { u.reload(true) }

// tick is the app's heartbeat, once a second: codes and countdowns move,
// expired prompts go, the auto-lock and the toast time out.
func (u *UI) tick() {
	now := u.opts.Now()
	if u.guard.Tick() {
		u.render()
	}
	expired := false
	u.prompts = slices.DeleteFunc(u.prompts, func(p *pending) bool {
		if p.Expired(now) {
			expired = true
			return true
		}
		return false
	})
	if expired {
		u.showOutcome(false, "The request expired before it was answered.")
		u.promptsChanged()
	}
	u.reload(false)
	u.refreshCodes(now)
	if u.view == viewPrompt && u.promptUI != nil {
		u.promptUI.refresh(now)
	}
	u.tickSameDevice(now)
	if u.toast.Text != "" && !now.Before(u.toastUntil) {
		u.toast.SetText("")
		u.toastBox.Hide()
		u.accountsUI.Refresh() // the list takes the space back
	}
}

// render puts the right view in the window: a waiting prompt first (its
// context holds nothing secret, and denying needs no unlock), then the
// lock screen, then the accounts.
func (u *UI) render() {
	var view string
	switch {
	case u.sameDevice != nil:
		view = viewSameDevice
	case len(u.prompts) > 0:
		view = viewPrompt
	case u.guard.Locked():
		view = viewLocked
	default:
		view = viewAccounts
	}
	switch view {
	case viewSameDevice:
		u.renderSameDevice()
		u.view = view
		return
	case viewPrompt:
		if u.promptUI == nil || u.promptUI.p != u.prompts[0] || u.view != viewPrompt {
			u.promptUI = u.newPromptView(u.prompts[0], len(u.prompts))
			u.win.SetContent(u.promptUI.content)
		} else {
			u.promptUI.setCount(len(u.prompts))
		}
		u.promptUI.refresh(u.opts.Now())
	case viewLocked:
		if u.view != viewLocked {
			u.lockUI.reset()
			u.win.SetContent(u.lockUI.content)
		}
		u.lockUI.focus(u.win)
	default:
		if u.view != viewAccounts {
			u.win.SetContent(u.accountsUI)
		}
		u.refreshCodes(u.opts.Now())
	}
	u.view = view
	title := "Assent"
	if n := len(u.prompts); n > 0 {
		title = fmt.Sprintf("Assent — %d waiting", n)
	}
	u.win.SetTitle(title)
}

// touch records use of the app for the auto-lock.
func (u *UI) touch() { u.guard.Touch() }

// The toast's icons: a tick for what went through, a warning sign for
// what did not, so that the two differ in more than colour. Made when
// asked, not at start: Fyne's icons need a running app, and a command
// without a window has none.
var (
	toastDoneIcon = sync.OnceValue(func() fyne.Resource {
		return theme.NewSuccessThemedResource(theme.ConfirmIcon())
	})
	toastWarningIcon = sync.OnceValue(func() fyne.Resource {
		return theme.NewWarningThemedResource(theme.WarningIcon())
	})
)

// showToast shows a short message at the bottom of the accounts view,
// with a tick in the success colour: something was done (copied, added,
// approved).
func (u *UI) showToast(msg string) { u.toastAs(false, msg) }

// showWarning is showToast for something that did not go through or
// needs attention (denied, expired, removed by the server), with a
// warning sign in the warning colour.
func (u *UI) showWarning(msg string) { u.toastAs(true, msg) }

// toastAs sets the toast's look every time, so that a toast never keeps
// the look of the one before it.
func (u *UI) toastAs(warning bool, msg string) {
	if warning {
		u.toast.Importance = widget.WarningImportance
		u.toastIcon.SetResource(toastWarningIcon())
	} else {
		u.toast.Importance = widget.SuccessImportance
		u.toastIcon.SetResource(toastDoneIcon())
	}
	u.toast.SetText(msg)
	u.toastBox.Show()
	// Lay the view out again: a toast shown after being hidden keeps its
	// old place and size otherwise (drawn over the header).
	u.accountsUI.Refresh()
	u.toastUntil = u.opts.Now().Add(toastFor)
}

// showError shows a problem in a dialog, in words a person can act on
// (core.Explain), with the technical text under "Details" and in the log.
func (u *UI) showError(title string, err error) { u.showErrorFor(title, err, "") }

// showErrorFor is showError for an action on org's server (its name, or
// "" for "the server").
func (u *UI) showErrorFor(title string, err error, org string) {
	if errors.Is(err, push.ErrPinMismatch) {
		title = "Server refused"
	}
	summary, details := core.Explain(err, org)
	u.log.Warn(title, "org", org, "err", details)
	var d *dialog.CustomDialog
	content := errorContent(summary, details, func() { d.Resize(fyne.NewSize(0, 0)) })
	d = dialog.NewCustom(title, "OK", fixedWidth(340, content...), u.win)
	d.Show()
}

// errorContent is a summary a person reads, and the technical text behind
// a "Details" toggle (left out when it says nothing more); relayout fits
// the window or dialog around it when the details open or close.
func errorContent(summary, details string, relayout func()) []fyne.CanvasObject {
	objs := []fyne.CanvasObject{wrapped(summary)}
	if details == "" || details == summary || strings.TrimSuffix(summary, ".") == upperFirst(details) {
		return objs
	}
	d := widget.NewLabel(details)
	d.Wrapping = fyne.TextWrapWord
	d.Selectable = true
	d.SizeName = theme.SizeNameCaptionText
	d.Hide()
	var toggle *widget.Button
	toggle = widget.NewButtonWithIcon("Details", theme.MenuExpandIcon(), func() {
		if d.Visible() {
			d.Hide()
			toggle.SetIcon(theme.MenuExpandIcon())
		} else {
			d.Show()
			toggle.SetIcon(theme.MenuDropDownIcon())
		}
		if relayout != nil {
			relayout()
		}
	})
	toggle.Importance = widget.LowImportance
	toggle.Alignment = widget.ButtonAlignLeading
	return append(objs, toggle, d)
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// closeRequested is the window's close button: with close-to-tray on a
// desktop with a tray the app keeps running (pushes still arrive), else
// it quits.
func (u *UI) closeRequested() {
	if u.hasTray() && u.core.Settings().CloseToTray {
		u.hide()
		return
	}
	u.quit()
}

// hasTray says whether the app can live in a system tray here.
func (u *UI) hasTray() bool {
	_, desk := u.app.(desktop.App)
	return desk && u.opts.HasTray()
}

func (u *UI) hide() {
	u.visible = false
	u.win.Hide()
	if u.guard.Hidden() {
		u.render()
	}
}

func (u *UI) quit() {
	if u.cancelListen != nil {
		u.cancelListen()
	}
	u.clearClipboardNow()
	u.app.Quit()
}

func (u *UI) setupLifecycle() {
	lc := u.app.Lifecycle()
	lc.SetOnExitedForeground(func() {
		// On a phone this is the app going to the background. On a desktop
		// it is only focus moving elsewhere, which is no reason to lock.
		if fyne.CurrentDevice().IsMobile() && u.guard.Hidden() {
			u.render()
		}
	})
	lc.SetOnEnteredForeground(func() {
		if fyne.CurrentDevice().IsMobile() && u.ctx != nil {
			// Back from the background: sockets may have died meanwhile.
			u.listening = ""
			u.restartListening()
		}
	})
}

// vbox is a VBox whose objects are given in order; nil ones are left out.
func vbox(objs ...fyne.CanvasObject) *fyne.Container {
	return container.NewVBox(nonNil(objs...)...)
}

// nonNil leaves out the nil objects (parts a view does not have).
func nonNil(objs ...fyne.CanvasObject) []fyne.CanvasObject {
	var out []fyne.CanvasObject
	for _, o := range objs {
		if o != nil {
			out = append(out, o)
		}
	}
	return out
}

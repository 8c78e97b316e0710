package ui

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// The UI tests drive the real app: Fyne's test driver for the window, a
// real app/core home with the encrypted file store, and a real assentd on
// a loopback port with its SQLite file, over real HTTP and WebSockets.
// Time is a fake clock the test moves; work the app does in goroutines
// comes back through a queue the test runs on its own goroutine, as Fyne
// would run it on its main one.

// cheapArgon2 keeps key stores and the app lock fast under the race
// detector.
var cheapArgon2 = crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}

type harness struct {
	t     *testing.T
	ctx   context.Context
	srv   *server.Server
	hs    *http.Server // the server's HTTP side: Close it to take the server off the network
	st    store.Store
	url   string
	clock *fakeclock.Clock
	skew  time.Duration // the device clock minus the server's
	core  *core.Core
	app   fyne.App
	u     *UI

	mu     sync.Mutex
	queue  []func()
	wake   chan struct{}
	timers []*fakeTimer
	scan   func() (string, error)
}

type fakeTimer struct {
	d       time.Duration
	f       func()
	stopped bool
}

type harnessOption func(*harness)

// deviceClockOff sets the device clock apart from the server's.
func deviceClockOff(d time.Duration) harnessOption { return func(h *harness) { h.skew = d } }

// screenShows makes "scan the screen" find text.
func screenShows(text string) harnessOption {
	return func(h *harness) { h.scan = func() (string, error) { return text, nil } }
}

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	t.Setenv("TMPDIR", t.TempDir()) // Fyne keeps preferences there
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, ctx: ctx, clock: fakeclock.New(time.Now()), wake: make(chan struct{}, 1)}
	h.scan = func() (string, error) { return "", core.ErrNoQRCodeOnScreen }
	for _, o := range opts {
		o(h)
	}
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.st, h.url = st, "http://"+ln.Addr().String()
	h.srv, err = server.New(ctx, server.Options{
		URL: h.url, Org: "Example Org", Store: st, SealKey: crypto.RandomBytes(32), Now: h.clock.Now,
		PasswordParams: cheapArgon2,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The app the test sign-ins name, registered as an administrator would.
	if _, err := h.srv.AddApp(ctx, "intranet", "web"); err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	h.hs = hs
	go hs.Serve(ln)

	deviceNow := func() time.Time { return h.clock.Now().Add(h.skew) }
	h.core, err = core.Open(core.Options{
		Home: filepath.Join(t.TempDir(), "home"), KeyStore: core.KeyStoreFile,
		Passphrase: func() ([]byte, error) { return []byte("device passphrase"), nil },
		FileKDF:    cheapArgon2, LockKDF: cheapArgon2, Now: deviceNow, DeviceName: "ui-test",
	})
	if err != nil {
		t.Fatal(err)
	}
	h.app = test.NewTempApp(t)
	h.u = New(h.app, h.core, Options{
		Now: deviceNow, Do: h.post, AfterFunc: h.afterFunc,
		ScanScreen: func() (string, error) { return h.scan() },
	})
	h.u.Start(ctx)
	h.u.show()
	t.Cleanup(func() {
		cancel()
		h.srv.Close()
		hs.Close()
		st.Close()
	})
	return h
}

// post is the app's fyne.Do: queue f for the test goroutine.
func (h *harness) post(f func()) {
	h.mu.Lock()
	h.queue = append(h.queue, f)
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

func (h *harness) afterFunc(d time.Duration, f func()) func() {
	ft := &fakeTimer{d: d, f: f}
	h.timers = append(h.timers, ft)
	return func() { ft.stopped = true }
}

// fireTimers runs the timers that are due after d.
func (h *harness) fireTimers(d time.Duration) {
	timers := h.timers
	h.timers = nil
	for _, ft := range timers {
		if ft.stopped {
			continue
		}
		if ft.d <= d {
			ft.f()
		} else {
			h.timers = append(h.timers, ft)
		}
	}
}

// pump runs what the app's goroutines handed back.
func (h *harness) pump() {
	for {
		h.mu.Lock()
		q := h.queue
		h.queue = nil
		h.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for _, f := range q {
			f()
		}
	}
}

// waitFor runs the app until cond holds. The network and the server work
// at their own pace, so this waits for what must happen (failing only
// after a long while), never for a time.
func (h *harness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		h.pump()
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("gave up waiting for %s; the window shows:\n%s", what, strings.Join(h.texts(), "\n"))
		}
		select {
		case <-h.wake:
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (h *harness) waitForText(s string) {
	h.t.Helper()
	h.waitFor(fmt.Sprintf("%q on screen", s), func() bool { return h.shows(s) })
}

// tick is one beat of the app's clock, after moving time on by d.
func (h *harness) tick(d time.Duration) {
	h.clock.Advance(d)
	h.u.tick()
	h.pump()
}

// --- what a person sees ---

// roots are the window's content and whatever is shown over it.
func (h *harness) roots() []fyne.CanvasObject {
	c := h.u.win.Canvas()
	roots := []fyne.CanvasObject{c.Content()}
	return append(roots, c.Overlays().List()...)
}

// walk visits every visible object under o, with its ancestors.
func walk(o fyne.CanvasObject, parents []fyne.CanvasObject, visit func(o fyne.CanvasObject, parents []fyne.CanvasObject) bool) {
	if o == nil || !o.Visible() {
		return
	}
	if !visit(o, parents) {
		return
	}
	parents = append(parents, o)
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			walk(c, parents, visit)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(x).Objects() {
			walk(c, parents, visit)
		}
	}
}

// textOf is the text a person reads on o, and whether o is a leaf for
// reading (a label's inner pieces are not read again).
func textOf(o fyne.CanvasObject) (string, bool) {
	switch x := o.(type) {
	case *widget.Label:
		return x.Text, true
	case *noMatchLabel:
		return x.Text, true
	case *widget.Button:
		return x.Text, true
	case *widget.Check:
		return x.Text, true
	case *widget.Select:
		return x.Selected, true
	case *widget.Entry:
		return x.Text, true
	case *widget.Hyperlink:
		return x.Text, true
	case *canvas.Text:
		return x.Text, true
	}
	return "", false
}

func (h *harness) texts() []string {
	var out []string
	for _, r := range h.roots() {
		walk(r, nil, func(o fyne.CanvasObject, _ []fyne.CanvasObject) bool {
			if s, leaf := textOf(o); leaf {
				if s != "" {
					out = append(out, s)
				}
				return false
			}
			return true
		})
	}
	return out
}

// shows says whether some text on screen contains s.
func (h *harness) shows(s string) bool {
	for _, t := range h.texts() {
		if strings.Contains(t, s) {
			return true
		}
	}
	return false
}

func (h *harness) mustShow(what ...string) {
	h.t.Helper()
	for _, s := range what {
		if !h.shows(s) {
			h.t.Fatalf("the window does not show %q; it shows:\n%s", s, strings.Join(h.texts(), "\n"))
		}
	}
}

func (h *harness) mustNotShow(what ...string) {
	h.t.Helper()
	for _, s := range what {
		if h.shows(s) {
			h.t.Fatalf("the window shows %q; it shows:\n%s", s, strings.Join(h.texts(), "\n"))
		}
	}
}

// tappable finds what a person taps to hit the text label: a button with
// that text, or the nearest tappable card around a text equal to it. The
// topmost overlay (an open dialog or menu) is searched first.
func (h *harness) tappable(label string) fyne.Tappable {
	h.t.Helper()
	roots := h.roots()
	for i := len(roots) - 1; i >= 0; i-- {
		var found fyne.Tappable
		walk(roots[i], nil, func(o fyne.CanvasObject, parents []fyne.CanvasObject) bool {
			if found != nil {
				return false
			}
			s, leaf := textOf(o)
			if s == label {
				if t, ok := o.(fyne.Tappable); ok {
					found = t
					return false
				}
				for j := len(parents) - 1; j >= 0; j-- {
					if t, ok := parents[j].(fyne.Tappable); ok {
						found = t
						break
					}
				}
			}
			return !leaf
		})
		if found != nil {
			return found
		}
	}
	h.t.Fatalf("nothing to tap labelled %q; the window shows:\n%s", label, strings.Join(h.texts(), "\n"))
	return nil
}

func (h *harness) tap(label string) {
	h.t.Helper()
	test.Tap(h.tappable(label))
	h.pump()
}

// tapIcon taps the n-th button with an icon and no text in the topmost
// root that has any (the ⋯ of an account row, say).
func (h *harness) iconButtons() []*widget.Button {
	var out []*widget.Button
	for _, r := range h.roots() {
		walk(r, nil, func(o fyne.CanvasObject, _ []fyne.CanvasObject) bool {
			if b, ok := o.(*widget.Button); ok {
				if b.Text == "" && b.Icon != nil {
					out = append(out, b)
				}
				return false
			}
			return true
		})
	}
	return out
}

// entries lists the visible entries, the topmost overlay's first.
func (h *harness) entries() []*widget.Entry {
	var out []*widget.Entry
	roots := h.roots()
	for i := len(roots) - 1; i >= 0; i-- {
		walk(roots[i], nil, func(o fyne.CanvasObject, _ []fyne.CanvasObject) bool {
			if e, ok := o.(*widget.Entry); ok {
				out = append(out, e)
				return false
			}
			return true
		})
	}
	return out
}

// selects lists the visible drop-downs.
func (h *harness) selects() []*widget.Select {
	var out []*widget.Select
	for _, r := range h.roots() {
		walk(r, nil, func(o fyne.CanvasObject, _ []fyne.CanvasObject) bool {
			if s, ok := o.(*widget.Select); ok {
				out = append(out, s)
				return false
			}
			return true
		})
	}
	return out
}

// entry finds an entry by its placeholder.
func (h *harness) entry(placeholder string) *widget.Entry {
	h.t.Helper()
	for _, e := range h.entries() {
		if e.PlaceHolder == placeholder {
			return e
		}
	}
	h.t.Fatalf("no entry with placeholder %q", placeholder)
	return nil
}

func (h *harness) typeInto(e *widget.Entry, s string) {
	test.Type(e, s)
	h.pump()
}

// --- the server side ---

func (h *harness) addUser(login string) store.User {
	h.t.Helper()
	u, err := h.srv.AddUser(h.ctx, server.NewUser{Login: login, Password: "correct horse battery", Email: login + "@example.com"})
	if err != nil {
		h.t.Fatal(err)
	}
	return u
}

func (h *harness) link(login string) *enroll.Link {
	h.t.Helper()
	l, err := h.srv.NewEnrollLink(h.ctx, login)
	if err != nil {
		h.t.Fatal(err)
	}
	return l
}

// enrollThroughTheApp pastes an enrollment link into the app and waits
// until the account is listed and its push channel is up.
func (h *harness) enrollThroughTheApp(login string) store.User {
	h.t.Helper()
	u := h.addUser(login)
	h.app.Clipboard().SetContent(h.link(login).String())
	h.tap("Add")
	h.tap("Paste link from clipboard")
	h.waitFor("the enrolled account", func() bool { return len(h.u.accounts) == 1 })
	h.waitForText("connected")
	return u
}

// signIn starts a sign-in as an app would, up to the push; it returns the
// transaction and the number the sign-in page shows.
func (h *harness) signIn(login string) (*sdk.Transaction, int) {
	h.t.Helper()
	c := sdk.New(h.url)
	c.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"
	tx, err := c.Interact(h.ctx, "intranet")
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := tx.Do(h.ctx, sdk.RemIdentify, sdk.Request{Login: login}); err != nil {
		h.t.Fatal(err)
	}
	if _, err := tx.Do(h.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"}); err != nil {
		h.t.Fatal(err)
	}
	r, err := tx.Do(h.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		h.t.Fatal(err)
	}
	if r.Status != sdk.StatusWaiting || r.Number == 0 {
		h.t.Fatalf("after choosing push: %+v", r)
	}
	return tx, r.Number
}

// onlyChallenge is the one challenge the server has for the user.
func (h *harness) onlyChallenge(u store.User) store.Challenge {
	h.t.Helper()
	cs, err := h.st.ListChallenges(h.ctx, store.ChallengeFilter{UserID: u.ID})
	if err != nil {
		h.t.Fatal(err)
	}
	if len(cs) != 1 {
		h.t.Fatalf("want one challenge, the server has %d", len(cs))
	}
	return cs[0]
}

// waitForOutcome waits until the server settled the user's challenge.
func (h *harness) waitForOutcome(u store.User) store.Challenge {
	h.t.Helper()
	var c store.Challenge
	h.waitFor("the server to settle the challenge", func() bool {
		c = h.onlyChallenge(u)
		return c.Status != store.ChallengePending
	})
	return c
}

// promptShown waits for a push prompt.
func (h *harness) promptShown() {
	h.t.Helper()
	h.waitFor("a push prompt", func() bool { return h.u.view == viewPrompt })
}

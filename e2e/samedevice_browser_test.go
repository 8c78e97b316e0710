package e2e

// Same-device sign-in in real Chromium, with the real app core answering on
// loopback (the port range the page asks).

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/store"
)

// pendingPushes lists the challenges sent to a user's devices.
func (e *env) pendingPushes(userID string) []store.Challenge {
	e.t.Helper()
	cs, err := e.st.ListChallenges(e.ctx, store.ChallengeFilter{UserID: userID})
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// listenSameDevice makes d answer same-device requests while the test runs,
// with answer deciding; it returns how many requests reached the person.
func listenSameDevice(t *testing.T, d *core.Core, answer bool) (asked *atomic.Int32, last *atomic.Pointer[core.SameDeviceAsk]) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	asked, last = new(atomic.Int32), new(atomic.Pointer[core.SameDeviceAsk])
	_, err := d.ServeSameDevice(ctx, func(_ context.Context, a core.SameDeviceAsk) (core.SameDeviceDecision, error) {
		asked.Add(1)
		last.Store(&a)
		return core.SameDeviceDecision{Approve: answer}, nil
	})
	if err != nil {
		t.Fatalf("the app cannot listen on loopback: %v", err)
	}
	return asked, last
}

func TestBrowserSignsInWithTheAppOnThisComputer(t *testing.T) {
	e := newEnv(t)
	u, d, _ := e.enrolled("sam")
	asked, last := listenSameDevice(t, d, true)
	b := newBrowser(t, e)
	b.toChoice("sam", "correct horse battery")
	b.do(chromedp.Click(chromedp.ID("choose-samedevice")))
	b.page("account")
	if asked.Load() != 1 {
		t.Fatalf("the app was asked %d times, want once", asked.Load())
	}
	a := last.Load()
	if a.Origin != e.url || a.Account.Name != "sam" || a.OrgName() != "Example Org" {
		t.Fatalf("the app was asked %+v", a)
	}
	if types := e.auditTypes(u.ID); !slices.Contains(types, "samedevice.ok") {
		t.Fatalf("audit %v: no samedevice.ok", types)
	}
	if n := len(e.pendingPushes(u.ID)); n != 0 {
		t.Fatalf("%d pushes were sent as well", n)
	}
}

func TestBrowserFallsBackToAPushWhenNoAppAnswers(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("sam")
	b := newBrowser(t, e)
	// The baseline: a push chosen directly, in the same browser.
	b.toChoice("sam", "correct horse battery")
	start := time.Now()
	b.do(chromedp.Click(chromedp.ID("choose-push")))
	n := b.pushNumber()
	direct := time.Since(start)
	b.approve(d, n)
	b.page("account")
	b.open("/signout")
	b.page("signout")
	b.click("signout")
	// No app on this computer: the page sends the push by itself.
	b.toChoice("sam", "correct horse battery")
	start = time.Now()
	b.do(chromedp.Click(chromedp.ID("choose-samedevice")))
	n = b.pushNumber()
	fallback := time.Since(start)
	t.Logf("from the click to the push page: %v through the same-device page, %v directly (%.1f×)",
		fallback, direct, float64(fallback)/float64(direct))
	b.approve(d, n)
	b.page("account")
}

func TestBrowserDeclinedInTheAppSendsNoPush(t *testing.T) {
	e := newEnv(t)
	u, d, _ := e.enrolled("sam")
	asked, _ := listenSameDevice(t, d, false)
	b := newBrowser(t, e)
	b.toChoice("sam", "correct horse battery")
	b.do(chromedp.Click(chromedp.ID("choose-samedevice")))
	b.page("samedevice")
	b.do(chromedp.WaitVisible(chromedp.CSS(`#samedevice-status[data-outcome="declined"]`)))
	if !strings.Contains(b.text("#samedevice-status"), "declined") || asked.Load() != 1 {
		t.Fatalf("status %q after %d asks", b.text("#samedevice-status"), asked.Load())
	}
	if n := len(e.pendingPushes(u.ID)); n != 0 {
		t.Fatalf("%d pushes were sent after the person declined", n)
	}
}

// A page of another origin (a phishing site that relays the real sign-in)
// hands the real server's challenge to the app: the app answers nothing,
// and never asks the person.
func TestBrowserPageOfAnotherOriginGetsNothingFromTheApp(t *testing.T) {
	e := newEnv(t)
	e.addUser("sam", "correct horse battery")
	d := e.device("sam-laptop")
	if _, err := d.Enroll(e.ctx, e.link("sam")); err != nil {
		t.Fatal(err)
	}
	asked, _ := listenSameDevice(t, d, true)
	// The challenge as the relay would have it, from the real server.
	tx := e.signIn("sam", "correct horse battery")
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthSameDevice})
	if err != nil {
		t.Fatal(err)
	}
	var ports []string
	for p := push.SameDeviceFirstPort; p <= push.SameDeviceLastPort; p++ {
		ports = append(ports, fmt.Sprint(p))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	page := `<!doctype html><html><head><title>relay</title></head><body><p id="result">asking</p><script>
var ports = [` + strings.Join(ports, ",") + `], got = [], left = ports.length;
ports.forEach(function (p) {
  fetch('http://127.0.0.1:' + p + '/v1/samedevice', {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({challenge: '` + html.EscapeString(r.SameDevice) + `'})})
    .then(function (r) { return r.text().then(function (t) { got.push(p + ':' + r.status + ':' + t); }); })
    .catch(function () {})
    .then(function () { if (--left === 0) { document.getElementById('result').textContent = 'done [' + got.join(' ') + ']'; } });
});
</script></body></html>`
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	b := newBrowser(t, e)
	b.do(chromedp.Navigate("http://" + ln.Addr().String() + "/"))
	b.do(chromedp.Poll[chromedp.Void](`document.getElementById('result').textContent.startsWith('done')`, chromedp.WithPollingTimeout(30*time.Second)))
	// The relay page is not ours: the browser's CORS refusals it logs are
	// what this test wants to see, not problems of the hosted pages.
	b.mu.Lock()
	refusals := len(b.problems)
	b.problems = nil
	b.mu.Unlock()
	t.Logf("the browser refused %d answers to the page of another origin", refusals)
	if got := b.text("#result"); got != "done []" {
		t.Fatalf("the page of another origin read %q from the app", got)
	}
	if asked.Load() != 0 {
		t.Fatalf("the app asked the person %d times for a page of another origin", asked.Load())
	}
}

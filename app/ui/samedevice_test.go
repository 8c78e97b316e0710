package ui

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/testidp"
	"github.com/seed-3a5b824e/assent/push"
)

// idp is the fake identity server of internal/testidp, with what the UI
// tests do with it.
type idp struct {
	*testidp.IDP
	t      *testing.T
	url    string
	origin string
}

func newIDP(t *testing.T) *idp {
	t.Helper()
	s := testidp.New(t)
	return &idp{IDP: s, t: t, url: s.URL, origin: s.Origin}
}

// enroll enrolls the app's home with the server, as alice.
func (s *idp) enroll(h *harness) core.Account {
	s.t.Helper()
	a, err := h.core.Enroll(h.ctx, s.Link(s.t))
	if err != nil {
		s.t.Fatal(err)
	}
	h.tick(0)
	return a
}

// challenge signs a same-device challenge for alice, as a sign-in page
// would get it.
func (s *idp) challenge(h *harness, uv string, life time.Duration) push.SameDeviceClaims {
	return s.Claims(h.clock.Now().Add(h.skew), uv, life)
}

type pageResult struct {
	status int
	answer push.SameDeviceAnswer
}

// ask posts a challenge to the app as the sign-in page in a browser does;
// the answer arrives on the channel.
func (s *idp) ask(h *harness, cl push.SameDeviceClaims) <-chan pageResult {
	s.t.Helper()
	jws := s.Sign(s.t, cl)
	addr := h.u.SameDeviceAddr()
	if addr == "" {
		s.t.Fatal("the app serves no same-device requests")
	}
	out := make(chan pageResult, 1)
	go func() {
		body, _ := json.Marshal(push.SameDeviceRequest{Challenge: jws})
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+push.PathSameDevice, strings.NewReader(string(body)))
		req.Header.Set("Origin", s.origin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			out <- pageResult{status: -1, answer: push.SameDeviceAnswer{Message: err.Error()}}
			return
		}
		defer resp.Body.Close()
		var a push.SameDeviceAnswer
		json.NewDecoder(resp.Body).Decode(&a)
		out <- pageResult{status: resp.StatusCode, answer: a}
	}()
	return out
}

// result waits for the page's answer, running the app meanwhile.
func (h *harness) pageResult(ch <-chan pageResult) pageResult {
	h.t.Helper()
	var r pageResult
	got := false
	h.waitFor("the page's answer", func() bool {
		select {
		case r = <-ch:
			got = true
		default:
		}
		return got
	})
	return r
}

// proof checks the proof with the enrolled device's key.
func (s *idp) proof(a core.Account, r pageResult) push.SameDeviceProofClaims {
	s.t.Helper()
	if r.status != http.StatusOK || r.answer.Proof == "" {
		s.t.Fatalf("the page got %d %+v, want a proof", r.status, r.answer)
	}
	pub := s.Device(a.EnrollmentID)
	var p push.SameDeviceProofClaims
	if err := crypto.VerifyJWS(r.answer.Proof, pub, push.TypSameDeviceProof, &p); err != nil {
		s.t.Fatalf("the proof does not verify with the device key: %v", err)
	}
	return p
}

func (h *harness) sameDeviceShown() {
	h.t.Helper()
	h.waitFor("the same-device prompt", func() bool { return h.u.view == viewSameDevice })
}

func TestSameDevicePromptSignsTheBrowserIn(t *testing.T) {
	h := newHarness(t)
	s := newIDP(t)
	a := s.enroll(h)
	cl := s.challenge(h, push.UVNone, 2*time.Minute)
	page := s.ask(h, cl)

	test.AssertNotificationSent(t, &fyne.Notification{Title: "Sign-in in your browser", Content: "Sign in to Example Org as alice in this browser?"}, h.sameDeviceShown)
	h.mustShow("SIGN-IN ON THIS COMPUTER", "Sign in to Example Org as alice in this browser?", "intranet", s.origin, "Example Org (alice)", "Expires in 2:00", "Sign in", "Deny")
	h.mustNotShow("app lock")
	if h.u.win.Title() != "Assent — sign in?" {
		t.Fatalf("window title %q", h.u.win.Title())
	}
	h.tick(30 * time.Second)
	h.mustShow("Expires in 1:30")

	h.tap("Sign in")
	p := s.proof(a, h.pageResult(page))
	if p.Issuer != a.EnrollmentID || p.Audience != s.url || p.ID != cl.ID || p.Origin != s.origin || p.UV {
		t.Fatalf("proof %+v", p)
	}
	if h.u.view != viewAccounts {
		t.Fatalf("after signing in the window shows %s", h.u.view)
	}
	h.mustShow("Confirmed. Carry on in your browser.")
}

func TestSameDevicePromptDenied(t *testing.T) {
	h := newHarness(t)
	s := newIDP(t)
	s.enroll(h)
	page := s.ask(h, s.challenge(h, push.UVNone, time.Minute))
	h.sameDeviceShown()
	h.tap("Deny")
	if r := h.pageResult(page); r.status != http.StatusForbidden || r.answer.Error != push.SameDeviceDeclined {
		t.Fatalf("the page got %d %+v, want declined", r.status, r.answer)
	}
	h.mustShow("Denied. The browser was not signed in.")
}

func TestSameDevicePromptGoesAwayWhenItExpires(t *testing.T) {
	h := newHarness(t)
	s := newIDP(t)
	s.enroll(h)
	page := s.ask(h, s.challenge(h, push.UVNone, 2*time.Second))
	h.sameDeviceShown()
	if r := h.pageResult(page); r.status != http.StatusRequestTimeout || r.answer.Error != push.SameDeviceTimeout {
		t.Fatalf("the page got %d %+v, want timeout", r.status, r.answer)
	}
	h.waitFor("the prompt to go", func() bool { return h.u.view == viewAccounts })
	h.mustShow("expired before it was answered")
}

func TestSameDeviceRequiringVerificationOffersAnAppLockThenAsksForIt(t *testing.T) {
	h := newHarness(t)
	s := newIDP(t)
	a := s.enroll(h)
	cl := s.challenge(h, push.UVRequired, 2*time.Minute)
	page := s.ask(h, cl)
	h.sameDeviceShown()
	h.mustShow("needs an app lock", "Set an app lock…")

	// Signing in without a lock says why not, and offers to set one.
	h.tap("Sign in")
	h.mustShow("App lock needed", "Set PIN…")
	h.tap("Set PIN…")
	es := h.entries()
	es[0].SetText("2468")
	es[1].SetText("2468")
	h.tap("Save")
	if h.core.LockKind() != core.LockPIN {
		t.Fatal("the PIN was not set")
	}
	h.tick(0)
	h.mustShow("You will be asked for your PIN to sign in.")
	h.mustNotShow("Set an app lock…")

	// A wrong PIN does not sign in.
	h.tap("Sign in")
	h.mustShow("Verify it's you", "Enter your PIN to sign in.")
	h.typeInto(h.entries()[0], "1111")
	h.tap("Sign in")
	h.waitForText("Wrong PIN")
	select {
	case r := <-page:
		t.Fatalf("a wrong PIN answered the page: %+v", r)
	default:
	}
	h.tap("OK")
	h.tap("Sign in")
	h.typeInto(h.entries()[0], "2468")
	h.tap("Sign in")
	p := s.proof(a, h.pageResult(page))
	if !p.UV || p.ID != cl.ID {
		t.Fatalf("proof %+v, want the person verified", p)
	}
}

func TestSameDeviceOnALockedAppAsksForTheLock(t *testing.T) {
	h := newHarness(t)
	s := newIDP(t)
	a := s.enroll(h)
	if err := h.core.SetLock(core.LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	h.u.guard.Lock()
	h.u.render()
	h.mustShow("Assent is locked")
	// preferred, and a lock is set: the lock is asked.
	page := s.ask(h, s.challenge(h, push.UVPreferred, time.Minute))
	h.sameDeviceShown()
	h.mustShow("Sign in to Example Org as alice in this browser?")
	h.tap("Sign in")
	h.typeInto(h.entries()[0], "2468")
	h.tap("Sign in")
	if p := s.proof(a, h.pageResult(page)); !p.UV {
		t.Fatalf("proof %+v, want uv", p)
	}
	// The app is still locked once the request is gone.
	h.waitForText("Assent is locked")
}

package e2e

// A relying party nobody here wrote: oauth2-proxy v7, built from the Go
// module proxy (never vendored, never committed), runs on loopback in front
// of a small upstream with Assent as its OpenID Connect provider, set up as
// docs/integrations/oauth2-proxy.md says. Chromium goes through the hosted
// sign-in pages (with and without JavaScript), a real device approves the
// push, and the upstream must see the signed-in user's email, ID, login and
// groups; then single sign-on, the sign-on rule's refusal of someone outside
// the group, and signing out of oauth2-proxy and Assent together.
//
// The binary is built once per machine and kept under the user's cache
// folder (os.UserCacheDir()/assent/e2e); ASSENT_OAUTH2_PROXY names a binary
// to use instead.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/oidc"
	"github.com/seed-3a5b824e/assent/server/store"
)

const (
	oauth2ProxyModule  = "github.com/oauth2-proxy/oauth2-proxy/v7"
	oauth2ProxyVersion = "v7.15.6"
)

var oauth2ProxyBuild struct {
	once sync.Once
	path string
	err  error
}

// oauth2ProxyBinary is the path of an oauth2-proxy of the pinned version:
// ASSENT_OAUTH2_PROXY when set, else the one built earlier on this machine,
// else one built now with `go install` from the module proxy.
func oauth2ProxyBinary(t *testing.T) string {
	t.Helper()
	oauth2ProxyBuild.once.Do(func() {
		oauth2ProxyBuild.path, oauth2ProxyBuild.err = findOrBuildOAuth2Proxy()
	})
	if oauth2ProxyBuild.err != nil {
		t.Fatalf("this test needs oauth2-proxy %s as a relying party nobody here wrote, and has none: %v", oauth2ProxyVersion, oauth2ProxyBuild.err)
	}
	return oauth2ProxyBuild.path
}

func findOrBuildOAuth2Proxy() (string, error) {
	goTool, goErr := exec.LookPath("go")
	if p := os.Getenv("ASSENT_OAUTH2_PROXY"); p != "" {
		if goErr == nil {
			if err := checkOAuth2ProxyBinary(goTool, p); err != nil {
				return "", fmt.Errorf("ASSENT_OAUTH2_PROXY=%s: %v; unset it to have the test build %s@%s itself", p, err, oauth2ProxyModule, oauth2ProxyVersion)
			}
		}
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no user cache folder to keep the build in (%v): set HOME or XDG_CACHE_HOME, or point ASSENT_OAUTH2_PROXY at an oauth2-proxy %s binary", err, oauth2ProxyVersion)
	}
	dir := filepath.Join(cache, "assent", "e2e", "oauth2-proxy-"+oauth2ProxyVersion+"-"+runtime.GOOS+"-"+runtime.GOARCH)
	bin := filepath.Join(dir, "oauth2-proxy")
	if goErr != nil {
		if _, err := os.Stat(bin); err == nil {
			return bin, nil
		}
		return "", fmt.Errorf("the go command is not on PATH (%v), so %s@%s cannot be built: put Go's bin folder on PATH, or point ASSENT_OAUTH2_PROXY at an oauth2-proxy %s binary", goErr, oauth2ProxyModule, oauth2ProxyVersion, oauth2ProxyVersion)
	}
	if _, err := os.Stat(bin); err == nil {
		if checkOAuth2ProxyBinary(goTool, bin) == nil {
			return bin, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("make the build cache folder: %v", err)
	}
	stage, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", fmt.Errorf("make a build folder: %v", err)
	}
	defer os.RemoveAll(stage)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool, "install", oauth2ProxyModule+"@"+oauth2ProxyVersion)
	// Outside this module and any workspace, with none of this module's
	// -mod flags: `go install pkg@version` builds the module as its own
	// go.mod pins it, and writes nothing to this repository.
	cmd.Dir = stage
	cmd.Env = append(os.Environ(), "GOBIN="+stage, "GOFLAGS=", "GOWORK=off", "CGO_ENABLED=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		proxy, _ := exec.Command(goTool, "env", "GOPROXY").Output()
		return "", fmt.Errorf("`go install %s@%s` failed: %v\n%s\n"+
			"It fetches the module from the Go module proxy (GOPROXY=%s): make that proxy reachable from this machine "+
			"(or set GOPROXY to one that serves it) and run the test again; the binary is then kept in %s and built once per machine. "+
			"Or build it elsewhere with that command and point ASSENT_OAUTH2_PROXY at the binary",
			oauth2ProxyModule, oauth2ProxyVersion, err, bytes.TrimSpace(out), strings.TrimSpace(string(proxy)), dir)
	}
	if err := os.Rename(filepath.Join(stage, "oauth2-proxy"), bin); err != nil {
		return "", fmt.Errorf("keep the built oauth2-proxy in %s: %v", dir, err)
	}
	if err := checkOAuth2ProxyBinary(goTool, bin); err != nil {
		return "", fmt.Errorf("the oauth2-proxy just built: %v", err)
	}
	return bin, nil
}

// checkOAuth2ProxyBinary reads a binary's build information (`go version
// -m`) and wants the pinned module version as its main module.
func checkOAuth2ProxyBinary(goTool, path string) error {
	out, err := exec.Command(goTool, "version", "-m", path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("not a Go binary whose build information can be read: %v: %s", err, bytes.TrimSpace(out))
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "mod" && f[1] == oauth2ProxyModule {
			if f[2] != oauth2ProxyVersion {
				return fmt.Errorf("it is %s %s, want %s", f[1], f[2], oauth2ProxyVersion)
			}
			return nil
		}
	}
	return fmt.Errorf("it is not a build of %s", oauth2ProxyModule)
}

// syncBuffer collects a process's output for failure messages.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// oauth2Proxy is a running oauth2-proxy.
type oauth2Proxy struct {
	url string
	log *syncBuffer
}

// startOAuth2Proxy runs oauth2-proxy on a loopback port in front of
// upstream, with Assent (issuer) as its OpenID Connect provider and the
// client registered as clientID and secret. It listens on ln, made by the
// caller (the redirect URI names its port) and handed over as fd 3
// (systemd socket activation: --http-address=fd:3), so no port is ever
// free for another process to take in between.
func startOAuth2Proxy(t *testing.T, ln net.Listener, issuer, clientID, secret, upstream string, extra ...string) *oauth2Proxy {
	t.Helper()
	f, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bin := oauth2ProxyBinary(t)
	p := &oauth2Proxy{url: "http://" + ln.Addr().String(), log: new(syncBuffer)}
	// The secrets go in files, as the guide has them: no trailing newline.
	cookieSecret := make([]byte, 16)
	rand.Read(cookieSecret)
	dir := t.TempDir()
	secretFile, cookieFile := filepath.Join(dir, "client-secret"), filepath.Join(dir, "cookie-secret")
	if err := os.WriteFile(secretFile, []byte(secret), 0o600); err != nil {
		t.Fatal(err)
	}
	// 32 characters: an AES-256 key as it stands.
	if err := os.WriteFile(cookieFile, []byte(hex.EncodeToString(cookieSecret)), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{
		"--http-address=fd:3",
		"--provider=oidc",
		"--provider-display-name=Assent",
		"--oidc-issuer-url=" + issuer,
		"--client-id=" + clientID,
		"--client-secret-file=" + secretFile,
		"--code-challenge-method=S256",
		"--redirect-url=" + p.url + "/oauth2/callback",
		"--cookie-secret-file=" + cookieFile,
		// Plain HTTP on loopback: a Secure cookie would never come back.
		"--cookie-secure=false",
		"--email-domain=*",
		"--upstream=" + upstream,
		"--skip-provider-button",
		// X-Forwarded-User, -Email, -Groups to the upstream.
		"--pass-user-headers=true",
	}
	args = append(args, extra...)
	// LISTEN_PID must be oauth2-proxy's own pid: the shell sets it to its
	// own and then becomes oauth2-proxy.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`, bin}, args...)...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start oauth2-proxy (%s): %v", bin, err)
	}
	// oauth2-proxy holds the only copy of the socket now: should it exit,
	// connections waiting on it are refused rather than left hanging.
	f.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("oauth2-proxy's log:\n%s", p.log.String())
		}
	})
	// The socket listens from the start, so this ping waits in its backlog
	// until oauth2-proxy has read the issuer's discovery document and
	// serves: no polling, no timer.
	client := &http.Client{Timeout: stepTimeout}
	resp, err := client.Get(p.url + "/ping")
	if err != nil {
		t.Fatalf("oauth2-proxy does not answer its ping (%v); its log follows", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("oauth2-proxy's ping answers %s; its log follows", resp.Status)
	}
	return p
}

// echoUpstream is the app behind the proxy: a page that shows the identity
// headers oauth2-proxy passed, and keeps the last ones it saw.
type echoUpstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen http.Header
	n    int
}

func newEchoUpstream(t *testing.T) *echoUpstream {
	u := &echoUpstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = r.Header.Clone()
		u.n++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="en"><title>upstream</title><main data-page="upstream">`+
			`<p id="email">%s</p><p id="user">%s</p><p id="groups">%s</p><p id="path">%s</p></main></html>`,
			html.EscapeString(r.Header.Get("X-Forwarded-Email")), html.EscapeString(r.Header.Get("X-Forwarded-User")),
			html.EscapeString(strings.Join(r.Header.Values("X-Forwarded-Groups"), ",")), html.EscapeString(r.URL.Path))
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *echoUpstream) requests() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.n
}

func (u *echoUpstream) header(name string) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.seen.Get(name)
}

// openAt sends the browser to an absolute URL.
func (b *browser) openAt(addr string) { b.t.Helper(); b.do(chromedp.Navigate(addr)) }

// proxyPolicy lets only the group staff through to the proxied app, with
// password and push (number matching on), as the guides recommend.
const proxyPolicy = `
signOn:
  - name: Staff may use the proxied app
    conditions: {apps: [proxy], groups: [staff]}
    action: {factors: 2, numberChallenge: always, reauthenticate: 12h}
  - name: Nobody else may
    conditions: {apps: [proxy]}
    action: deny
  - name: Default
    action: {factors: 2, numberChallenge: always}
`

// proxySetup is assentd with the OpenID Connect provider attached, a
// confidential client "proxy" registered for oauth2-proxy, oauth2-proxy
// running in front of an echo upstream, and a staff member with a device.
type proxySetup struct {
	e        *env
	upstream *echoUpstream
	proxy    *oauth2Proxy
	user     store.User
	device   *core.Core
}

func newProxySetup(t *testing.T) *proxySetup {
	t.Helper()
	oauth2ProxyBinary(t) // first: a missing binary says so before anything starts
	e, _ := newOIDCEnv(t, oidc.Options{}, withPolicy(t, proxyPolicy))
	// The redirect URI is oauth2-proxy's, so its port must be known first:
	// the proxy's socket is made before the client is registered.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	proxyURL := "http://" + ln.Addr().String()
	app, secret, err := e.srv.AddAppOfKind(e.ctx, "proxy", store.AppOIDC, map[string][]string{
		oidc.SettingRedirectURI:   {proxyURL + "/oauth2/callback"},
		oidc.SettingPostLogoutURI: {proxyURL + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if secret == "" || !strings.HasPrefix(app.ID, "app_") {
		t.Fatalf("a confidential client was registered as %q with secret %q", app.ID, secret)
	}
	s := &proxySetup{e: e, upstream: newEchoUpstream(t)}
	s.proxy = startOAuth2Proxy(t, ln, e.url, app.ID, secret, s.upstream.URL,
		"--scope=openid email profile groups",
		// Assent says email_verified only for an address a sign-in proved
		// (an email link); this one was typed in by the administrator.
		"--insecure-oidc-allow-unverified-email",
		// Its sign-out may send the browser on to Assent's end_session.
		"--whitelist-domain="+strings.TrimPrefix(e.url, "http://"))
	s.user, err = e.srv.AddUser(e.ctx, server.NewUser{Login: "ana", Password: "correct horse battery", Email: "ana@example.com", Groups: []string{"staff", "ops"}})
	if err != nil {
		t.Fatal(err)
	}
	s.device = e.device("ana-phone")
	if _, err := s.device.Enroll(e.ctx, e.link("ana")); err != nil {
		t.Fatal(err)
	}
	return s
}

// signInThroughProxy opens the proxied app, which sends the browser to
// Assent's sign-in pages; it signs in with the password and chooses a
// push, and returns the number the page shows.
func (s *proxySetup) signInThroughProxy(b *browser, login string) int {
	b.t.Helper()
	b.openAt(s.proxy.url + "/reports/q3")
	b.page("signin")
	if !strings.Contains(b.text("main"), "proxy") {
		b.t.Fatalf("the sign-in page does not name the app: %q", b.text("main"))
	}
	b.fill("login", login)
	b.click("next")
	b.page("password")
	b.fill("passcode", "correct horse battery")
	b.click("verify")
	b.page("select")
	b.click("choose-push")
	n := b.pushNumber()
	if n < 10 || n > 99 {
		b.t.Fatalf("the push page shows %d, want a two-digit number", n)
	}
	return n
}

func (s *proxySetup) checkUpstreamSaw(b *browser) {
	b.t.Helper()
	b.page("upstream")
	if got := b.text("#email"); got != "ana@example.com" {
		b.t.Fatalf("the upstream saw X-Forwarded-Email %q, want ana@example.com (page %s)", got, b.where())
	}
	if got := s.upstream.header("X-Forwarded-Email"); got != "ana@example.com" {
		b.t.Fatalf("the upstream's last request had X-Forwarded-Email %q", got)
	}
	if got := s.upstream.header("X-Forwarded-Preferred-Username"); got != "ana" {
		b.t.Fatalf("the upstream's last request had X-Forwarded-Preferred-Username %q, want the login", got)
	}
	// oauth2-proxy's user is the ID token's subject: Assent's user ID.
	if got := b.text("#user"); got != s.user.ID {
		b.t.Fatalf("the upstream saw X-Forwarded-User %q, want the user's ID %s", got, s.user.ID)
	}
	if got := b.text("#groups"); got != "staff,ops" {
		b.t.Fatalf("the upstream saw X-Forwarded-Groups %q, want staff and ops (the groups scope)", got)
	}
	// Back where the person was going.
	if got := b.text("#path"); got != "/reports/q3" {
		b.t.Fatalf("the upstream served %q, want the path first asked for", got)
	}
}

func TestOIDCProxySignsInThroughHostedPagesWithAPush(t *testing.T) {
	s := newProxySetup(t)
	e := s.e
	b := newBrowser(t, e)

	n := s.signInThroughProxy(b, "ana")
	if got := s.upstream.requests(); got != 0 {
		t.Fatalf("the upstream was reached %d times before anyone signed in", got)
	}
	b.approve(s.device, n)
	// The push page's script sees the approval; the browser goes back
	// through the provider to oauth2-proxy's callback, which redeems the
	// code at the token endpoint, and on to the upstream.
	s.checkUpstreamSaw(b)

	// The session cookie oauth2-proxy set serves the next request with no
	// new sign-in (and no push).
	b.openAt(s.proxy.url + "/reports/q3")
	s.checkUpstreamSaw(b)
	if ps, err := s.device.Challenges(e.ctx); err != nil || len(ps) != 0 {
		t.Fatalf("after the sign-in the device has prompts %v (%v)", ps, err)
	}
	types := e.auditTypes(s.user.ID)
	for _, want := range []string{"push.approved", "signin.success", "oidc.signed_in"} {
		if !slices.Contains(types, want) {
			t.Fatalf("the audit log of ana has %v, want %s among them", types, want)
		}
	}

	// oauth2-proxy's sign-out alone ends its own session only: the next
	// visit goes through Assent again, where the browser's session meets
	// the rule (within reauthenticate), so it comes back signed in with
	// no prompt and no push.
	b.openAt(s.proxy.url + "/oauth2/sign_out")
	b.openAt(s.proxy.url + "/reports/q3")
	s.checkUpstreamSaw(b)
	if ps, err := s.device.Challenges(e.ctx); err != nil || len(ps) != 0 {
		t.Fatalf("single sign-on sent the device prompts %v (%v)", ps, err)
	}

	// Signing out as the oauth2-proxy guide says: oauth2-proxy's sign-out
	// clears its cookie and sends the browser to Assent's end_session with
	// its ID token as the hint, which signs the browser out of Assent at
	// once (no confirmation: the hint names the signed-in person) and
	// returns to the registered post-logout URI. From there the next visit
	// needs a whole new sign-in: the sign-in page, not the upstream.
	if b.cookie("assent-session") == nil {
		t.Fatal("no Assent session in the browser after signing in")
	}
	endSession := e.url + "/oidc/end_session?id_token_hint={id_token}&post_logout_redirect_uri=" + url.QueryEscape(s.proxy.url+"/")
	b.openAt(s.proxy.url + "/oauth2/sign_out?rd=" + url.QueryEscape(endSession))
	b.page("signin")
	if c := b.cookie("assent-session"); c != nil {
		t.Fatalf("after signing out the browser still holds an Assent session cookie %+v", c)
	}
	if types := e.auditTypes(s.user.ID); !slices.Contains(types, "oidc.logout") {
		t.Fatalf("the audit log of ana has %v, want oidc.logout among them", types)
	}

	// Someone outside the group is stopped on Assent's pages by the
	// app's sign-on rule, before any push, and never reaches the upstream.
	if _, err := e.srv.AddUser(e.ctx, server.NewUser{Login: "bo", Password: "correct horse battery", Email: "bo@example.com"}); err != nil {
		t.Fatal(err)
	}
	before := s.upstream.requests()
	b2 := newBrowser(t, e)
	b2.openAt(s.proxy.url + "/")
	b2.page("signin")
	b2.fill("login", "bo")
	b2.click("next")
	b2.page("password")
	b2.fill("passcode", "correct horse battery")
	b2.click("verify")
	b2.page("ended")
	if msg := b2.errorText(); !strings.Contains(msg, "Nobody else may") {
		t.Fatalf("the refusal says %q, want the rule named", msg)
	}
	if got := s.upstream.requests(); got != before {
		t.Fatalf("the upstream was reached by someone the rule refused")
	}
}

func TestOIDCProxySignInWithoutJavaScript(t *testing.T) {
	s := newProxySetup(t)
	b := newBrowser(t, s.e)
	b.do(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
		return err
	}))
	n := s.signInThroughProxy(b, "ana")
	b.approve(s.device, n)
	// "Check now" posts the waiting page's form; the answer redirects
	// through the provider to oauth2-proxy on another origin.
	b.click("check")
	s.checkUpstreamSaw(b)
}

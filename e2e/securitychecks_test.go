package e2e

// One test per security check that nothing else would miss if it broke:
// each sends what the check is there to refuse, insists on the refusal
// (status and code), and then shows that the refused request changed
// nothing. Every test here was run once against a server with its check
// taken out and failed there (see the notes of issue 13).

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	assentoidc "github.com/seed-3a5b824e/assent/server/oidc"
	"github.com/seed-3a5b824e/assent/server/store"
)

// pendingPush sends login's device a push and returns the device's view of
// it (verified with the server key, as the app does) and the number the
// sign-in page shows.
func pendingPush(t *testing.T, e *env, login string, cl *push.Client) (*push.Challenge, int) {
	t.Helper()
	_, number := e.startPush(login)
	e.srv.WaitBackground()
	chs, _, err := cl.Poll(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(chs) != 1 {
		t.Fatalf("want 1 pending challenge, got %d", len(chs))
	}
	return chs[0], number
}

// signedResponse is a response to ch signed by the device, with edit
// applied to the claims the app would send.
func signedResponse(t *testing.T, cl *push.Client, ch *push.Challenge, number int, edit func(*push.ResponseClaims)) string {
	t.Helper()
	rc := push.ResponseClaims{Issuer: cl.EnrollmentID, Audience: cl.Server, ID: ch.ID, Nonce: ch.Nonce,
		IAT: cl.Now().Unix(), Consent: push.ConsentApproved, Number: number}
	if edit != nil {
		edit(&rc)
	}
	tok, err := crypto.SignJWS(cl.Key, push.TypResponse, rc, crypto.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wantAPIError insists on a refusal with this status and code.
func wantAPIError(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var ae *push.APIError
	if !errors.As(err, &ae) || ae.Status != status || ae.Code != code {
		t.Fatalf("%s = %v, want %d %s", what, err, status, code)
	}
}

func stillPending(t *testing.T, e *env, id, after string) {
	t.Helper()
	if c := e.challenge(id); c.Status != store.ChallengePending {
		t.Fatalf("after %s the challenge is %s (%s), want it still pending", after, c.Status, c.Reason)
	}
}

// deviceClient is login's enrolled device as the protocol client.
func deviceClient(t *testing.T, e *env, login string) *push.Client {
	t.Helper()
	_, d, a := e.enrolled(login)
	cl, err := d.Client(a)
	if err != nil {
		t.Fatal(err)
	}
	cl.Now = e.clock.Now
	return cl
}

func TestSecurityResponseWithAnotherNonceIsRefused(t *testing.T) {
	e := newEnv(t)
	cl := deviceClient(t, e, "nora")
	ch, number := pendingPush(t, e, "nora", cl)
	for name, nonce := range map[string]string{
		"another nonce": crypto.RandomToken(16),
		"no nonce":      "",
		"a prefix":      ch.Nonce[:len(ch.Nonce)-1],
	} {
		tok := signedResponse(t, cl, ch, number, func(rc *push.ResponseClaims) { rc.Nonce = nonce })
		_, err := postResponse(e, ch.ID, tok)
		wantAPIError(t, "a response with "+name, err, http.StatusBadRequest, "bad_nonce")
		stillPending(t, e, ch.ID, "a response with "+name)
	}
	// Over the push socket the same.
	ws := dialClient(t, e, cl)
	expectType(t, ws, push.MsgWelcome)
	tok := signedResponse(t, cl, ch, number, func(rc *push.ResponseClaims) { rc.Nonce = crypto.RandomToken(16) })
	if err := ws.WriteJSON(push.Message{Type: push.MsgResponse, JWS: tok}); err != nil {
		t.Fatal(err)
	}
	for {
		m := readMsg(t, ws)
		if m.Type == push.MsgChallenge {
			continue // the pending push, sent on connect
		}
		if m.Type != push.MsgError || m.Error != "bad_nonce" {
			t.Fatalf("over the socket, a response with another nonce got %+v, want an error bad_nonce", m)
		}
		break
	}
	stillPending(t, e, ch.ID, "a response with another nonce over the socket")
	// The right nonce still works: the refusals used nothing up.
	if out, err := postResponse(e, ch.ID, signedResponse(t, cl, ch, number, nil)); err != nil || out != push.OutcomeApproved {
		t.Fatalf("the right response = %q, %v; want approved", out, err)
	}
}

func TestSecurityResponseForAnotherServerIsRefused(t *testing.T) {
	e := newEnv(t)
	cl := deviceClient(t, e, "otto")
	ch, number := pendingPush(t, e, "otto", cl)
	for _, aud := range []string{"https://evil.example", otherServer(e), ""} {
		tok := signedResponse(t, cl, ch, number, func(rc *push.ResponseClaims) { rc.Audience = aud })
		_, err := postResponse(e, ch.ID, tok)
		wantAPIError(t, "a response for "+strconvQuote(aud), err, http.StatusBadRequest, "wrong_audience")
		stillPending(t, e, ch.ID, "a response for "+strconvQuote(aud))
	}
	if out, err := postResponse(e, ch.ID, signedResponse(t, cl, ch, number, nil)); err != nil || out != push.OutcomeApproved {
		t.Fatalf("the right response = %q, %v; want approved", out, err)
	}
}

func TestSecurityResponsePostedUnderAnotherChallengesPathIsRefused(t *testing.T) {
	e := newEnv(t)
	cl := deviceClient(t, e, "pia")
	ch, number := pendingPush(t, e, "pia", cl)
	tok := signedResponse(t, cl, ch, number, nil)
	// Another challenge of the same device, answered later: the path
	// must name the challenge the signed response names.
	_, err := postResponse(e, "chl_"+crypto.RandomToken(16), tok)
	wantAPIError(t, "a response under another challenge's path", err, http.StatusBadRequest, "bad_request")
	stillPending(t, e, ch.ID, "a response under another challenge's path")
	_, err = postResponse(e, strings.ToUpper(ch.ID), tok)
	wantAPIError(t, "a response under the id in capitals", err, http.StatusBadRequest, "bad_request")
	stillPending(t, e, ch.ID, "a response under the id in capitals")
	if out, err := postResponse(e, ch.ID, tok); err != nil || out != push.OutcomeApproved {
		t.Fatalf("the response under its own path = %q, %v; want approved", out, err)
	}
}

// deviceToken is a device token signed by cl's key for aud.
func deviceTokenFor(t *testing.T, e *env, cl *push.Client, aud string) string {
	t.Helper()
	tok, err := crypto.SignJWS(cl.Key, push.TypDevice, push.DeviceClaims{
		Issuer: cl.EnrollmentID, Audience: aud, IAT: e.clock.Now().Unix(), JTI: crypto.RandomToken(16),
	}, crypto.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// deviceRequest makes an HTTP request with a device token and returns the
// status and the error code.
func deviceRequest(t *testing.T, e *env, method, path, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, e.url+path, nil)
	req.Header.Set("Authorization", push.AuthScheme+" "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error string `json:"error"`
	}
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &body)
	return resp.StatusCode, body.Error
}

func TestSecurityDeviceTokenForAnotherServerIsRefusedEverywhere(t *testing.T) {
	e := newEnv(t)
	cl := deviceClient(t, e, "quin")
	ch, _ := pendingPush(t, e, "quin", cl)
	for _, aud := range []string{"https://evil.example", otherServer(e), ""} {
		t.Run("aud="+strconvQuote(aud), func(t *testing.T) {
			// The poll: nothing listed.
			if status, code := deviceRequest(t, e, http.MethodGet, push.PathChallenges, deviceTokenFor(t, e, cl, aud)); status != http.StatusUnauthorized || code != "wrong_audience" {
				t.Errorf("GET %s = %d %s, want 401 wrong_audience", push.PathChallenges, status, code)
			}
			// The push socket: no connection, so no challenge either.
			ws, resp, err := websocket.DefaultDialer.Dial(strings.Replace(e.url, "http", "ws", 1)+push.PathPush,
				http.Header{"Authorization": {push.AuthScheme + " " + deviceTokenFor(t, e, cl, aud)}})
			if err == nil {
				ws.Close()
				t.Errorf("the push socket connected with a token for %q", aud)
			} else if resp == nil || resp.StatusCode != http.StatusUnauthorized {
				status := "no response"
				if resp != nil {
					status = resp.Status
				}
				t.Errorf("the push socket answered %s, want 401", status)
			} else {
				var body struct {
					Error string `json:"error"`
				}
				data, _ := io.ReadAll(resp.Body)
				if _ = json.Unmarshal(data, &body); body.Error != "wrong_audience" {
					t.Errorf("the push socket refused with %q, want wrong_audience", data)
				}
			}
			// Removing the device: refused, and it stays.
			if status, code := deviceRequest(t, e, http.MethodDelete, push.PathDevice, deviceTokenFor(t, e, cl, aud)); status != http.StatusUnauthorized || code != "wrong_audience" {
				t.Errorf("DELETE %s = %d %s, want 401 wrong_audience", push.PathDevice, status, code)
			}
			d, err := e.st.GetDevice(e.ctx, cl.EnrollmentID)
			if err != nil || !d.RevokedAt.IsZero() {
				t.Fatalf("after a DELETE with a token for %q the device is revoked at %v (%v); want it still enrolled", aud, d.RevokedAt, err)
			}
		})
	}
	// The device's own tokens still work everywhere.
	if chs, _, err := cl.Poll(e.ctx); err != nil || len(chs) != 1 || chs[0].ID != ch.ID {
		t.Fatalf("poll with a right token = %d challenges, %v", len(chs), err)
	}
	ws := dialClient(t, e, cl)
	expectType(t, ws, push.MsgWelcome)
	if err := cl.Revoke(e.ctx); err != nil {
		t.Fatalf("revoke with a right token: %v", err)
	}
}

// dialClient opens the push socket with a fresh token of cl.
func dialClient(t *testing.T, e *env, cl *push.Client) *websocket.Conn {
	t.Helper()
	tok, err := cl.Token()
	if err != nil {
		t.Fatal(err)
	}
	ws, _, err := websocket.DefaultDialer.Dial(strings.Replace(e.url, "http", "ws", 1)+push.PathPush,
		http.Header{"Authorization": {push.AuthScheme + " " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func strconvQuote(s string) string { return `"` + s + `"` }

// otherServer is another Assent server on this host: the same scheme and
// address, another port.
func otherServer(e *env) string {
	u, _ := url.Parse(e.url)
	port := "1"
	if u.Port() == port {
		port = "2"
	}
	return u.Scheme + "://" + u.Hostname() + ":" + port
}

// TestSecurityHostedFormsRefuseCrossSitePosts posts each kind of hosted
// form with its right CSRF token and cookies, but as a browser would
// from another site (Sec-Fetch-Site cross-site or same-site, no Origin):
// 403, and the same post from the page itself goes through.
func TestSecurityHostedFormsRefuseCrossSitePosts(t *testing.T) {
	sink := &server.MailSink{}
	e, _ := newOIDCEnv(t, assentoidc.Options{}, withMail(sink), withPolicy(t, `
signOn:
  - name: Default
    action: {factors: 2, authenticators: [push, email]}
`))
	e.enrolled("rita")
	post := func(c *http.Client, path string, form url.Values, sfs string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.url+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sfs != "" {
			req.Header.Set("Sec-Fetch-Site", sfs)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	newClient := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	get := func(c *http.Client, path string) string {
		t.Helper()
		resp, err := c.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	csrfOf := func(page, where string) string {
		t.Helper()
		m := csrfRE.FindStringSubmatch(page)
		if m == nil {
			t.Fatalf("no CSRF token on %s", where)
		}
		return m[1]
	}

	t.Run("sign-in step", func(t *testing.T) {
		c := newClient()
		form := url.Values{"csrf": {csrfOf(get(c, "/signin"), "/signin")}, "action": {"identify"}, "login": {"rita"}}
		for _, sfs := range []string{"cross-site", "same-site"} {
			if code := post(c, "/signin/step", form, sfs); code != http.StatusForbidden {
				t.Errorf("POST /signin/step with Sec-Fetch-Site: %s = %d, want 403", sfs, code)
			}
		}
		if code := post(c, "/signin/step", form, "same-origin"); code != http.StatusSeeOther {
			t.Errorf("POST /signin/step with Sec-Fetch-Site: same-origin = %d, want 303", code)
		}
		// The refused posts did not identify: the first one that counts
		// moved on to the password.
		if page := get(c, "/signin/step"); !strings.Contains(page, `data-page="password"`) {
			t.Errorf("after the same-origin post the page is not the password's: %.300s", page)
		}
	})
	t.Run("poll", func(t *testing.T) {
		c := newClient()
		form := url.Values{"csrf": {csrfOf(get(c, "/signin"), "/signin")}}
		if code := post(c, "/signin/poll", form, "cross-site"); code != http.StatusForbidden {
			t.Errorf("POST /signin/poll with Sec-Fetch-Site: cross-site = %d, want 403", code)
		}
		if code := post(c, "/signin/poll", form, "none"); code == http.StatusForbidden {
			t.Errorf("POST /signin/poll with Sec-Fetch-Site: none = 403")
		}
	})
	t.Run("magic link", func(t *testing.T) {
		e.enrolled("sue")
		tx := e.signIn("sue", "correct horse battery")
		if _, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthEmail}); err != nil {
			t.Fatal(err)
		}
		link, _ := url.Parse(e.magicLink(sink, "sue@example.com"))
		form := url.Values{"token": {link.Query().Get("token")}}
		c := newClient()
		if code := post(c, server.PathMagic, form, "cross-site"); code != http.StatusForbidden {
			t.Errorf("POST %s with Sec-Fetch-Site: cross-site = %d, want 403", server.PathMagic, code)
		}
		if r, err := e.poll(tx); err != nil || r.Status != sdk.StatusWaiting {
			t.Fatalf("after a cross-site post of the magic link = %+v, %v; want still waiting", r, err)
		}
		if code := post(c, server.PathMagic, form, "same-origin"); code != http.StatusOK {
			t.Errorf("POST %s with Sec-Fetch-Site: same-origin = %d, want 200", server.PathMagic, code)
		}
	})
	t.Run("provider page", func(t *testing.T) {
		c := newClient()
		form := url.Values{"csrf": {csrfOf(get(c, assentoidc.PathDevice), assentoidc.PathDevice)}, "user_code": {"BCDF-GHJK"}}
		if code := post(c, assentoidc.PathDevice, form, "cross-site"); code != http.StatusForbidden {
			t.Errorf("POST %s with Sec-Fetch-Site: cross-site = %d, want 403", assentoidc.PathDevice, code)
		}
		if code := post(c, assentoidc.PathDevice, form, "same-origin"); code == http.StatusForbidden {
			t.Errorf("POST %s with Sec-Fetch-Site: same-origin = 403", assentoidc.PathDevice)
		}
	})
}

// headerCheck records every HTML page and asset a client fetches from the
// server and what was wrong with its headers.
type headerCheck struct {
	base string
	next http.RoundTripper
	mu   sync.Mutex
	seen []string // pages (data-page) and asset paths checked
	bad  []string
}

var dataPageRE = regexp.MustCompile(`data-page="([^"]+)"`)

func (h *headerCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := h.next.RoundTrip(r)
	if err != nil || !strings.HasPrefix(r.URL.String(), h.base+"/") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	ct := resp.Header.Get("Content-Type")
	h.mu.Lock()
	defer h.mu.Unlock()
	what := r.Method + " " + r.URL.Path
	switch {
	case strings.HasPrefix(r.URL.Path, "/assets/"):
		h.seen = append(h.seen, r.URL.Path)
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			h.bad = append(h.bad, what+": X-Frame-Options "+strconvQuote(got))
		}
	case strings.HasPrefix(ct, "text/html"):
		name := "(no data-page)"
		if m := dataPageRE.FindStringSubmatch(string(body)); m != nil {
			name = m[1]
		}
		h.seen = append(h.seen, name)
		if got := resp.Header.Get("X-Frame-Options"); got != "DENY" {
			h.bad = append(h.bad, what+" ("+name+"): X-Frame-Options "+strconvQuote(got))
		}
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			h.bad = append(h.bad, what+" ("+name+"): Cache-Control "+strconvQuote(got))
		}
	}
	return resp, nil
}

func TestSecurityEveryHostedPageIsNeverFramedNorStored(t *testing.T) {
	sink := &server.MailSink{}
	e, _ := newOIDCEnv(t, assentoidc.Options{}, withMail(sink), func(o *server.Options) { o.Dev = true })
	e.addAdmin("ada")
	d := e.device("ada-phone")
	if _, err := d.Enroll(e.ctx, e.link("ada")); err != nil {
		t.Fatal(err)
	}
	b := newWebBrowser(t, e)
	hc := &headerCheck{base: e.url, next: http.DefaultTransport}
	b.c.Transport = hc

	// Before signing in: the sign-in and recovery forms, a step without a
	// transaction, a page that does not exist, a magic link that is not
	// one, the provider's device page, the assets.
	for _, p := range []string{"/signin", "/recover", "/signin/step", "/no-such-page", server.PathMagic + "?token=nope",
		assentoidc.PathDevice, "/assets/web/style.css", "/assets/web/app.js"} {
		b.get(p)
	}
	// Signing in to the admin area, page by page without JavaScript.
	pg, seen := b.walk(b.get("/signin?app=admin&return=/admin"), "ada", d, nil)
	if !slices.Contains(seen, "push") {
		t.Fatalf("the sign-in went through %v, want a push among them", seen)
	}
	_ = pg
	// Signed in: the account and admin pages, the device page, signing out.
	for _, p := range []string{"/account", "/admin", "/admin/apps", "/admin/audit", "/dev/mail", assentoidc.PathDevice, "/signout"} {
		b.get(p)
	}
	b.post("/account/devices", url.Values{"csrf": {b.get("/account").csrf()}})

	hc.mu.Lock()
	defer hc.mu.Unlock()
	for _, bad := range hc.bad {
		t.Error(bad)
	}
	// Make sure the pages were really seen (a test that checked nothing
	// would pass too).
	for _, want := range []string{"signin", "recover", "password", "select", "push", "account", "admin", "apps", "audit", "devmail", "magic",
		"signout", "oidc-device", "/assets/web/style.css"} {
		if !slices.Contains(hc.seen, want) {
			t.Errorf("page %q was never checked; checked %v", want, hc.seen)
		}
	}
	t.Logf("checked %d responses: %v", len(hc.seen), hc.seen)
}

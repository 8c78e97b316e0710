package oidc

// Test helpers: real assentd nodes (SQLite files, or PostgreSQL in a
// schema of their own) on a loopback port, the provider attached, and a
// browser made of an http.Client with a cookie jar that walks the hosted
// pages the way a person's browser does without JavaScript.

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"github.com/seed-3a5b824e/assent/internal/pgtest"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/postgres"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

var cheapArgon2 = crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}

// passwordPolicy lets a password alone sign in, so that these tests need
// no device (the e2e tests approve pushes with real devices).
const passwordPolicy = `
signOn:
  - name: Password
    action: {factors: 1, numberChallenge: never, reauthenticate: 12h}
`

const password = "correct horse battery"

// node is one assentd with the provider attached.
type node struct {
	srv *server.Server
	p   *Provider
}

type env struct {
	t     testing.TB
	ctx   context.Context
	st    store.Store
	url   string
	clock *fakeclock.Clock
	nodes []*node
	// next picks the node the front hands the next request to.
	next atomic.Int32
}

type envOpts struct {
	nodes    int
	postgres bool
	opts     Options
	policy   string
}

// newEnv starts nodes on one store behind one front (one URL: the issuer).
func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	if o.nodes == 0 {
		o.nodes = 1
	}
	if o.policy == "" {
		o.policy = passwordPolicy
	}
	pol, err := policy.Parse([]byte(o.policy))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), clock: fakeclock.New(time.Now())}
	if o.postgres {
		st, err := postgres.Open(e.ctx, pgSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		e.st = st
	} else {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
		if err != nil {
			t.Fatal(err)
		}
		e.st = st
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	seal := crypto.RandomBytes(32)
	for range o.nodes {
		srv, err := server.New(e.ctx, server.Options{URL: e.url, Org: "Example Org", Store: e.st, SealKey: seal, Now: e.clock.Now,
			PasswordParams: cheapArgon2, Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		p, err := Attach(srv, o.opts)
		if err != nil {
			t.Fatal(err)
		}
		e.nodes = append(e.nodes, &node{srv: srv, p: p})
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.nodes[int(e.next.Load())%len(e.nodes)].srv.Handler().ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		for _, n := range e.nodes {
			n.srv.Close()
			n.srv.WaitBackground()
		}
		e.st.Close()
	})
	return e
}

func (e *env) srv() *server.Server { return e.nodes[0].srv }
func (e *env) p() *Provider        { return e.nodes[0].p }

// use makes the front hand the following requests to node i.
func (e *env) use(i int) { e.next.Store(int32(i)) }

// pgSchema makes a PostgreSQL schema for one test and returns a URL that
// uses it (internal/pgtest).
func pgSchema(t testing.TB) string { t.Helper(); return pgtest.Schema(t, "assent_oidc") }

func (e *env) addUser(login string) store.User {
	e.t.Helper()
	u, err := e.srv().AddUser(e.ctx, server.NewUser{Login: login, Password: password, Email: login + "@example.com", Groups: []string{"staff"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// client registers an oidc client; it returns the app and its secret.
func (e *env) client(name string, settings map[string][]string) (store.App, string) {
	e.t.Helper()
	a, secret, err := e.srv().AddAppOfKind(e.ctx, name, store.AppOIDC, settings)
	if err != nil {
		e.t.Fatal(err)
	}
	return a, secret
}

const redirectURI = "https://rp.example/callback"

// browser is a person's browser without JavaScript: a cookie jar, and
// redirects followed until one leaves for the relying party.
type browser struct {
	t testing.TB
	e *env
	c *http.Client
	// stopAt, when set, makes a redirect to a path starting with it stop
	// there.
	stopAt string
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{t: e.t, e: e}
	b.c = &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(r.URL.String(), e.url) || (b.stopAt != "" && strings.HasPrefix(r.URL.Path, b.stopAt)) {
			return http.ErrUseLastResponse
		}
		if len(via) > 20 {
			return fmt.Errorf("more than 20 redirects (at %s)", r.URL)
		}
		return nil
	}}
	return b
}

// page is where the browser stopped: a page of the server, or a redirect
// away from it.
type page struct {
	status int
	url    *url.URL
	body   string
	// away is the address of a redirect that leaves the server.
	away *url.URL
}

var (
	pageRE = regexp.MustCompile(`data-page="([^"]+)"`)
	csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	idRE   = regexp.MustCompile(`name="id" value="([^"]+)"`)
)

func (pg *page) name() string {
	if m := pageRE.FindStringSubmatch(pg.body); m != nil {
		return m[1]
	}
	return ""
}

func (pg *page) csrf() string {
	if m := csrfRE.FindStringSubmatch(pg.body); m != nil {
		return m[1]
	}
	return ""
}

func (b *browser) do(req *http.Request) *page {
	b.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	pg := &page{status: resp.StatusCode, url: resp.Request.URL, body: string(body)}
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		u, err := resp.Request.URL.Parse(loc)
		if err != nil {
			b.t.Fatal(err)
		}
		pg.away = u
	}
	return b.refresh(pg)
}

func (b *browser) get(u string) *page {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.e.url + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) *page {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// signIn walks the hosted pages from the sign-in page with a password
// (the test policy asks nothing more) and returns where it ends.
func (b *browser) signIn(pg *page, login string) *page {
	b.t.Helper()
	if pg.name() != "signin" {
		b.t.Fatalf("want the sign-in page, got %q (%d at %s): %.400s", pg.name(), pg.status, pg.url, pg.body)
	}
	pg = b.post("/signin/step", url.Values{"csrf": {pg.csrf()}, "action": {"identify"}, "login": {login}})
	if pg.name() != "password" {
		b.t.Fatalf("want the password page, got %q: %.400s", pg.name(), pg.body)
	}
	return b.post("/signin/step", url.Values{"csrf": {pg.csrf()}, "action": {"challenge-authenticator"}, "authenticator": {"password"}, "passcode": {password}})
}

// rp is a relying party's side of a code flow with PKCE, by hand, so that
// tests can also send what a good one never would.
type rp struct {
	clientID, secret, redirect string
	verifier, state, nonce     string
}

func newRP(clientID, secret string) *rp {
	return &rp{clientID: clientID, secret: secret, redirect: redirectURI, verifier: crypto.RandomToken(32), state: crypto.RandomToken(12), nonce: crypto.RandomToken(12)}
}

func challenge(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (r *rp) authorizeURL(base string, extra url.Values) string {
	q := url.Values{"client_id": {r.clientID}, "redirect_uri": {r.redirect}, "response_type": {"code"},
		"scope": {"openid profile email groups offline_access"}, "state": {r.state}, "nonce": {r.nonce},
		"code_challenge": {challenge(r.verifier)}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	return base + PathAuthorize + "?" + q.Encode()
}

// code takes the code from the redirect to the relying party.
func (r *rp) code(t testing.TB, pg *page) string {
	t.Helper()
	if pg.away == nil || !strings.HasPrefix(pg.away.String(), r.redirect) {
		t.Fatalf("want a redirect to %s, got %d at %s (%s): %.600s", r.redirect, pg.status, pg.url, pg.name(), pg.body)
	}
	q := pg.away.Query()
	if e := q.Get("error"); e != "" {
		t.Fatalf("the provider answered %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != r.state {
		t.Fatalf("state %q, want %q", q.Get("state"), r.state)
	}
	return q.Get("code")
}

// tokenResponse is the token endpoint's answer, success or error.
type tokenResponse struct {
	status       int
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ExpiresIn    int    `json:"expires_in"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

func (e *env) token(form url.Values, clientID, secret string) tokenResponse {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.url+PathToken, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	body, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(body, &tr); err != nil {
		e.t.Fatalf("token endpoint answered %d %q", resp.StatusCode, body)
	}
	tr.status = resp.StatusCode
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		e.t.Errorf("token response Cache-Control %q, want no-store", cc)
	}
	return tr
}

func (r *rp) exchange(e *env, code string) tokenResponse {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {r.redirect}, "code_verifier": {r.verifier}}
	if r.secret == "" {
		form.Set("client_id", r.clientID)
	}
	return e.token(form, r.clientID, r.secret)
}

func (r *rp) refresh(e *env, token string) tokenResponse {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
	if r.secret == "" {
		form.Set("client_id", r.clientID)
	}
	return e.token(form, r.clientID, r.secret)
}

// userinfo asks userinfo with an access token.
func (e *env) userinfo(token string) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+PathUserinfo, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// claims reads a JWT's claims without checking it (the relying party
// tests in e2e check signatures with go-oidc).
func claims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func header(t testing.TB, jwt string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) auditTypes() []string {
	e.t.Helper()
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

var metaRefreshRE = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]+)">`)

// refresh follows a page that moves on by itself at once (a meta refresh
// of 0 seconds), as a browser does with or without JavaScript.
func (b *browser) refresh(pg *page) *page {
	m := metaRefreshRE.FindStringSubmatch(pg.body)
	if m == nil {
		return pg
	}
	next, err := pg.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		b.t.Fatal(err)
	}
	if !strings.HasPrefix(next.String(), b.e.url+"/") || (b.stopAt != "" && strings.HasPrefix(next.Path, b.stopAt)) {
		return &page{status: http.StatusSeeOther, url: pg.url, body: pg.body, away: next}
	}
	req, _ := http.NewRequest(http.MethodGet, next.String(), nil)
	return b.do(req)
}

package e2e

// Helpers of the OpenID Connect tests: the provider attached to a test
// server, relying parties written with coreos/go-oidc and x/oauth2, and a
// browser without JavaScript (an http.Client with a cookie jar) that walks
// the hosted pages while a real app/core device approves the push.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/server"
	assentoidc "github.com/seed-3a5b824e/assent/server/oidc"
	"github.com/seed-3a5b824e/assent/server/store"
)

// newOIDCEnv is a test server with the OpenID Connect provider attached.
func newOIDCEnv(t testing.TB, po assentoidc.Options, opts ...func(*server.Options)) (*env, *assentoidc.Provider) {
	t.Helper()
	e := newEnv(t, opts...)
	if po.DevicePollInterval == 0 {
		po.DevicePollInterval = time.Second
	}
	p, err := assentoidc.Attach(e.srv, po)
	if err != nil {
		t.Fatal(err)
	}
	return e, p
}

// rpCallback is the loopback address relying parties of these tests
// register: the browsers stop when they are sent there.
const rpCallback = "http://127.0.0.1:9/callback"

// relyingParty is an app signing people in with Assent: go-oidc checks
// the ID tokens against the provider's JWKS, x/oauth2 makes the requests.
type relyingParty struct {
	t        testing.TB
	e        *env
	app      store.App
	secret   string
	provider *gooidc.Provider
	conf     oauth2.Config
	verifier *gooidc.IDTokenVerifier
	// The flow in progress.
	pkce, state, nonce string
}

// newRelyingParty registers an oidc client and sets up its relying party.
func newRelyingParty(t testing.TB, e *env, name string, settings map[string][]string) *relyingParty {
	t.Helper()
	if settings == nil {
		settings = map[string][]string{}
	}
	if _, ok := settings[assentoidc.SettingRedirectURI]; !ok {
		settings[assentoidc.SettingRedirectURI] = []string{rpCallback}
	}
	a, secret, err := e.srv.AddAppOfKind(e.ctx, name, store.AppOIDC, settings)
	if err != nil {
		t.Fatal(err)
	}
	provider, err := gooidc.NewProvider(e.ctx, e.url)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	rp := &relyingParty{t: t, e: e, app: a, secret: secret, provider: provider}
	rp.conf = oauth2.Config{ClientID: a.ID, ClientSecret: secret, Endpoint: provider.Endpoint(),
		RedirectURL: settings[assentoidc.SettingRedirectURI][0], Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups", gooidc.ScopeOfflineAccess}}
	if secret == "" {
		rp.conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	}
	rp.verifier = provider.Verifier(&gooidc.Config{ClientID: a.ID})
	return rp
}

// authURL starts a flow: fresh state, nonce and PKCE verifier.
func (rp *relyingParty) authURL(opts ...oauth2.AuthCodeOption) string {
	rp.pkce, rp.state, rp.nonce = oauth2.GenerateVerifier(), oauth2.GenerateVerifier()[:22], oauth2.GenerateVerifier()[:22]
	opts = append(opts, oauth2.S256ChallengeOption(rp.pkce), gooidc.Nonce(rp.nonce))
	return rp.conf.AuthCodeURL(rp.state, opts...)
}

// codeFrom takes the code from the redirect to the relying party.
func (rp *relyingParty) codeFrom(away *url.URL) string {
	rp.t.Helper()
	if away == nil || !strings.HasPrefix(away.String(), rp.conf.RedirectURL) {
		rp.t.Fatalf("want a redirect to %s, got %v", rp.conf.RedirectURL, away)
	}
	q := away.Query()
	if e := q.Get("error"); e != "" {
		rp.t.Fatalf("the provider answered %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != rp.state {
		rp.t.Fatalf("state %q, want %q", q.Get("state"), rp.state)
	}
	return q.Get("code")
}

// signedIn is what a relying party knows after a code exchange.
type signedIn struct {
	token  *oauth2.Token
	id     *gooidc.IDToken
	raw    string
	claims idClaims
}

type idClaims struct {
	Subject           string   `json:"sub"`
	Nonce             string   `json:"nonce"`
	AMR               []string `json:"amr"`
	ACR               string   `json:"acr"`
	AuthTime          int64    `json:"auth_time"`
	SID               string   `json:"sid"`
	Email             string   `json:"email"`
	EmailVerified     *bool    `json:"email_verified"`
	Name              string   `json:"name"`
	PreferredUsername string   `json:"preferred_username"`
	Groups            []string `json:"groups"`
}

// exchange redeems a code and verifies the ID token (signature against the
// JWKS, issuer, audience, expiry) and its nonce.
func (rp *relyingParty) exchange(code string) signedIn {
	rp.t.Helper()
	tok, err := rp.conf.Exchange(rp.e.ctx, code, oauth2.VerifierOption(rp.pkce))
	if err != nil {
		rp.t.Fatalf("exchange: %v", err)
	}
	return rp.verify(tok, true)
}

func (rp *relyingParty) verify(tok *oauth2.Token, withNonce bool) signedIn {
	rp.t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		rp.t.Fatal("no id_token in the token response")
	}
	id, err := rp.verifier.Verify(rp.e.ctx, raw)
	if err != nil {
		rp.t.Fatalf("verify the ID token: %v", err)
	}
	si := signedIn{token: tok, id: id, raw: raw}
	if err := id.Claims(&si.claims); err != nil {
		rp.t.Fatal(err)
	}
	if withNonce && si.claims.Nonce != rp.nonce {
		rp.t.Fatalf("nonce %q, want %q", si.claims.Nonce, rp.nonce)
	}
	if err := id.VerifyAccessToken(tok.AccessToken); err != nil {
		rp.t.Fatalf("at_hash: %v", err)
	}
	return si
}

// refresh uses a refresh token.
func (rp *relyingParty) refresh(refresh string) (*oauth2.Token, error) {
	return rp.conf.TokenSource(rp.e.ctx, &oauth2.Token{RefreshToken: refresh, Expiry: time.Now().Add(-time.Hour)}).Token()
}

// oauthError is the RFC 6749 error code of a failed token request.
func oauthError(err error) string {
	if re, ok := err.(*oauth2.RetrieveError); ok {
		return re.ErrorCode
	}
	return ""
}

func oauthStatus(err error) int {
	if re, ok := err.(*oauth2.RetrieveError); ok && re.Response != nil {
		return re.Response.StatusCode
	}
	return 0
}

// userInfo asks the userinfo endpoint.
func (rp *relyingParty) userInfo(access string) (*gooidc.UserInfo, error) {
	return rp.provider.UserInfo(rp.e.ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: access, TokenType: "Bearer"}))
}

// webBrowser is a browser without JavaScript.
type webBrowser struct {
	t testing.TB
	e *env
	c *http.Client
}

type webPage struct {
	status int
	url    *url.URL
	body   string
	// away is where a redirect off this server (to a relying party) goes.
	away *url.URL
}

var oidcPageRE = regexp.MustCompile(`data-page="([^"]+)"`)
var pushNumberRE = regexp.MustCompile(`id="push-number">(\d+)<`)

func (pg *webPage) name() string {
	if m := oidcPageRE.FindStringSubmatch(pg.body); m != nil {
		return m[1]
	}
	return ""
}

func (pg *webPage) csrf() string {
	if m := csrfRE.FindStringSubmatch(pg.body); m != nil {
		return m[1]
	}
	return ""
}

func newWebBrowser(t testing.TB, e *env) *webBrowser {
	jar, _ := cookiejar.New(nil)
	return &webBrowser{t: t, e: e, c: &http.Client{Jar: jar, Timeout: 30 * time.Second, CheckRedirect: func(r *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(r.URL.String(), e.url+"/") {
			return http.ErrUseLastResponse
		}
		if len(via) > 20 {
			return fmt.Errorf("too many redirects at %s", r.URL)
		}
		return nil
	}}}
}

func (b *webBrowser) do(req *http.Request) *webPage {
	b.t.Helper()
	req.Header.Set("User-Agent", "Mozilla/5.0 (e2e test, no JavaScript)")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	pg := &webPage{status: resp.StatusCode, url: resp.Request.URL, body: string(body)}
	if loc := resp.Header.Get("Location"); loc != "" && resp.StatusCode >= 300 && resp.StatusCode < 400 {
		pg.away, _ = resp.Request.URL.Parse(loc)
	}
	return b.refresh(pg)
}

func (b *webBrowser) get(u string) *webPage {
	b.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = b.e.url + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return b.do(req)
}

func (b *webBrowser) post(path string, form url.Values) *webPage {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// walk goes through the hosted pages as a person would, without
// JavaScript: login, password, push (the device approves the number
// shown, then "Check now"), until the browser leaves for a relying party
// or lands on a page that is not a sign-in step. It returns where it
// stopped and the pages it went through.
func (b *webBrowser) walk(pg *webPage, login string, d *core.Core, pin []byte) (*webPage, []string) {
	b.t.Helper()
	var seen []string
	for range 12 {
		if pg.away != nil {
			return pg, seen
		}
		name := pg.name()
		seen = append(seen, name)
		switch name {
		case "signin":
			pg = b.post("/signin/step", url.Values{"csrf": {pg.csrf()}, "action": {"identify"}, "login": {login}})
		case "password":
			pg = b.post("/signin/step", url.Values{"csrf": {pg.csrf()}, "action": {"challenge-authenticator"}, "authenticator": {"password"}, "passcode": {"correct horse battery"}})
		case "select":
			pg = b.post("/signin/step", url.Values{"csrf": {pg.csrf()}, "action": {"select-authenticator-authenticate"}, "authenticator": {"push"}})
		case "push":
			m := pushNumberRE.FindStringSubmatch(pg.body)
			number := 0
			if m != nil {
				fmt.Sscan(m[1], &number)
			}
			p := b.e.onlyPrompt(d)
			if number != 0 && !slices.Contains(p.Numbers, number) {
				b.t.Fatalf("the page shows %d, the device offers %v", number, p.Numbers)
			}
			var err error
			if pin != nil {
				_, err = d.ApproveVerified(b.e.ctx, p, number, pin)
			} else {
				_, err = d.Approve(b.e.ctx, p, number)
			}
			if err != nil {
				b.t.Fatal(err)
			}
			// "Check now", the page's fallback without JavaScript.
			pg = b.post("/signin/poll", url.Values{"csrf": {pg.csrf()}})
		default:
			return pg, seen
		}
	}
	b.t.Fatalf("the sign-in did not end: went through %v, last at %s: %.2000s", seen, pg.url, pg.body)
	return nil, nil
}

// signInTo runs a relying party's flow in this browser, with a sign-in
// on the hosted pages when one is asked, and returns what the relying
// party got and the sign-in pages shown.
func (b *webBrowser) signInTo(rp *relyingParty, login string, d *core.Core, opts ...oauth2.AuthCodeOption) (signedIn, []string) {
	b.t.Helper()
	pg, seen := b.walk(b.get(rp.authURL(opts...)), login, d, nil)
	return rp.exchange(rp.codeFrom(pg.away)), seen
}

// postForm posts to an endpoint as a relying party would, by hand.
func postForm(t testing.TB, u string, form url.Values, user, pass string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	body, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(body, &m)
	return resp.StatusCode, m
}

// jwtHeader is a JWT's decoded header.
func jwtHeader(t testing.TB, jwt string) string {
	t.Helper()
	h, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func storeAuditAll() store.AuditFilter { return store.AuditFilter{} }

var oidcIDRE = regexp.MustCompile(`name="id" value="([^"]+)"`)

// oidcFormID is the id a provider page's form carries.
func oidcFormID(pg *webPage) string {
	if m := oidcIDRE.FindStringSubmatch(pg.body); m != nil {
		return m[1]
	}
	return ""
}

var metaRefreshRE = regexp.MustCompile(`<meta http-equiv="refresh" content="0;url=([^"]+)">`)

// refresh follows a page that moves on by itself at once (a meta refresh
// of 0 seconds), as a browser does with or without JavaScript.
func (b *webBrowser) refresh(pg *webPage) *webPage {
	m := metaRefreshRE.FindStringSubmatch(pg.body)
	if m == nil {
		return pg
	}
	next, err := pg.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		b.t.Fatal(err)
	}
	if !strings.HasPrefix(next.String(), b.e.url+"/") {
		return &webPage{status: http.StatusSeeOther, url: pg.url, body: pg.body, away: next}
	}
	req, _ := http.NewRequest(http.MethodGet, next.String(), nil)
	return b.do(req)
}

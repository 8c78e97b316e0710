package oidc

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

func confidential(e *env, name string) *rp {
	a, secret := e.client(name, map[string][]string{SettingRedirectURI: {redirectURI}})
	return newRP(a.ID, secret)
}

// signedInCode runs a whole code flow from a fresh browser and returns the
// browser and the code.
func signedInCode(t *testing.T, e *env, r *rp, login string) (*browser, string) {
	t.Helper()
	b := e.browser()
	pg := b.get(r.authorizeURL(e.url, nil))
	pg = b.signIn(pg, login)
	return b, r.code(t, pg)
}

func TestCodeFlowIssuesTokensOnceAndReuseRevokesTheFamily(t *testing.T) {
	for _, pg := range []bool{false, true} {
		name := "sqlite"
		if pg {
			name = "postgres"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, envOpts{postgres: pg})
			u := e.addUser("ana")
			r := confidential(e, "wiki")
			b, code := signedInCode(t, e, r, "ana")
			tr := r.exchange(e, code)
			if tr.status != http.StatusOK || tr.AccessToken == "" || tr.RefreshToken == "" || tr.IDToken == "" {
				t.Fatalf("exchange = %+v", tr)
			}
			c := claims(t, tr.IDToken)
			if c["sub"] != u.ID || c["nonce"] != r.nonce || c["preferred_username"] != "ana" || c["email"] != "ana@example.com" {
				t.Fatalf("ID token claims %v", c)
			}
			if c["email_verified"] == true {
				t.Error("email_verified is true, but nothing verified the address")
			}
			if amr, _ := c["amr"].([]any); !slices.Contains(amr, any("pwd")) {
				t.Errorf("amr %v, want pwd", c["amr"])
			}
			if _, ok := c["acr"]; ok {
				t.Errorf("a password-only sign-in carries acr %v", c["acr"])
			}
			if sid, _ := c["sid"].(string); len(sid) < 16 {
				t.Errorf("sid %v", c["sid"])
			}
			if g, _ := c["groups"].([]any); !slices.Contains(g, any("staff")) {
				t.Errorf("groups %v", c["groups"])
			}
			if h := header(t, tr.IDToken); h["alg"] != "RS256" || h["kid"] == "" {
				t.Errorf("ID token header %v", h)
			}
			// Nothing in the store is a token.
			gs, err := e.st.ListGrants(e.ctx, store.GrantFilter{UserID: u.ID})
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range gs {
				for _, tok := range []string{tr.AccessToken, tr.RefreshToken, code} {
					if strings.Contains(string(g.Data), tok) || g.Lookup == tok || g.ID == tok {
						t.Fatalf("grant %s (%s) holds a token in clear", g.ID, g.Kind)
					}
				}
			}
			if st, info := e.userinfo(tr.AccessToken); st != http.StatusOK || info["sub"] != u.ID {
				t.Fatalf("userinfo = %d %v", st, info)
			}

			// The code again: refused, and what it gave is revoked.
			again := r.exchange(e, code)
			if again.status != http.StatusBadRequest || again.Error != "invalid_grant" || again.AccessToken != "" {
				t.Fatalf("second exchange = %+v", again)
			}
			if st, _ := e.userinfo(tr.AccessToken); st == http.StatusOK {
				t.Fatal("the access token of a reused code still works")
			}
			if rt := r.refresh(e, tr.RefreshToken); rt.Error != "invalid_grant" {
				t.Fatalf("refresh after code reuse = %+v", rt)
			}
			if types := e.auditTypes(); !slices.Contains(types, "oidc.code_reuse") || !slices.Contains(types, "oidc.token_issued") {
				t.Fatalf("audit %v", types)
			}
			// The callback gives no second code either.
			_ = b
		})
	}
}

func TestConcurrentExchangesOfOneCodeIssueAtMostOnce(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	r := confidential(e, "wiki")
	_, code := signedInCode(t, e, r, "ana")
	const n = 8
	var wg sync.WaitGroup
	results := make([]tokenResponse, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = r.exchange(e, code)
		}()
	}
	wg.Wait()
	ok := 0
	var tok string
	for _, tr := range results {
		if tr.status == http.StatusOK {
			ok++
			tok = tr.AccessToken
		} else if tr.Error != "invalid_grant" {
			t.Errorf("a losing exchange answered %+v", tr)
		}
	}
	if ok > 1 {
		t.Fatalf("%d exchanges of one code succeeded", ok)
	}
	// Whoever won, the others were reuses: nothing of the family works.
	if ok == 1 {
		if st, _ := e.userinfo(tok); st == http.StatusOK {
			t.Fatal("the winner's token survived the reuse")
		}
	}
}

func TestRefreshRotatesAndReuseRevokesTheFamily(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	r := confidential(e, "wiki")
	_, code := signedInCode(t, e, r, "ana")
	first := r.exchange(e, code)
	second := r.refresh(e, first.RefreshToken)
	if second.status != http.StatusOK || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.IDToken == "" {
		t.Fatalf("refresh = %+v", second)
	}
	if c := claims(t, second.IDToken); c["nonce"] != nil || c["sid"] == nil {
		t.Errorf("refreshed ID token claims %v (no nonce, a sid)", c)
	}
	third := r.refresh(e, second.RefreshToken)
	if third.status != http.StatusOK {
		t.Fatalf("second refresh = %+v", third)
	}
	// The first refresh token again: a reuse; the whole family goes.
	if re := r.refresh(e, first.RefreshToken); re.Error != "invalid_grant" {
		t.Fatalf("reused refresh token = %+v", re)
	}
	if re := r.refresh(e, third.RefreshToken); re.Error != "invalid_grant" {
		t.Fatalf("the newest refresh token after a reuse = %+v", re)
	}
	for _, at := range []string{first.AccessToken, second.AccessToken, third.AccessToken} {
		if st, _ := e.userinfo(at); st == http.StatusOK {
			t.Fatal("an access token of a revoked family still works")
		}
	}
	if !slices.Contains(e.auditTypes(), "oidc.refresh_reuse") {
		t.Fatal("no oidc.refresh_reuse in the audit log")
	}
}

func TestCodeExpiresAndWrongVerifierOrRedirectGetsInvalidGrant(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	r := confidential(e, "wiki")

	_, code := signedInCode(t, e, r, "ana")
	bad := *r
	bad.verifier = strings.Repeat("x", 43)
	if tr := bad.exchange(e, code); tr.Error != "invalid_grant" || tr.AccessToken != "" {
		t.Fatalf("wrong verifier = %+v", tr)
	}
	_, code = signedInCode(t, e, r, "ana")
	bad = *r
	bad.redirect = "https://rp.example/other"
	if tr := bad.exchange(e, code); tr.Error != "invalid_grant" || tr.AccessToken != "" {
		t.Fatalf("wrong redirect_uri = %+v", tr)
	}
	_, code = signedInCode(t, e, r, "ana")
	e.clock.Advance(2 * time.Minute)
	if tr := r.exchange(e, code); tr.Error != "invalid_grant" || tr.AccessToken != "" {
		t.Fatalf("expired code = %+v", tr)
	}
	e.clock.Advance(-2 * time.Minute)
	_, code = signedInCode(t, e, r, "ana")
	bad = *r
	bad.secret = "not the secret"
	if tr := bad.exchange(e, code); tr.status != http.StatusUnauthorized || tr.Error != "invalid_client" {
		t.Fatalf("bad secret = %+v", tr)
	}
	bad = *r
	bad.clientID = "app_unknown"
	if tr := bad.exchange(e, code); tr.status != http.StatusUnauthorized || tr.Error != "invalid_client" {
		t.Fatalf("unknown client = %+v", tr)
	}
	// Refused attempts did not burn the code for the real client.
	if tr := r.exchange(e, code); tr.status != http.StatusOK {
		t.Fatalf("the right exchange after refused ones = %+v", tr)
	}
}

func TestAuthorizeRefusesUnknownClientsAndUnregisteredRedirectsWithoutRedirecting(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := confidential(e, "wiki")
	b := e.browser()
	for name, q := range map[string]url.Values{
		"unknown client":    {"client_id": {"app_nobody"}},
		"other redirect":    {"redirect_uri": {"https://evil.example/callback"}},
		"prefix redirect":   {"redirect_uri": {redirectURI + "/more"}},
		"no redirect":       {"redirect_uri": {""}},
		"case of redirect":  {"redirect_uri": {strings.ToUpper(redirectURI)}},
		"query on redirect": {"redirect_uri": {redirectURI + "?x=1"}},
	} {
		pg := b.get(r.authorizeURL(e.url, q))
		if pg.away != nil || pg.status != http.StatusBadRequest || pg.name() != "oidc-message" {
			t.Errorf("%s: %d away=%v page=%q", name, pg.status, pg.away, pg.name())
		}
	}
	// Plain PKCE, or none from a public client: an error to the client.
	pub, _ := e.client("cli", map[string][]string{SettingRedirectURI: {"http://127.0.0.1:8400/cb"}, SettingPublic: {"true"}})
	pr := newRP(pub.ID, "")
	pr.redirect = "http://127.0.0.1:8400/cb"
	for name, q := range map[string]url.Values{
		"plain":   {"code_challenge_method": {"plain"}},
		"missing": {"code_challenge": {""}, "code_challenge_method": {""}},
	} {
		pg := b.get(pr.authorizeURL(e.url, q))
		if pg.away == nil || pg.away.Query().Get("error") != "invalid_request" {
			t.Errorf("%s PKCE: %d away=%v", name, pg.status, pg.away)
		}
	}
}

func TestCallbackGivesTheCodeOnlyToTheBrowserThatSignedIn(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	r := confidential(e, "wiki")
	b := e.browser()
	pg := b.get(r.authorizeURL(e.url, nil))
	loginURL := pg.url // the sign-in page, with return=/oidc/login?id=…
	ret, _ := url.Parse(loginURL.Query().Get("return"))
	id := ret.Query().Get("id")
	if !strings.HasPrefix(id, prefixAuthRequest) {
		t.Fatalf("sign-in page %s does not return to the login step", loginURL)
	}
	b.stopAt = pathCallback
	pg = b.signIn(pg, "ana")
	if pg.away == nil || pg.away.Path != pathCallback {
		t.Fatalf("after signing in: %d away=%v", pg.status, pg.away)
	}
	// Another browser that learned the request's ID gets nothing, signed
	// in or not.
	other := e.browser()
	if pg := other.get(pathCallback + "?id=" + id); pg.away != nil || pg.status != http.StatusForbidden {
		t.Fatalf("a browser without the session: %d away=%v", pg.status, pg.away)
	}
	other.signIn(other.get("/signin?app=wiki"), "ana")
	if pg := other.get(pathCallback + "?id=" + id); pg.away != nil || pg.status != http.StatusForbidden {
		t.Fatalf("a browser with another session: %d away=%v", pg.status, pg.away)
	}
	b.stopAt = ""
	r.code(t, b.get(pg.away.String()))
	// One code per sign-in: the callback again gives nothing.
	if pg := b.get(pathCallback + "?id=" + id); pg.away != nil {
		t.Fatalf("a second callback: %d away=%v", pg.status, pg.away)
	}
}

func TestPromptNoneWithoutASessionAnswersLoginRequired(t *testing.T) {
	e := newEnv(t, envOpts{})
	r := confidential(e, "wiki")
	pg := e.browser().get(r.authorizeURL(e.url, url.Values{"prompt": {"none"}}))
	if pg.away == nil || pg.away.Query().Get("error") != "login_required" || pg.away.Query().Get("state") != r.state {
		t.Fatalf("prompt=none: %d away=%v", pg.status, pg.away)
	}
}

func TestSingleSignOnAndPromptLoginAndMaxAge(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	wiki := confidential(e, "wiki")
	chat := confidential(e, "chat")
	b, code := signedInCode(t, e, wiki, "ana")
	first := claims(t, wiki.exchange(e, code).IDToken)

	// A second client: no prompt.
	pg := b.get(chat.authorizeURL(e.url, nil))
	second := claims(t, chat.exchange(e, chat.code(t, pg)).IDToken)
	if second["auth_time"] != first["auth_time"] || second["sid"] != first["sid"] {
		t.Fatalf("single sign-on changed auth_time or sid: %v vs %v", first, second)
	}
	e.clock.Advance(10 * time.Minute)
	// prompt=login: the pages ask again, and auth_time moves.
	pg = b.get(chat.authorizeURL(e.url, url.Values{"prompt": {"login"}}))
	if pg.name() != "signin" {
		t.Fatalf("prompt=login went to %q", pg.name())
	}
	third := claims(t, chat.exchange(e, chat.code(t, b.signIn(pg, "ana"))).IDToken)
	if third["auth_time"] == first["auth_time"] {
		t.Fatal("prompt=login kept the old auth_time")
	}
	e.clock.Advance(10 * time.Minute)
	// max_age shorter than the sign-in's age asks again; longer does not.
	pg = b.get(wiki.authorizeURL(e.url, url.Values{"max_age": {"3600"}}))
	wiki.code(t, pg)
	pg = b.get(wiki.authorizeURL(e.url, url.Values{"max_age": {"60"}}))
	if pg.name() != "signin" {
		t.Fatalf("max_age=60 after 10 minutes went to %q", pg.name())
	}
}

func TestLogoutEndsTheSessionAndTheClientsTokens(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	a, secret := e.client("wiki", map[string][]string{SettingRedirectURI: {redirectURI}, SettingPostLogoutURI: {"https://rp.example/bye"}})
	r := newRP(a.ID, secret)
	b, code := signedInCode(t, e, r, "ana")
	tr := r.exchange(e, code)

	// An unregistered post-logout URI: nothing done, no redirect.
	pg := b.get(PathEndSession + "?" + url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
	if pg.away != nil || pg.status != http.StatusBadRequest {
		t.Fatalf("unregistered post-logout URI: %d away=%v", pg.status, pg.away)
	}
	// Without a hint another site could send the browser here: ask.
	pg = b.get(PathEndSession)
	if pg.name() != "oidc-logout" {
		t.Fatalf("logout without a hint shows %q", pg.name())
	}
	pg = b.get(PathEndSession + "?" + url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {"https://rp.example/bye"}, "state": {"s1"}}.Encode())
	if pg.away == nil || pg.away.Host != "rp.example" || pg.away.Query().Get("state") != "s1" {
		t.Fatalf("logout: %d away=%v", pg.status, pg.away)
	}
	if st, _ := e.userinfo(tr.AccessToken); st == http.StatusOK {
		t.Fatal("the access token outlived the logout")
	}
	if rt := r.refresh(e, tr.RefreshToken); rt.Error != "invalid_grant" {
		t.Fatalf("refresh after logout = %+v", rt)
	}
	if _, ok := e.srv().BrowserSignIn(reqWithCookies(t, e, b)); ok {
		t.Fatal("the browser is still signed in")
	}
	if !slices.Contains(e.auditTypes(), "oidc.logout") {
		t.Fatal("no oidc.logout in the audit log")
	}
}

// reqWithCookies is a request carrying the browser's cookies.
func reqWithCookies(t *testing.T, e *env, b *browser) *http.Request {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.url+"/", nil)
	u, _ := url.Parse(e.url)
	for _, c := range b.c.Jar.Cookies(u) {
		req.AddCookie(c)
	}
	return req
}

func TestSigningOutEverywhereEndsTheAppsTokensToo(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	r := confidential(e, "wiki")
	b, code := signedInCode(t, e, r, "ana")
	tr := r.exchange(e, code)
	e.clock.Advance(time.Second)
	pg := b.get("/account")
	if pg.name() != "account" {
		t.Fatalf("account page: %q", pg.name())
	}
	b.post("/account/signout-everywhere", url.Values{"csrf": {pg.csrf()}})
	if st, _ := e.userinfo(tr.AccessToken); st == http.StatusOK {
		t.Fatal("userinfo answers after signing out everywhere")
	}
	if rt := r.refresh(e, tr.RefreshToken); rt.Error != "invalid_grant" {
		t.Fatalf("refresh after signing out everywhere = %+v", rt)
	}
	// A new sign-in gives tokens that work.
	e.clock.Advance(time.Second)
	_, code = signedInCode(t, e, r, "ana")
	tr = r.exchange(e, code)
	if st, _ := e.userinfo(tr.AccessToken); st != http.StatusOK {
		t.Fatalf("a new sign-in's token: %d", st)
	}
	if rt := r.refresh(e, tr.RefreshToken); rt.status != http.StatusOK {
		t.Fatalf("a new sign-in's refresh = %+v", rt)
	}
}

func TestRemovedAppsTokensStopWorking(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	r := confidential(e, "wiki")
	_, code := signedInCode(t, e, r, "ana")
	tr := r.exchange(e, code)
	if err := e.srv().RemoveApp(e.ctx, "wiki"); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.userinfo(tr.AccessToken); st == http.StatusOK {
		t.Fatal("userinfo answers for a removed app")
	}
	if rt := r.refresh(e, tr.RefreshToken); rt.status == http.StatusOK {
		t.Fatalf("refresh for a removed app = %+v", rt)
	}
}

func TestFormPostResponseMode(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	r := confidential(e, "wiki")
	b := e.browser()
	pg := b.signIn(b.get(r.authorizeURL(e.url, url.Values{"response_mode": {"form_post"}})), "ana")
	if pg.away != nil || pg.status != http.StatusOK || !strings.Contains(pg.body, `action="`+redirectURI+`"`) || !strings.Contains(pg.body, `name="code" value="ac_`) {
		t.Fatalf("form_post answer: %d away=%v %.500s", pg.status, pg.away, pg.body)
	}
	pg = b.get(r.authorizeURL(e.url, url.Values{"response_mode": {"fragment"}}))
	if pg.away == nil {
		t.Fatalf("response_mode=fragment: %d", pg.status)
	}
	if q, _ := url.ParseQuery(pg.away.Fragment); q.Get("error") != "invalid_request" || q.Get("code") != "" {
		t.Fatalf("response_mode=fragment: %v", pg.away)
	}
}

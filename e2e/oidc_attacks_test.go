package e2e

// What an attacker sends the OpenID Connect provider: every bad input gets
// the error RFC 6749 names, and nothing is issued.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	assentoidc "github.com/seed-3a5b824e/assent/server/oidc"
	"github.com/seed-3a5b824e/assent/server/store"
)

// freshCode runs a relying party's flow in a browser that is signed in
// already and returns the code (not redeemed).
func freshCode(t *testing.T, b *webBrowser, rp *relyingParty, login string) string {
	t.Helper()
	pg, _ := b.walk(b.get(rp.authURL()), login, nil, nil)
	return rp.codeFrom(pg.away)
}

func TestOIDCBadTokenRequestsGetTheirRFC6749ErrorsAndNothingIsIssued(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	u, d, _ := e.enrolled("ivy")
	rp := newRelyingParty(t, e, "grafana", nil)
	other := newRelyingParty(t, e, "gitea", nil)
	b := newWebBrowser(t, e)
	b.signInTo(rp, "ivy", d) // the browser is signed in; codes now come without a prompt
	tokenURL := e.url + assentoidc.PathToken
	issuedBefore := countIssued(t, e, u.ID)

	exchange := func(form url.Values, user, pass string) (int, string) {
		status, m := postForm(t, tokenURL, form, user, pass)
		if _, ok := m["access_token"]; ok {
			t.Fatalf("tokens issued for %v", form)
		}
		code, _ := m["error"].(string)
		return status, code
	}
	codeForm := func(code, verifier, redirect string) url.Values {
		return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {redirect}}
	}
	cases := []struct {
		name       string
		form       func() (url.Values, string, string)
		status     int
		error      string
		stillValid bool // the right exchange of the same code works after
	}{
		{"wrong PKCE verifier", func() (url.Values, string, string) {
			return codeForm(freshCode(t, b, rp, "ivy"), oauth2.GenerateVerifier(), rp.conf.RedirectURL), rp.app.ID, rp.secret
		}, 400, "invalid_grant", true},
		{"no PKCE verifier", func() (url.Values, string, string) {
			f := codeForm(freshCode(t, b, rp, "ivy"), "", rp.conf.RedirectURL)
			f.Del("code_verifier")
			return f, rp.app.ID, rp.secret
		}, 400, "invalid_request", true},
		{"wrong redirect_uri", func() (url.Values, string, string) {
			return codeForm(freshCode(t, b, rp, "ivy"), rp.pkce, "http://127.0.0.1:9/other"), rp.app.ID, rp.secret
		}, 400, "invalid_grant", true},
		{"unknown client", func() (url.Values, string, string) {
			return codeForm(freshCode(t, b, rp, "ivy"), rp.pkce, rp.conf.RedirectURL), "app_nobodyknowsthis", "x"
		}, 401, "invalid_client", true},
		{"bad client secret", func() (url.Values, string, string) {
			return codeForm(freshCode(t, b, rp, "ivy"), rp.pkce, rp.conf.RedirectURL), rp.app.ID, rp.secret + "x"
		}, 401, "invalid_client", true},
		{"no client authentication", func() (url.Values, string, string) {
			f := codeForm(freshCode(t, b, rp, "ivy"), rp.pkce, rp.conf.RedirectURL)
			f.Set("client_id", rp.app.ID)
			return f, "", ""
		}, 401, "invalid_client", true},
		{"another client's code", func() (url.Values, string, string) {
			return codeForm(freshCode(t, b, rp, "ivy"), rp.pkce, rp.conf.RedirectURL), other.app.ID, other.secret
		}, 400, "invalid_grant", true},
		{"made-up code", func() (url.Values, string, string) {
			return codeForm("ac_"+strings.Repeat("A", 43), rp.pkce, rp.conf.RedirectURL), rp.app.ID, rp.secret
		}, 400, "invalid_grant", false},
		{"expired code", func() (url.Values, string, string) {
			f := codeForm(freshCode(t, b, rp, "ivy"), rp.pkce, rp.conf.RedirectURL)
			e.clock.Advance(2 * time.Minute)
			return f, rp.app.ID, rp.secret
		}, 400, "invalid_grant", false},
		{"a parameter twice", func() (url.Values, string, string) {
			f := codeForm(freshCode(t, b, rp, "ivy"), rp.pkce, rp.conf.RedirectURL)
			f.Add("redirect_uri", "http://127.0.0.1:9/other")
			return f, rp.app.ID, rp.secret
		}, 400, "invalid_request", true},
		{"client credentials grant", func() (url.Values, string, string) {
			return url.Values{"grant_type": {"client_credentials"}}, rp.app.ID, rp.secret
		}, 400, "unsupported_grant_type", false},
		{"password grant", func() (url.Values, string, string) {
			return url.Values{"grant_type": {"password"}, "username": {"ivy"}, "password": {"correct horse battery"}}, rp.app.ID, rp.secret
		}, 400, "unsupported_grant_type", false},
		{"JWT bearer grant", func() (url.Values, string, string) {
			return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"x.y.z"}}, rp.app.ID, rp.secret
		}, 400, "unsupported_grant_type", false},
		{"client assertion", func() (url.Values, string, string) {
			f := codeForm(freshCode(t, b, rp, "ivy"), rp.pkce, rp.conf.RedirectURL)
			f.Set("client_id", rp.app.ID)
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			f.Set("client_assertion", "x.y.z")
			return f, "", ""
		}, 401, "invalid_client", true},
	}
	for _, c := range cases {
		form, user, pass := c.form()
		status, code := exchange(form, user, pass)
		if status != c.status || code != c.error {
			t.Errorf("%s: %d %q, want %d %q", c.name, status, code, c.status, c.error)
		}
		if c.stillValid {
			if _, err := rp.conf.Exchange(e.ctx, form.Get("code"), oauth2.VerifierOption(rp.pkce)); err != nil {
				t.Errorf("%s: the refused attempt spent the code: %v", c.name, err)
			}
			issuedBefore++
		}
	}
	if n := countIssued(t, e, u.ID); n != issuedBefore {
		t.Fatalf("%d token responses, want %d", n, issuedBefore)
	}
	evs, _ := e.st.ListAudit(e.ctx, store.AuditFilter{Types: []string{"oidc.token_refused"}})
	if len(evs) < len(cases) {
		t.Fatalf("%d oidc.token_refused events for %d refusals", len(evs), len(cases))
	}
	if evs[0].Detail["error"] == "" || evs[0].Detail["client_id"] == "" {
		t.Fatalf("refusal event %+v", evs[0])
	}
}

func countIssued(t *testing.T, e *env, userID string) int {
	t.Helper()
	n := 0
	for _, typ := range e.auditTypes(userID) {
		if typ == "oidc.token_issued" {
			n++
		}
	}
	return n
}

func TestOIDCReusedCodeRevokesEverythingItGave(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	_, d, _ := e.enrolled("jo")
	rp := newRelyingParty(t, e, "grafana", nil)
	b := newWebBrowser(t, e)
	pg, _ := b.walk(b.get(rp.authURL()), "jo", d, nil)
	code := rp.codeFrom(pg.away)
	si := rp.exchange(code)
	next, err := rp.refresh(si.token.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	// An attacker who saw the code replays it.
	if _, err := rp.conf.Exchange(e.ctx, code, oauth2.VerifierOption(rp.pkce)); oauthError(err) != "invalid_grant" {
		t.Fatalf("replayed code: %v", err)
	}
	for _, tok := range []string{si.token.AccessToken, next.AccessToken} {
		if _, err := rp.userInfo(tok); err == nil {
			t.Fatal("a token from the replayed code still works")
		}
	}
	if _, err := rp.refresh(next.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Fatalf("refresh in the revoked family: %v", err)
	}
	evs, _ := e.st.ListAudit(e.ctx, store.AuditFilter{Types: []string{"oidc.code_reuse"}})
	if len(evs) != 1 || evs[0].Detail["revoked"] == "0" {
		t.Fatalf("code reuse events %+v", evs)
	}
}

func TestOIDCAuthorizeNeverRedirectsToAnUnregisteredAddress(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	rp := newRelyingParty(t, e, "grafana", nil)
	b := newWebBrowser(t, e)
	base, _ := url.Parse(rp.authURL())
	for name, change := range map[string]url.Values{
		"unknown client":       {"client_id": {"app_unknown"}},
		"unregistered address": {"redirect_uri": {"https://evil.example/callback"}},
		"longer address":       {"redirect_uri": {rpCallback + "x"}},
		"other port":           {"redirect_uri": {strings.Replace(rpCallback, ":9/", ":10/", 1)}},
		"no address":           {"redirect_uri": {""}},
		"address twice":        {"redirect_uri": {rpCallback, "http://127.0.0.1:10/callback"}},
	} {
		u := *base
		q := u.Query()
		for k, v := range change {
			q[k] = v
		}
		u.RawQuery = q.Encode()
		pg := b.get(u.String())
		if pg.away != nil || pg.status != http.StatusBadRequest || pg.name() != "oidc-message" {
			t.Errorf("%s: %d away=%v page %q", name, pg.status, pg.away, pg.name())
		}
		if pg.name() == "oidc-message" && !strings.Contains(pg.body, "registered") && !strings.Contains(pg.body, "more than once") {
			t.Errorf("%s: the page does not say why: %.300s", name, pg.body)
		}
	}
	// A public client must use PKCE with S256; an error goes back to it.
	cli := newRelyingParty(t, e, "cli", map[string][]string{assentoidc.SettingPublic: {"true"}})
	for name, opts := range map[string][]oauth2.AuthCodeOption{
		"no PKCE":    nil,
		"plain PKCE": {oauth2.SetAuthURLParam("code_challenge", oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("code_challenge_method", "plain")},
	} {
		cli.state = "st-" + strings.ReplaceAll(name, " ", "-")
		pg := b.get(cli.conf.AuthCodeURL(cli.state, opts...))
		if pg.away == nil || pg.away.Query().Get("error") != "invalid_request" || pg.away.Query().Get("state") != cli.state {
			t.Errorf("public client, %s: %d away=%v", name, pg.status, pg.away)
		}
	}
	// Implicit and hybrid flows are not offered.
	pg := b.get(rp.authURL(oauth2.SetAuthURLParam("response_type", "id_token token")))
	if pg.away != nil && (pg.away.Query().Get("error") == "" || strings.Contains(pg.away.String(), "token=")) || pg.away == nil && pg.status != http.StatusBadRequest {
		t.Errorf("implicit flow: %d away=%v", pg.status, pg.away)
	}
}

func TestOIDCPublicClientRefreshAndRevocation(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	_, d, _ := e.enrolled("kim")
	cli := newRelyingParty(t, e, "desktop", map[string][]string{assentoidc.SettingPublic: {"true"}})
	si, _ := newWebBrowser(t, e).signInTo(cli, "kim", d)
	if cli.secret != "" {
		t.Fatal("a public client got a secret")
	}
	next, err := cli.refresh(si.token.RefreshToken)
	if err != nil {
		t.Fatalf("public client refresh: %v", err)
	}
	// Revocation by the public client (client_id only) takes the family.
	status, _ := postForm(t, e.url+assentoidc.PathRevoke, url.Values{"token": {next.RefreshToken}, "client_id": {cli.app.ID}}, "", "")
	if status != http.StatusOK {
		t.Fatalf("revoke = %d", status)
	}
	if _, err := cli.userInfo(next.AccessToken); err == nil {
		t.Fatal("the family's access token outlived the revocation")
	}
	// Introspection needs an authenticated client: a public one has none.
	status, m := postForm(t, e.url+assentoidc.PathIntrospect, url.Values{"token": {next.AccessToken}, "client_id": {cli.app.ID}}, "", "")
	if status != http.StatusUnauthorized || m["active"] == true {
		t.Fatalf("unauthenticated introspection = %d %v", status, m)
	}
}

func TestOIDCIntrospectionIsForTheTokensOwnClient(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	_, d, _ := e.enrolled("lou")
	rp := newRelyingParty(t, e, "grafana", nil)
	other := newRelyingParty(t, e, "gitea", nil)
	si, _ := newWebBrowser(t, e).signInTo(rp, "lou", d)
	status, m := postForm(t, e.url+assentoidc.PathIntrospect, url.Values{"token": {si.token.AccessToken}}, rp.app.ID, rp.secret)
	if status != http.StatusOK || m["active"] != true || m["username"] != "lou" || m["client_id"] != rp.app.ID {
		t.Fatalf("introspection = %d %v", status, m)
	}
	if amr, _ := m["amr"].([]any); !slices.Contains(amr, any("swk")) {
		t.Fatalf("introspection amr %v", m["amr"])
	}
	if _, m := postForm(t, e.url+assentoidc.PathIntrospect, url.Values{"token": {si.token.AccessToken}}, other.app.ID, other.secret); m["active"] != false {
		t.Fatalf("another client's introspection = %v", m)
	}
	if status, _ := postForm(t, e.url+assentoidc.PathIntrospect, url.Values{"token": {si.token.AccessToken}}, rp.app.ID, "wrong"); status != http.StatusUnauthorized {
		t.Fatalf("introspection with a wrong secret = %d", status)
	}
}

package e2e

// OpenID Connect flows end to end: relying parties written with
// coreos/go-oidc and x/oauth2 sign people in through the hosted pages
// (walked without JavaScript), a real app/core device approves the push,
// and every ID token is verified against the provider's JWKS.

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/seed-3a5b824e/assent/app/core"
	assentoidc "github.com/seed-3a5b824e/assent/server/oidc"
)

func TestOIDCCodeFlowWithPKCEAndAPushSignsInAndRefreshes(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	u, d, _ := e.enrolled("ana")
	rp := newRelyingParty(t, e, "grafana", nil)
	b := newWebBrowser(t, e)

	si, seen := b.signInTo(rp, "ana", d)
	if !slices.Equal(seen, []string{"signin", "password", "select", "push"}) {
		t.Fatalf("sign-in pages %v", seen)
	}
	c := si.claims
	if c.Subject != u.ID || c.PreferredUsername != "ana" || c.Name != "ana" || c.Email != "ana@example.com" {
		t.Fatalf("claims %+v", c)
	}
	if c.EmailVerified == nil || *c.EmailVerified {
		t.Errorf("email_verified %v: nothing verified the address in this sign-in", c.EmailVerified)
	}
	for _, m := range []string{"pwd", "swk", "mfa"} {
		if !slices.Contains(c.AMR, m) {
			t.Errorf("amr %v lacks %s", c.AMR, m)
		}
	}
	if c.ACR != assentoidc.ACRMFA {
		t.Errorf("acr %q, want %s", c.ACR, assentoidc.ACRMFA)
	}
	if c.AuthTime != e.clock.Now().Unix() || c.SID == "" || c.Groups == nil {
		t.Errorf("auth_time %d (want %d), sid %q, groups %v", c.AuthTime, e.clock.Now().Unix(), c.SID, c.Groups)
	}
	if !strings.Contains(jwtHeader(t, si.raw), `"alg":"RS256"`) {
		t.Errorf("header %s", jwtHeader(t, si.raw))
	}
	info, err := rp.userInfo(si.token.AccessToken)
	if err != nil || info.Subject != u.ID || info.Email != "ana@example.com" {
		t.Fatalf("userinfo = %+v, %v", info, err)
	}

	// Refresh: a new refresh token each time; the ID token keeps the
	// sign-in's auth_time, amr and sid.
	next, err := rp.refresh(si.token.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if next.RefreshToken == "" || next.RefreshToken == si.token.RefreshToken {
		t.Fatalf("refresh did not rotate: %q", next.RefreshToken)
	}
	ri := rp.verify(next, false)
	if ri.claims.AuthTime != c.AuthTime || ri.claims.SID != c.SID || !slices.Equal(ri.claims.AMR, c.AMR) || ri.claims.Nonce != "" {
		t.Fatalf("refreshed claims %+v, first %+v", ri.claims, c)
	}
	if _, err := rp.userInfo(next.AccessToken); err != nil {
		t.Fatalf("userinfo with the refreshed token: %v", err)
	}
	// The old refresh token again: reuse; the family is revoked, the
	// newest tokens with it.
	if _, err := rp.refresh(si.token.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Fatalf("reused refresh token: %v", err)
	}
	if _, err := rp.refresh(next.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Fatalf("the newest refresh token after a reuse: %v", err)
	}
	if _, err := rp.userInfo(next.AccessToken); err == nil {
		t.Fatal("userinfo answers a token of a revoked family")
	}
	types := e.auditTypes(u.ID)
	for _, want := range []string{"oidc.signed_in", "oidc.code_issued", "oidc.token_issued", "oidc.refresh_reuse"} {
		if !slices.Contains(types, want) {
			t.Errorf("audit log of ana lacks %s: %v", want, types)
		}
	}
	evs, _ := e.st.ListAudit(e.ctx, storeAuditAll())
	for _, ev := range evs {
		for _, v := range ev.Detail {
			for _, tok := range []string{si.token.AccessToken, si.token.RefreshToken, next.AccessToken, next.RefreshToken} {
				if strings.Contains(v, tok) {
					t.Fatalf("audit event %s holds a token", ev.Type)
				}
			}
		}
	}
}

func TestOIDCES256ClientsTokensVerifyAgainstTheJWKS(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	_, d, _ := e.enrolled("ben")
	es := newRelyingParty(t, e, "modern", map[string][]string{assentoidc.SettingIDTokenAlg: {"ES256"}})
	rs := newRelyingParty(t, e, "classic", nil)
	b := newWebBrowser(t, e)
	si, _ := b.signInTo(es, "ben", d)
	if h := jwtHeader(t, si.raw); !strings.Contains(h, `"alg":"ES256"`) || !strings.Contains(h, `"kid"`) {
		t.Fatalf("ES256 client's header %s", h)
	}
	next, err := es.refresh(si.token.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if h := jwtHeader(t, es.verify(next, false).raw); !strings.Contains(h, `"alg":"ES256"`) {
		t.Fatalf("refreshed header %s", h)
	}
	// The RS256 client, signed on by the same session, gets RS256.
	si, seen := b.signInTo(rs, "ben", d)
	if len(seen) != 0 || !strings.Contains(jwtHeader(t, si.raw), `"alg":"RS256"`) {
		t.Fatalf("RS256 client: pages %v, header %s", seen, jwtHeader(t, si.raw))
	}
}

func TestOIDCSingleSignOnToASecondClientWithoutAPrompt(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	_, d, _ := e.enrolled("cai")
	grafana := newRelyingParty(t, e, "grafana", nil)
	gitea := newRelyingParty(t, e, "gitea", nil)
	b := newWebBrowser(t, e)
	first, _ := b.signInTo(grafana, "cai", d)
	e.clock.Advance(time.Minute)
	second, seen := b.signInTo(gitea, "cai", d)
	if len(seen) != 0 {
		t.Fatalf("the second client showed sign-in pages %v", seen)
	}
	if ps, _ := d.Challenges(e.ctx); len(ps) != 0 {
		t.Fatalf("the second client sent %d pushes", len(ps))
	}
	if second.claims.AuthTime != first.claims.AuthTime || second.claims.SID != first.claims.SID || second.claims.ACR != first.claims.ACR {
		t.Fatalf("single sign-on claims %+v, first %+v", second.claims, first.claims)
	}
	// prompt=none now answers with a code at once.
	pg := b.get(gitea.authURL(oauth2.SetAuthURLParam("prompt", "none")))
	gitea.exchange(gitea.codeFrom(pg.away))
	// A browser without a session gets login_required.
	pg = newWebBrowser(t, e).get(gitea.authURL(oauth2.SetAuthURLParam("prompt", "none")))
	if pg.away == nil || pg.away.Query().Get("error") != "login_required" || pg.away.Query().Get("state") != gitea.state {
		t.Fatalf("prompt=none without a session: %v", pg.away)
	}
}

const notesPolicy = `
signOn:
  - name: Notes with a password
    conditions: {apps: [notes]}
    action: {factors: 1, reauthenticate: 8h}
  - name: Default
    action: {factors: 2, reauthenticate: 8h}
`

func TestOIDCACRValuesStepAPasswordOnlySessionUpToThePush(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{}, withPolicy(t, notesPolicy))
	_, d, _ := e.enrolled("dee")
	notes := newRelyingParty(t, e, "notes", nil)
	b := newWebBrowser(t, e)

	si, seen := b.signInTo(notes, "dee", d)
	if !slices.Equal(seen, []string{"signin", "password"}) || si.claims.ACR != "" || !slices.Equal(si.claims.AMR, []string{"pwd"}) {
		t.Fatalf("password-only sign-in: pages %v, claims %+v", seen, si.claims)
	}
	// An acr value this server does not know is ignored: no step-up.
	si, seen = b.signInTo(notes, "dee", d, oauth2.SetAuthURLParam("acr_values", "urn:example:gold"))
	if len(seen) != 0 || si.claims.ACR != "" {
		t.Fatalf("unknown acr value: pages %v, acr %q", seen, si.claims.ACR)
	}
	// Two factors with a device: only the push is asked.
	si, seen = b.signInTo(notes, "dee", d, oauth2.SetAuthURLParam("acr_values", assentoidc.ACRMFA))
	if slices.Contains(seen, "password") || !slices.Contains(seen, "push") {
		t.Fatalf("step-up to mfa went through %v, want the push and not the password", seen)
	}
	if si.claims.ACR != assentoidc.ACRMFA || !slices.Contains(si.claims.AMR, "swk") {
		t.Fatalf("after the step-up: %+v", si.claims)
	}
	// With user verification, from another browser's password-only
	// session: the push must be approved behind the app lock.
	pin := []byte("482916")
	if err := d.SetLock(core.LockPIN, pin, nil); err != nil {
		t.Fatal(err)
	}
	b = newWebBrowser(t, e)
	b.signInTo(notes, "dee", d)
	pg, seen := b.walk(b.get(notes.authURL(oauth2.SetAuthURLParam("acr_values", assentoidc.ACRMFAUV+" "+assentoidc.ACRMFA))), "dee", d, pin)
	si = notes.exchange(notes.codeFrom(pg.away))
	if slices.Contains(seen, "password") || !slices.Contains(seen, "push") || si.claims.ACR != assentoidc.ACRMFAUV || !slices.Contains(si.claims.AMR, "user") {
		t.Fatalf("step-up to mfa-uv: pages %v, claims %+v", seen, si.claims)
	}
}

func TestOIDCMaxAgeAndPromptLoginForceAFreshSignIn(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	_, d, _ := e.enrolled("eli")
	rp := newRelyingParty(t, e, "grafana", nil)
	b := newWebBrowser(t, e)
	first, _ := b.signInTo(rp, "eli", d)
	e.clock.Advance(10 * time.Minute)

	si, seen := b.signInTo(rp, "eli", d, oauth2.SetAuthURLParam("max_age", "3600"))
	if len(seen) != 0 || si.claims.AuthTime != first.claims.AuthTime {
		t.Fatalf("max_age=3600 after 10 minutes: pages %v, auth_time %d", seen, si.claims.AuthTime)
	}
	si, seen = b.signInTo(rp, "eli", d, oauth2.SetAuthURLParam("max_age", "300"))
	if !slices.Contains(seen, "password") || !slices.Contains(seen, "push") || si.claims.AuthTime != e.clock.Now().Unix() {
		t.Fatalf("max_age=300 after 10 minutes: pages %v, auth_time %d (now %d)", seen, si.claims.AuthTime, e.clock.Now().Unix())
	}
	e.clock.Advance(time.Minute)
	si, seen = b.signInTo(rp, "eli", d, oauth2.SetAuthURLParam("prompt", "login"))
	if !slices.Contains(seen, "password") || !slices.Contains(seen, "push") || si.claims.AuthTime != e.clock.Now().Unix() {
		t.Fatalf("prompt=login: pages %v, auth_time %d (now %d)", seen, si.claims.AuthTime, e.clock.Now().Unix())
	}
}

func TestOIDCLogoutEndsTheSessionAndTheClientsTokens(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	u, d, _ := e.enrolled("fay")
	const bye = "http://127.0.0.1:9/bye"
	rp := newRelyingParty(t, e, "grafana", map[string][]string{assentoidc.SettingPostLogoutURI: {bye}})
	other := newRelyingParty(t, e, "gitea", nil)
	b := newWebBrowser(t, e)
	si, _ := b.signInTo(rp, "fay", d)
	oi, _ := b.signInTo(other, "fay", d)

	end := func(q url.Values) *webPage { return b.get(assentoidc.PathEndSession + "?" + q.Encode()) }
	// Only a registered address: an unregistered one changes nothing.
	if pg := end(url.Values{"id_token_hint": {si.raw}, "post_logout_redirect_uri": {"https://evil.example/"}}); pg.away != nil || pg.status != http.StatusBadRequest {
		t.Fatalf("unregistered post-logout URI: %d away=%v", pg.status, pg.away)
	}
	if _, err := rp.userInfo(si.token.AccessToken); err != nil {
		t.Fatal("a refused logout revoked the tokens")
	}
	pg := end(url.Values{"id_token_hint": {si.raw}, "post_logout_redirect_uri": {bye}, "state": {"xyz"}})
	if pg.away == nil || !strings.HasPrefix(pg.away.String(), bye) || pg.away.Query().Get("state") != "xyz" {
		t.Fatalf("logout: %d away=%v", pg.status, pg.away)
	}
	if _, err := rp.refresh(si.token.RefreshToken); oauthError(err) != "invalid_grant" {
		t.Fatalf("refresh after logout: %v", err)
	}
	if _, err := rp.userInfo(si.token.AccessToken); err == nil {
		t.Fatal("userinfo after logout")
	}
	// The other client's tokens are the other client's business.
	if _, err := other.refresh(oi.token.RefreshToken); err != nil {
		t.Fatalf("the other client's refresh after logout: %v", err)
	}
	// The browser is signed out: the next sign-in asks again.
	if _, seen := b.signInTo(rp, "fay", d); !slices.Contains(seen, "password") {
		t.Fatalf("after logout the sign-in went through %v", seen)
	}
	if !slices.Contains(e.auditTypes(u.ID), "oidc.logout") {
		t.Fatal("no oidc.logout in the audit log")
	}
	// Without an ID token naming the user, another site could have sent
	// the browser: the person is asked.
	pg = b.get(assentoidc.PathEndSession)
	if pg.name() != "oidc-logout" {
		t.Fatalf("logout without a hint shows %q", pg.name())
	}
	pg = b.post("/oidc/end_session/confirm", url.Values{"csrf": {pg.csrf()}, "id": {oidcFormID(pg)}, "decision": {"signout"}})
	if pg.name() != "oidc-logged-out" {
		t.Fatalf("after confirming: %q", pg.name())
	}
	if _, seen := b.signInTo(rp, "fay", d); !slices.Contains(seen, "password") {
		t.Fatalf("after the confirmed logout the sign-in went through %v", seen)
	}
}

package oidc

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

func TestConfigureChecksSettingsAndShowsNoSecret(t *testing.T) {
	ok := []map[string][]string{
		{SettingRedirectURI: {"https://grafana.example.com/login/generic_oauth"}},
		{SettingRedirectURI: {"http://127.0.0.1:8000/callback", "http://[::1]:8000/cb", "http://localhost:18000"}, SettingPublic: {"true"}},
		{SettingDevice: {"true"}, SettingPublic: {"true"}},
		{SettingRedirectURI: {"https://a.example/cb"}, SettingIDTokenAlg: {"es256"}, SettingPostLogoutURI: {"https://a.example/"}},
	}
	for _, s := range ok {
		config, secret, err := configureClient(context.Background(), "x", s)
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		var c clientConfig
		if err := json.Unmarshal(config, &c); err != nil {
			t.Fatal(err)
		}
		if c.Public != (secret == "") || (secret != "" && len(secret) < 43) {
			t.Fatalf("%v: public %v, secret %q", s, c.Public, secret)
		}
		if secret != "" && (strings.Contains(string(config), secret) || !(&client{conf: c}).checkSecret(secret)) {
			t.Fatal("the config holds the secret, or the secret does not check")
		}
		for _, d := range describeClient(config) {
			if (secret != "" && strings.Contains(d.Value, secret)) || (c.SecretHash != "" && strings.Contains(d.Value, c.SecretHash)) {
				t.Fatalf("Describe shows the secret or its hash: %v", d)
			}
		}
	}
	bad := map[string]map[string][]string{
		"loopback":        {SettingRedirectURI: {"http://app.example.com/cb"}},
		"fragment":        {SettingRedirectURI: {"https://a.example/cb#x"}},
		"wildcard":        {SettingRedirectURI: {"https://*.example.com/cb"}},
		"relative":        {SettingRedirectURI: {"/cb"}},
		"scheme":          {SettingRedirectURI: {"com.example.app:/cb"}},
		"userinfo":        {SettingRedirectURI: {"https://u:p@a.example/cb"}},
		"none":            {},
		"alg":             {SettingRedirectURI: {"https://a.example/cb"}, SettingIDTokenAlg: {"HS256"}},
		"flag":            {SettingRedirectURI: {"https://a.example/cb"}, SettingPublic: {"maybe"}},
		"post-logout URI": {SettingRedirectURI: {"https://a.example/cb"}, SettingPostLogoutURI: {"http://a.example/"}},
	}
	for name, s := range bad {
		if _, _, err := configureClient(context.Background(), "x", s); err == nil {
			t.Errorf("%s: %v accepted", name, s)
		} else if name == "loopback" && !strings.Contains(err.Error(), "loopback") {
			t.Errorf("the http refusal does not say why: %v", err)
		}
	}
}

func TestTokenCryptoAndFormats(t *testing.T) {
	c := tokenCrypto{}
	at := newSecret(prefixAccess)
	enc, err := c.Encrypt(at + ":usr_123")
	if err != nil || enc != at {
		t.Fatalf("Encrypt(access) = %q, %v", enc, err)
	}
	if dec, err := c.Decrypt(at); err != nil || dec != at+":" {
		t.Fatalf("Decrypt = %q, %v", dec, err)
	}
	code, err := c.Encrypt(newID(prefixAuthRequest))
	if err != nil || !validSecret(code, prefixCode) {
		t.Fatalf("Encrypt(auth request) = %q, %v", code, err)
	}
	for _, s := range []string{"", "x", "ar_x:y", "at_short:sub", "eyJhbGciOi.x.y"} {
		if _, err := c.Encrypt(s); err == nil && !strings.HasPrefix(s, prefixAuthRequest) {
			t.Errorf("Encrypt(%q) accepted", s)
		}
	}
	for _, s := range []string{"", at[:20], code, "rt_" + at[3:], at + "=", "eyJhbGciOi.x.y"} {
		if _, err := c.Decrypt(s); err == nil {
			t.Errorf("Decrypt(%q) accepted", s)
		}
	}
}

func TestUserCodes(t *testing.T) {
	for in, want := range map[string]string{
		"BCDF-GHJK": "BCDFGHJK", "bcdf ghjk": "BCDFGHJK", "bcdfghjk": "BCDFGHJK",
		"BCDF-GHJ": "", "BCDF-GHJA": "", "BCDF-GHJK-X": "", "": "", strings.Repeat("B", 40): "",
	} {
		if got := normalizeUserCode(in); got != want {
			t.Errorf("normalizeUserCode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiscoveryPublishesWhatTheProviderDoes(t *testing.T) {
	e := newEnv(t, envOpts{})
	resp, err := http.Get(e.url + PathDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	if d["issuer"] != e.url || d["authorization_endpoint"] != e.url+PathAuthorize || d["token_endpoint"] != e.url+PathToken ||
		d["jwks_uri"] != e.url+PathKeys || d["end_session_endpoint"] != e.url+PathEndSession ||
		d["device_authorization_endpoint"] != e.url+PathDeviceAuthorization || d["introspection_endpoint"] != e.url+PathIntrospect ||
		d["revocation_endpoint"] != e.url+PathRevoke || d["userinfo_endpoint"] != e.url+PathUserinfo {
		t.Fatalf("endpoints: %v", d)
	}
	list := func(k string) []string {
		var out []string
		for _, v := range d[k].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	if got := list("acr_values_supported"); !slices.Equal(got, []string{ACRMFA, ACRMFAUV, ACRPhR}) {
		t.Errorf("acr_values_supported %v", got)
	}
	if got := list("code_challenge_methods_supported"); !slices.Equal(got, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported %v", got)
	}
	if got := list("response_types_supported"); !slices.Equal(got, []string{"code"}) {
		t.Errorf("response_types_supported %v", got)
	}
	if got := list("grant_types_supported"); slices.Contains(got, "implicit") || slices.Contains(got, "urn:ietf:params:oauth:grant-type:jwt-bearer") ||
		!slices.Contains(got, "urn:ietf:params:oauth:grant-type:device_code") {
		t.Errorf("grant_types_supported %v", got)
	}
	if got := list("id_token_signing_alg_values_supported"); !slices.Equal(got, []string{"RS256", "ES256"}) {
		t.Errorf("id_token_signing_alg_values_supported %v", got)
	}
	if got := list("scopes_supported"); !slices.Contains(got, "groups") {
		t.Errorf("scopes_supported %v", got)
	}
}

func TestIssuerMustBeHTTPSOffLoopback(t *testing.T) {
	e := newEnv(t, envOpts{})
	if e.p().Issuer() != e.url {
		t.Fatalf("issuer %q", e.p().Issuer())
	}
	if _, err := Attach(e.srv(), Options{}); err == nil {
		t.Fatal("a second Attach on one server was taken")
	}
	// Attach on a server whose URL is plain http off loopback is refused;
	// the engine refuses such a URL too, so this checks the check itself.
	for _, u := range []string{"http://sso.example.com", "ftp://x", "https://sso.example.com/path"} {
		if err := checkIssuer(u); err == nil {
			t.Errorf("issuer %q accepted", u)
		}
	}
	for _, u := range []string{"https://sso.example.com", "http://127.0.0.1:8080", "http://localhost:9000", "http://[::1]:1"} {
		if err := checkIssuer(u); err != nil {
			t.Errorf("issuer %q refused: %v", u, err)
		}
	}
}

func TestNodesFinishEachOthersFlowsOnPostgreSQL(t *testing.T) {
	e := newEnv(t, envOpts{postgres: true, nodes: 2})
	u := e.addUser("ana")
	r := confidential(e, "wiki")
	b := e.browser()
	e.use(0)
	pg := b.get(r.authorizeURL(e.url, nil))
	if pg.name() != "signin" {
		t.Fatalf("authorize on node 0 went to %q", pg.name())
	}
	e.use(1)
	code := r.code(t, b.signIn(pg, "ana"))
	e.use(0)
	tr := r.exchange(e, code)
	if tr.status != http.StatusOK {
		t.Fatalf("exchange on node 0 = %+v", tr)
	}
	e.use(1)
	if st, info := e.userinfo(tr.AccessToken); st != http.StatusOK || info["sub"] != u.ID {
		t.Fatalf("userinfo on node 1 = %d %v", st, info)
	}
	rt := r.refresh(e, tr.RefreshToken)
	if rt.status != http.StatusOK {
		t.Fatalf("refresh on node 1 = %+v", rt)
	}
	// Both nodes sign with the one current key, and publish it.
	if header(t, tr.IDToken)["kid"] != header(t, rt.IDToken)["kid"] {
		t.Fatal("the nodes signed with different keys")
	}
	e.use(0)
	if re := r.refresh(e, tr.RefreshToken); re.Error != "invalid_grant" {
		t.Fatalf("reuse on node 0 = %+v", re)
	}
	e.use(1)
	if st, _ := e.userinfo(rt.AccessToken); st == http.StatusOK {
		t.Fatal("node 1 still takes a token node 0 revoked")
	}
}

func TestKeysAreMadeOnceRotatedAndPublishedUntilTheirTokensExpire(t *testing.T) {
	e := newEnv(t, envOpts{postgres: true, nodes: 2})
	keys, err := Keys(e.ctx, e.srv())
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 || !keys[0].Current || !keys[1].Current || keys[0].Alg != AlgRS256 || keys[1].Alg != AlgES256 {
		t.Fatalf("two nodes starting made %+v, want one current key of each algorithm", keys)
	}
	gs, _ := e.st.ListGrants(e.ctx, store.GrantFilter{Kind: kindKey})
	for _, g := range gs {
		if strings.Contains(string(g.Data), "PRIVATE") {
			t.Fatal("a private key is stored in clear")
		}
	}
	e.addUser("ana")
	r := confidential(e, "wiki")
	_, code := signedInCode(t, e, r, "ana")
	before := r.exchange(e, code)
	oldKid := header(t, before.IDToken)["kid"]

	rotated, err := RotateKeys(e.ctx, e.srv())
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated) != 4 {
		t.Fatalf("after rotation: %+v", rotated)
	}
	for _, k := range rotated {
		if k.ID == oldKid && (k.Current || k.ExpiresAt.IsZero()) {
			t.Fatalf("the old key %+v is still current or never expires", k)
		}
	}
	for _, n := range e.nodes {
		n.p.keys.load(e.ctx, true) // as if the cache had run out
	}
	_, code = signedInCode(t, e, r, "ana")
	after := r.exchange(e, code)
	if kid := header(t, after.IDToken)["kid"]; kid == oldKid {
		t.Fatal("a rotated key still signs")
	}
	if kids := jwksKids(t, e); !slices.Contains(kids, oldKid.(string)) || len(kids) != 4 {
		t.Fatalf("JWKS %v, want the old key with the new ones", kids)
	}
	e.clock.Advance(keyRetirement + time.Minute)
	for _, n := range e.nodes {
		n.p.keys.load(e.ctx, true)
	}
	if kids := jwksKids(t, e); slices.Contains(kids, oldKid.(string)) || len(kids) != 2 {
		t.Fatalf("JWKS %v after the old tokens expired", kids)
	}
}

func jwksKids(t *testing.T, e *env) []string {
	t.Helper()
	resp, err := http.Get(e.url + PathKeys)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatal("the JWKS publishes a private key")
		}
		out = append(out, k.Kid)
	}
	return out
}

func TestES256ClientGetsES256IDTokens(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	a, secret := e.client("modern", map[string][]string{SettingRedirectURI: {redirectURI}, SettingIDTokenAlg: {"ES256"}})
	r := newRP(a.ID, secret)
	_, code := signedInCode(t, e, r, "ana")
	tr := r.exchange(e, code)
	if h := header(t, tr.IDToken); h["alg"] != "ES256" {
		t.Fatalf("ID token header %v", h)
	}
	if h := header(t, r.refresh(e, tr.RefreshToken).IDToken); h["alg"] != "ES256" {
		t.Fatalf("refreshed ID token header %v", h)
	}
	// Another client in the same moment still gets RS256.
	rs := confidential(e, "classic")
	_, code = signedInCode(t, e, rs, "ana")
	if h := header(t, rs.exchange(e, code).IDToken); h["alg"] != "RS256" {
		t.Fatalf("RS256 client's header %v", h)
	}
}

func TestRevocationAndIntrospection(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.addUser("ana")
	r := confidential(e, "wiki")
	other := confidential(e, "chat")
	_, code := signedInCode(t, e, r, "ana")
	tr := r.exchange(e, code)

	introspect := func(c *rp, tok string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, e.url+PathIntrospect, strings.NewReader(url.Values{"token": {tok}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.clientID, c.secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	revoke := func(c *rp, tok, hint string) int {
		form := url.Values{"token": {tok}}
		if hint != "" {
			form.Set("token_type_hint", hint)
		}
		req, _ := http.NewRequest(http.MethodPost, e.url+PathRevoke, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.clientID, c.secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if m := introspect(r, tr.AccessToken); m["active"] != true || m["sub"] == nil || m["client_id"] != r.clientID {
		t.Fatalf("introspection = %v", m)
	}
	if m := introspect(other, tr.AccessToken); m["active"] != false {
		t.Fatalf("another client's introspection = %v", m)
	}
	bad := *r
	bad.secret = "wrong"
	if m := introspect(&bad, tr.AccessToken); m["active"] == true {
		t.Fatalf("introspection with a wrong secret = %v", m)
	}
	if st := revoke(other, tr.AccessToken, ""); st == http.StatusOK {
		t.Fatalf("another client revoked the token (%d)", st)
	}
	if st := revoke(r, "at_not-a-token", ""); st != http.StatusOK {
		t.Fatalf("revoking an unknown token = %d, want 200 (RFC 7009)", st)
	}
	if st := revoke(r, tr.AccessToken, "access_token"); st != http.StatusOK {
		t.Fatalf("revoke = %d", st)
	}
	if m := introspect(r, tr.AccessToken); m["active"] != false {
		t.Fatalf("a revoked token introspects %v", m)
	}
	// Revoking the refresh token takes the family.
	nt := r.refresh(e, tr.RefreshToken)
	if st := revoke(r, nt.RefreshToken, ""); st != http.StatusOK {
		t.Fatalf("revoke refresh = %d", st)
	}
	if st, _ := e.userinfo(nt.AccessToken); st == http.StatusOK {
		t.Fatal("the family's access token outlived its refresh token")
	}
	if !slices.Contains(e.auditTypes(), "oidc.token_revoked") {
		t.Fatal("no oidc.token_revoked")
	}
}

func TestSuspendedUsersTokensStopWorking(t *testing.T) {
	e := newEnv(t, envOpts{})
	u := e.addUser("ana")
	r := confidential(e, "wiki")
	_, code := signedInCode(t, e, r, "ana")
	tr := r.exchange(e, code)
	if _, err := e.st.UpdateUser(e.ctx, u.ID, func(u *store.User) error { u.Status = store.UserSuspended; return nil }); err != nil {
		t.Fatal(err)
	}
	if st, _ := e.userinfo(tr.AccessToken); st == http.StatusOK {
		t.Fatal("userinfo answers for a suspended user")
	}
	if rt := r.refresh(e, tr.RefreshToken); rt.Error != "invalid_grant" {
		t.Fatalf("refresh for a suspended user = %+v", rt)
	}
}

func TestAccessTokensExpire(t *testing.T) {
	e := newEnv(t, envOpts{opts: Options{AccessTokenTTL: 10 * time.Minute}})
	e.addUser("ana")
	r := confidential(e, "wiki")
	_, code := signedInCode(t, e, r, "ana")
	tr := r.exchange(e, code)
	if tr.ExpiresIn < 590 || tr.ExpiresIn > 600 {
		t.Errorf("expires_in %d, want 600", tr.ExpiresIn)
	}
	e.clock.Advance(11 * time.Minute)
	if st, _ := e.userinfo(tr.AccessToken); st == http.StatusOK {
		t.Fatal("an expired access token works")
	}
	if rt := r.refresh(e, tr.RefreshToken); rt.status != http.StatusOK {
		t.Fatalf("refresh after the access token expired = %+v", rt)
	}
}

func TestPagesRenderWithTheLayout(t *testing.T) {
	e := newEnv(t, envOpts{})
	for _, path := range []string{PathDevice, pathLoggedOut, PathDevice + "?user_code=bcdf-ghjk"} {
		resp, err := http.Get(e.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `data-page="oidc-`) || resp.Header.Get("Content-Security-Policy") != pageCSP {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body)
		}
		if strings.Contains(string(body), "<script>") || strings.Contains(string(body), "style=") {
			t.Fatalf("%s has inline script or style", path)
		}
	}
}

func TestACRNamesTheStrongestLevelTheAMRReaches(t *testing.T) {
	for _, c := range []struct {
		amr  []string
		want string
	}{
		{[]string{"pwd"}, ""},
		{[]string{"pwd", "otp", "mfa"}, ACRMFA},
		{[]string{"pwd", "swk", "user", "mfa"}, ACRMFAUV},
		{[]string{"pwd", "swk", "phr", "mfa"}, ACRPhR},
		{[]string{"hwk", "phr", "user", "mfa"}, ACRPhR},
		// A passkey that did not verify the person is one factor.
		{[]string{"hwk", "phr"}, ""},
	} {
		if got := acrOf(c.amr); got != c.want {
			t.Errorf("acrOf(%v) = %q, want %q", c.amr, got, c.want)
		}
	}
	if got := levelOf([]string{"urn:unknown", ACRPhR}); got != server.LevelPhR {
		t.Errorf("acr_values %v ask level %q, want %q", []string{"urn:unknown", ACRPhR}, got, server.LevelPhR)
	}
}

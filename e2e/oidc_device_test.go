package e2e

// The device authorization grant (RFC 8628) end to end: a command-line
// tool written with x/oauth2 asks for a code and polls; a person types the
// code at /oidc/device, signs in with a push, and allows or denies.

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	assentoidc "github.com/seed-3a5b824e/assent/server/oidc"
)

// deviceCLI is a command-line tool: a public client allowed the device
// grant.
func deviceCLI(t *testing.T, e *env, name string) *relyingParty {
	t.Helper()
	return newRelyingParty(t, e, name, map[string][]string{assentoidc.SettingPublic: {"true"}, assentoidc.SettingDevice: {"true"}})
}

// pollOnce asks the token endpoint once, as the tool's poll does.
func pollOnce(t *testing.T, e *env, cli *relyingParty, deviceCode string) (int, string) {
	t.Helper()
	status, m := postForm(t, e.url+assentoidc.PathToken, url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"},
		"device_code": {deviceCode}, "client_id": {cli.app.ID}}, "", "")
	code, _ := m["error"].(string)
	return status, code
}

func TestOIDCDeviceGrantSignsACommandLineToolInWithAPush(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	u, d, _ := e.enrolled("gus")
	cli := deviceCLI(t, e, "kubectl")
	da, err := cli.conf.DeviceAuth(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if da.VerificationURI != e.url+assentoidc.PathDevice || !strings.Contains(da.VerificationURIComplete, "user_code=") || da.Interval != 1 {
		t.Fatalf("device authorization %+v", da)
	}
	type result struct {
		tok *oauth2.Token
		err error
	}
	done := make(chan result, 1)
	ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
	defer cancel()
	go func() {
		tok, err := cli.conf.DeviceAccessToken(ctx, da)
		done <- result{tok, err}
	}()

	b := newWebBrowser(t, e)
	pg := b.get(da.VerificationURIComplete)
	if pg.name() != "oidc-device" || !strings.Contains(pg.body, da.UserCode) {
		t.Fatalf("verification page %q does not show the code %s", pg.name(), da.UserCode)
	}
	pg = b.post(assentoidc.PathDevice, url.Values{"csrf": {pg.csrf()}, "user_code": {strings.ToLower(strings.ReplaceAll(da.UserCode, "-", " "))}})
	pg, seen := b.walk(pg, "gus", d, nil)
	if pg.name() != "oidc-device-confirm" || !slices.Contains(seen, "push") {
		t.Fatalf("after the code: pages %v, then %q", seen, pg.name())
	}
	if !strings.Contains(pg.body, "kubectl") || !strings.Contains(pg.body, da.UserCode) {
		t.Fatal("the confirmation does not name the app and the code")
	}
	pg = b.post("/oidc/device/confirm", url.Values{"csrf": {pg.csrf()}, "id": {oidcFormID(pg)}, "decision": {"allow"}})
	if pg.name() != "oidc-device-done" {
		t.Fatalf("after allowing: %q", pg.name())
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("the tool's poll: %v", res.err)
	}
	si := cli.verify(res.tok, false)
	if si.claims.Subject != u.ID || !slices.Contains(si.claims.AMR, "swk") || si.claims.ACR != assentoidc.ACRMFA || si.claims.SID == "" {
		t.Fatalf("device ID token claims %+v", si.claims)
	}
	if info, err := cli.userInfo(res.tok.AccessToken); err != nil || info.Subject != u.ID {
		t.Fatalf("userinfo = %+v, %v", info, err)
	}
	if res.tok.RefreshToken == "" {
		t.Fatal("no refresh token for offline_access")
	}
	if _, err := cli.refresh(res.tok.RefreshToken); err != nil {
		t.Fatalf("the tool's refresh: %v", err)
	}
	// The device code is spent.
	if _, code := pollOnce(t, e, cli, da.DeviceCode); code == "" {
		t.Fatal("a spent device code gave tokens again")
	}
	types := e.auditTypes(u.ID)
	if !slices.Contains(types, "oidc.device_approved") || !slices.Contains(types, "oidc.token_issued") {
		t.Fatalf("audit %v", types)
	}
}

func TestOIDCDeviceGrantDeniedExpiredAndGuessedCodes(t *testing.T) {
	e, _ := newOIDCEnv(t, assentoidc.Options{})
	_, d, _ := e.enrolled("hal")
	cli := deviceCLI(t, e, "kubectl")

	// Waiting: authorization_pending, and slow_down for a poll too fast.
	da, err := cli.conf.DeviceAuth(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, code := pollOnce(t, e, cli, da.DeviceCode); code != "authorization_pending" {
		t.Fatalf("first poll = %q, want authorization_pending", code)
	}
	if _, code := pollOnce(t, e, cli, da.DeviceCode); code != "slow_down" {
		t.Fatalf("a poll within the interval = %q, want slow_down", code)
	}

	// Denied: the tool is told access_denied.
	if da, err = cli.conf.DeviceAuth(e.ctx); err != nil {
		t.Fatal(err)
	}
	b := newWebBrowser(t, e)
	pg := b.get(assentoidc.PathDevice)
	pg = b.post(assentoidc.PathDevice, url.Values{"csrf": {pg.csrf()}, "user_code": {da.UserCode}})
	pg, _ = b.walk(pg, "hal", d, nil)
	pg = b.post("/oidc/device/confirm", url.Values{"csrf": {pg.csrf()}, "id": {oidcFormID(pg)}, "decision": {"deny"}})
	if pg.name() != "oidc-device-denied" {
		t.Fatalf("after denying: %q", pg.name())
	}
	if _, code := pollOnce(t, e, cli, da.DeviceCode); code != "access_denied" {
		t.Fatalf("poll after deny = %q", code)
	}

	// Expired: expired_token, and the code no longer takes a person.
	da, err = cli.conf.DeviceAuth(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(11 * time.Minute)
	if _, code := pollOnce(t, e, cli, da.DeviceCode); code != "expired_token" {
		t.Fatalf("poll after expiry = %q", code)
	}
	pg = b.get(assentoidc.PathDevice)
	if pg = b.post(assentoidc.PathDevice, url.Values{"csrf": {pg.csrf()}, "user_code": {da.UserCode}}); pg.status != http.StatusBadRequest {
		t.Fatalf("an expired user code: %d %q", pg.status, pg.name())
	}

	// A made-up device code, or one of another client: nothing.
	other := deviceCLI(t, e, "terraform")
	da, _ = cli.conf.DeviceAuth(e.ctx)
	if _, code := pollOnce(t, e, other, da.DeviceCode); code == "" || code == "authorization_pending" {
		t.Fatalf("another client's poll = %q", code)
	}
	if _, code := pollOnce(t, e, cli, "made-up"); code == "" || code == "authorization_pending" {
		t.Fatalf("a made-up device code = %q", code)
	}

	// A client not allowed the grant is refused at the start.
	web := newRelyingParty(t, e, "webonly", nil)
	if _, err := web.conf.DeviceAuth(e.ctx); err == nil {
		t.Fatal("a client without the device grant started one")
	}

	// Guessing codes: a wrong code says so; past 20 tries from one network
	// (two were typed above) even a right one waits.
	for i := range 25 {
		pg = b.get(assentoidc.PathDevice)
		code := "BCDF-GHJK"
		if i == 24 {
			code = da.UserCode
		}
		pg = b.post(assentoidc.PathDevice, url.Values{"csrf": {pg.csrf()}, "user_code": {code}})
		switch {
		case i < 18 && pg.status != http.StatusBadRequest:
			t.Fatalf("wrong code %d: %d", i, pg.status)
		case i >= 18 && pg.status != http.StatusTooManyRequests:
			t.Fatalf("code %d past the limit: %d", i, pg.status)
		}
	}
	// A post without the page's token is refused.
	if pg = b.post(assentoidc.PathDevice, url.Values{"user_code": {da.UserCode}}); pg.status != http.StatusForbidden {
		t.Fatalf("a post without the CSRF token: %d", pg.status)
	}
}

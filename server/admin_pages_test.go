package server

// Tests of the admin and account pages' device and risk actions, written
// as an attacker tries them first: posts without the confirmation step,
// from another site, with another user's device, with a session that has
// ended, fifty at once; then the way that works. A real SQLite file, the
// server's real handler chain.

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store"
)

// pageClient is one browser of a test: its session cookie, if any.
type pageClient struct {
	t       *testing.T
	s       *Server
	session string
	// header is set on every request (Origin, Sec-Fetch-Site).
	header http.Header
}

func (c *pageClient) do(method, path string, form url.Values) *httptest.ResponseRecorder {
	c.t.Helper()
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	req := httptest.NewRequest(method, path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if c.session != "" {
		req.AddCookie(&http.Cookie{Name: "assent-session", Value: c.session})
	}
	rec := httptest.NewRecorder()
	c.s.Handler().ServeHTTP(rec, req)
	return rec
}

// testSession makes a session of u for app, authenticated at authAt, and
// returns its token.
func testSession(t *testing.T, s *Server, u store.User, app string, authAt, expires time.Time, amr ...string) string {
	t.Helper()
	if len(amr) == 0 {
		amr = []string{"pwd", "swk", "mfa"}
	}
	tok := crypto.RandomToken(32)
	if err := s.st.CreateSession(context.Background(), store.Session{ID: crypto.HashToken(tok), UserID: u.ID, App: app, AMR: amr,
		AuthTime: authAt, Risk: "low", CreatedAt: authAt, ExpiresAt: expires}); err != nil {
		t.Fatal(err)
	}
	return tok
}

// testDevice enrolls a device for u straight in the store.
func testDevice(t *testing.T, s *Server, u store.User, name, platform string) store.Device {
	t.Helper()
	ctx := context.Background()
	now := s.now()
	tok := crypto.RandomToken(32)
	if err := s.st.CreateEnrollToken(ctx, store.EnrollToken{Hash: crypto.HashToken(tok), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	d, err := s.st.CompleteEnrollment(ctx, crypto.HashToken(tok), now, store.Device{ID: newID("dev_"), PublicKey: []byte(`{}`), Name: name, Platform: platform,
		TOTPAlgorithm: "SHA1", TOTPDigits: 6, TOTPPeriod: 30, CreatedAt: now.Add(-48 * time.Hour), LastSeen: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func testUser(t *testing.T, s *Server, login string, groups ...string) store.User {
	t.Helper()
	u, err := s.AddUser(context.Background(), NewUser{Login: login, Email: login + "@example.com", Groups: groups})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// auditCount counts events of a type about a user.
func auditCount(t *testing.T, s *Server, userID, typ string) int {
	t.Helper()
	evs, err := s.st.ListAudit(context.Background(), store.AuditFilter{UserID: userID, Types: []string{typ}})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func deviceRevoked(t *testing.T, s *Server, id string) bool {
	t.Helper()
	d, err := s.st.GetDevice(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return !d.RevokedAt.IsZero()
}

var hiddenRE = regexp.MustCompile(`<input type="hidden" name="(csrf|confirm)" value="([^"]+)">`)

// hiddenFields reads a page's hidden csrf and confirm fields.
func hiddenFields(t *testing.T, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

func wantPage(t *testing.T, what string, rec *httptest.ResponseRecorder, status int, page string) {
	t.Helper()
	if rec.Code != status || !strings.Contains(rec.Body.String(), `data-page="`+page+`"`) {
		t.Fatalf("%s = %d, want %d and the %s page:\n%.600s", what, rec.Code, status, page, rec.Body.String())
	}
}

func wantRedirect(t *testing.T, what string, rec *httptest.ResponseRecorder, location string) {
	t.Helper()
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != location {
		t.Fatalf("%s = %d to %q, want 303 to %q", what, rec.Code, rec.Header().Get("Location"), location)
	}
}

func TestAdminRevokeTakesItsConfirmationPage(t *testing.T) {
	s := newTestServer(t)
	now := time.Now()
	root := testUser(t, s, "root", AdminGroup)
	bob := testUser(t, s, "bob")
	vm1 := testDevice(t, s, bob, "vm", "linux")
	vm2 := testDevice(t, s, bob, "vm", "linux")
	admin := &pageClient{t: t, s: s, session: testSession(t, s, root, AppAdmin, now, now.Add(time.Hour))}

	// The users page tells bob's two "vm · linux" apart, and its Revoke
	// is a link to the confirmation, not a form that revokes.
	rec := admin.do("GET", "/admin", nil)
	wantPage(t, "GET /admin", rec, 200, "admin")
	page := rec.Body.String()
	for _, d := range []store.Device{vm1, vm2} {
		if !strings.Contains(page, `<code class="device-id" title="`+d.ID+`">`+shortID(d.ID)+`</code>`) {
			t.Fatalf("the admin page does not show %s's short ID %s", d.ID, shortID(d.ID))
		}
		if !strings.Contains(page, `href="/admin/devices/`+d.ID+`/revoke" id="revoke-`+d.ID+`"`) {
			t.Fatalf("the admin page has no Revoke link to the confirmation of %s", d.ID)
		}
	}
	if shortID(vm1.ID) == shortID(vm2.ID) {
		t.Fatal("two devices share a short ID")
	}
	if !strings.Contains(page, "Added "+vm1.CreatedAt.UTC().Format("2 Jan 2006")) || !strings.Contains(page, "Last seen "+formatWhen(vm1.LastSeen)) {
		t.Fatal("the admin page does not say when the devices were added and last seen")
	}
	csrf := s.web.csrfFor(sessionBinding(admin.session))

	// Posts that skip the confirmation page: the form's own token, none,
	// the token of another device's page, the token of another session.
	otherAdmin := testSession(t, s, root, AppAdmin, now, now.Add(time.Hour))
	for what, form := range map[string]url.Values{
		"no confirmation":                       {"csrf": {csrf}},
		"the session token as the confirmation": {"csrf": {csrf}, "confirm": {csrf}},
		"another device's confirmation":         {"csrf": {csrf}, "confirm": {s.web.confirmToken(admin.session, confirmRevoke, vm2.ID)}},
		"another session's confirmation":        {"csrf": {csrf}, "confirm": {s.web.confirmToken(otherAdmin, confirmRevoke, vm1.ID)}},
		"the account page's removal of it":      {"csrf": {csrf}, "confirm": {s.web.confirmToken(admin.session, confirmRemove, vm1.ID)}},
		"a confirmation with a stray character": {"csrf": {csrf}, "confirm": {s.web.confirmToken(admin.session, confirmRevoke, vm1.ID) + "A"}},
	} {
		rec := admin.do("POST", "/admin/devices/"+vm1.ID+"/revoke", form)
		wantPage(t, "revoke with "+what, rec, 200, "confirm")
		if deviceRevoked(t, s, vm1.ID) {
			t.Fatalf("revoke with %s revoked the device", what)
		}
	}

	// The confirmation page names the device and its owner.
	rec = admin.do("GET", "/admin/devices/"+vm1.ID+"/revoke", nil)
	wantPage(t, "the confirmation page", rec, 200, "confirm")
	if body := rec.Body.String(); !strings.Contains(body, `id="confirm-owner">bob<`) || !strings.Contains(body, shortID(vm1.ID)) {
		t.Fatalf("the confirmation page does not name the device and its owner:\n%s", body)
	}
	form := hiddenFields(t, rec.Body.String())
	if form.Get("confirm") == "" || form.Get("csrf") != csrf {
		t.Fatalf("the confirmation page's form = %v", form)
	}

	// Its form, from another site, or without the session token: refused.
	for what, h := range map[string]http.Header{
		"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": {"cross-site"}},
		"Sec-Fetch-Site same-site":  {"Sec-Fetch-Site": {"same-site"}},
		"Origin of another site":    {"Origin": {"https://evil.example"}},
	} {
		c := &pageClient{t: t, s: s, session: admin.session, header: h}
		rec := c.do("POST", "/admin/devices/"+vm1.ID+"/revoke", form)
		if rec.Code != http.StatusForbidden || deviceRevoked(t, s, vm1.ID) {
			t.Fatalf("the confirmed revoke with %s = %d, revoked %v; want 403 and nothing done", what, rec.Code, deviceRevoked(t, s, vm1.ID))
		}
	}
	rec = admin.do("POST", "/admin/devices/"+vm1.ID+"/revoke", url.Values{"confirm": {form.Get("confirm")}})
	if rec.Code != http.StatusForbidden || deviceRevoked(t, s, vm1.ID) {
		t.Fatalf("the confirmed revoke without the session token = %d", rec.Code)
	}
	// Someone outside the admins, with every token right for their session.
	bobClient := &pageClient{t: t, s: s, session: testSession(t, s, bob, AppAdmin, now, now.Add(time.Hour))}
	rec = bobClient.do("POST", "/admin/devices/"+vm1.ID+"/revoke", url.Values{
		"csrf": {s.web.csrfFor(sessionBinding(bobClient.session))}, "confirm": {s.web.confirmToken(bobClient.session, confirmRevoke, vm1.ID)}})
	if rec.Code != http.StatusForbidden || deviceRevoked(t, s, vm1.ID) {
		t.Fatalf("a non-admin's confirmed revoke = %d", rec.Code)
	}
	if n := auditCount(t, s, bob.ID, "device.revoked"); n != 0 {
		t.Fatalf("%d device.revoked events before any revocation", n)
	}

	// The confirmation, fifty times at once (a double click, many tabs):
	// one revocation, one audit event, all sent back to the users page.
	var wg sync.WaitGroup
	codes := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := admin.do("POST", "/admin/devices/"+vm1.ID+"/revoke", form)
			codes <- rec.Result().Status + " " + rec.Header().Get("Location")
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != "303 See Other /admin?revoked="+url.QueryEscape(vm1.ID) {
			t.Fatalf("a confirmed revoke answered %q", c)
		}
	}
	if !deviceRevoked(t, s, vm1.ID) || deviceRevoked(t, s, vm2.ID) {
		t.Fatal("the confirmed revoke did not revoke exactly the device asked")
	}
	evs, _ := s.st.ListAudit(context.Background(), store.AuditFilter{UserID: bob.ID, Types: []string{"device.revoked"}})
	if len(evs) != 1 || evs[0].DeviceID != vm1.ID || evs[0].Detail["by"] != "admin root" {
		t.Fatalf("%d device.revoked events (first %+v); want one, by admin root", len(evs), evs[:min(len(evs), 1)])
	}
	rec = admin.do("GET", "/admin?revoked="+url.QueryEscape(vm1.ID), nil)
	if !strings.Contains(rec.Body.String(), `id="revoked-`+vm1.ID+`"`) || !strings.Contains(rec.Body.String(), "was revoked") {
		t.Fatal("the users page does not show the revocation")
	}
	// An unknown device: the site's 404 page.
	rec = admin.do("GET", "/admin/devices/dev_nothing/revoke", nil)
	wantPage(t, "the confirmation of an unknown device", rec, 404, "notfound")
}

func TestAccountRemovesOnlyItsOwnDevicesOnce(t *testing.T) {
	s := newTestServer(t)
	now := time.Now()
	ana := testUser(t, s, "ana")
	bob := testUser(t, s, "bob")
	laptop := testDevice(t, s, ana, "vm", "linux")
	phone := testDevice(t, s, ana, "vm", "linux")
	bobs := testDevice(t, s, bob, "bob-phone", "android")
	c := &pageClient{t: t, s: s, session: testSession(t, s, ana, AppAccount, now, now.Add(time.Hour))}
	csrf := s.web.csrfFor(sessionBinding(c.session))

	rec := c.do("GET", "/account", nil)
	wantPage(t, "GET /account", rec, 200, "account")
	page := rec.Body.String()
	for _, d := range []store.Device{laptop, phone} {
		if !strings.Contains(page, `href="/account/devices/`+d.ID+`/remove"`) || !strings.Contains(page, shortID(d.ID)) {
			t.Fatalf("the account page has no Remove or short ID for %s", d.ID)
		}
	}
	if strings.Contains(page, bobs.ID) {
		t.Fatal("the account page shows another user's device")
	}

	// Another user's device gets the answer an unknown ID gets, on the
	// confirmation page and on the post — with a confirmation token right
	// for this session and that device, which no page of ours hands out.
	unknown := c.do("GET", "/account/devices/dev_AAAAAAAAAAAAAAAAAAAAAA/remove", nil)
	wantRedirect(t, "the confirmation of an unknown device", unknown, "/account?error=no_device")
	wantRedirect(t, "the confirmation of another user's device", c.do("GET", "/account/devices/"+bobs.ID+"/remove", nil), "/account?error=no_device")
	for _, id := range []string{bobs.ID, "dev_AAAAAAAAAAAAAAAAAAAAAA", strings.Repeat("x", 300)} {
		rec := c.do("POST", "/account/devices/"+id+"/remove", url.Values{"csrf": {csrf}, "confirm": {s.web.confirmToken(c.session, confirmRemove, id)}})
		wantRedirect(t, "removing "+id[:min(len(id), 30)], rec, "/account?error=no_device")
	}
	if deviceRevoked(t, s, bobs.ID) || auditCount(t, s, bob.ID, "device.revoked") != 0 {
		t.Fatal("removing another user's device changed it")
	}
	rec = c.do("GET", "/account?error=no_device", nil)
	if !strings.Contains(rec.Body.String(), "There is no such device on your account.") {
		t.Fatal("the account page does not say the device is unknown")
	}

	// Without the confirmation page's token: the confirmation, nothing done.
	for what, form := range map[string]url.Values{
		"no confirmation":               {"csrf": {csrf}},
		"the session token as it":       {"csrf": {csrf}, "confirm": {csrf}},
		"the admin's revoke confirming": {"csrf": {csrf}, "confirm": {s.web.confirmToken(c.session, confirmRevoke, laptop.ID)}},
		"another device's confirmation": {"csrf": {csrf}, "confirm": {s.web.confirmToken(c.session, confirmRemove, phone.ID)}},
	} {
		rec := c.do("POST", "/account/devices/"+laptop.ID+"/remove", form)
		wantPage(t, "removing with "+what, rec, 200, "confirm")
		if deviceRevoked(t, s, laptop.ID) {
			t.Fatalf("removing with %s removed the device", what)
		}
	}

	// The confirmation page, then its form from another site: refused.
	rec = c.do("GET", "/account/devices/"+laptop.ID+"/remove", nil)
	wantPage(t, "the confirmation page", rec, 200, "confirm")
	if strings.Contains(rec.Body.String(), `id="last-device"`) {
		t.Fatal("the confirmation warns of the last device while there are two")
	}
	form := hiddenFields(t, rec.Body.String())
	for _, h := range []http.Header{{"Sec-Fetch-Site": {"cross-site"}}, {"Origin": {"https://evil.example"}}} {
		x := &pageClient{t: t, s: s, session: c.session, header: h}
		if rec := x.do("POST", "/account/devices/"+laptop.ID+"/remove", form); rec.Code != http.StatusForbidden || deviceRevoked(t, s, laptop.ID) {
			t.Fatalf("a cross-site removal (%v) = %d", h, rec.Code)
		}
	}

	// Sessions that may not: ended, revoked, or too weak for the account
	// page (a password-only session of another app). Each is sent to sign
	// in, with every token right for it, and nothing changes.
	expired := testSession(t, s, ana, AppAccount, now.Add(-2*time.Hour), now.Add(-time.Minute))
	revoked := testSession(t, s, ana, AppAccount, now, now.Add(time.Hour))
	if err := s.st.RevokeSession(context.Background(), crypto.HashToken(revoked), now); err != nil {
		t.Fatal(err)
	}
	weak := testSession(t, s, ana, "intranet", now, now.Add(time.Hour), "pwd")
	for what, tok := range map[string]string{"expired": expired, "revoked": revoked, "password-only": weak} {
		x := &pageClient{t: t, s: s, session: tok}
		tokens := url.Values{"csrf": {s.web.csrfFor(sessionBinding(tok))}, "confirm": {s.web.confirmToken(tok, confirmRemove, laptop.ID)}}
		wantRedirect(t, "removing with an "+what+" session", x.do("POST", "/account/devices/"+laptop.ID+"/remove", tokens), signInFor(AppAccount, PathAccount))
		wantRedirect(t, "the confirmation with an "+what+" session", x.do("GET", "/account/devices/"+laptop.ID+"/remove", nil),
			signInFor(AppAccount, "/account/devices/"+laptop.ID+"/remove"))
	}
	if deviceRevoked(t, s, laptop.ID) || auditCount(t, s, ana.ID, "device.revoked") != 0 {
		t.Fatal("a refused removal changed something")
	}

	// The confirmed removal, fifty times at once: one revocation, one
	// audit event, every answer the same.
	var wg sync.WaitGroup
	answers := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := c.do("POST", "/account/devices/"+laptop.ID+"/remove", form)
			answers <- rec.Result().Status + " " + rec.Header().Get("Location")
		}()
	}
	wg.Wait()
	close(answers)
	for a := range answers {
		if a != "303 See Other /account?device=removed" {
			t.Fatalf("a confirmed removal answered %q", a)
		}
	}
	evs, _ := s.st.ListAudit(context.Background(), store.AuditFilter{UserID: ana.ID, Types: []string{"device.revoked"}})
	if len(evs) != 1 || evs[0].DeviceID != laptop.ID || evs[0].Detail["by"] != "user" {
		t.Fatalf("%d device.revoked events (first %+v); want exactly one, by the user", len(evs), evs[:min(len(evs), 1)])
	}
	if !deviceRevoked(t, s, laptop.ID) || deviceRevoked(t, s, phone.ID) {
		t.Fatal("the removal did not remove exactly the device asked")
	}
	rec = c.do("GET", "/account?device=removed", nil)
	if body := rec.Body.String(); strings.Contains(body, laptop.ID) || !strings.Contains(body, phone.ID) || !strings.Contains(body, "The device was removed.") {
		t.Fatal("the account page after the removal does not show it")
	}
	// The last device: the confirmation says so.
	rec = c.do("GET", "/account/devices/"+phone.ID+"/remove", nil)
	if !strings.Contains(rec.Body.String(), `id="last-device"`) {
		t.Fatal("the confirmation of the last device does not warn")
	}
	// A removed device cannot be removed again, nor confirmed.
	wantRedirect(t, "the confirmation of a removed device", c.do("GET", "/account/devices/"+laptop.ID+"/remove", nil), "/account?error=no_device")
}

func TestRiskResetIsForAdminsAndAudited(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	now := time.Now()
	root := testUser(t, s, "root", AdminGroup)
	bob := testUser(t, s, "bob")
	raise := func() {
		t.Helper()
		if _, err := s.st.UpdateUser(ctx, bob.ID, func(u *store.User) error { u.Risk, u.RiskSince = "high", now; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	risk := func() string {
		t.Helper()
		u, err := s.st.GetUser(ctx, bob.ID)
		if err != nil {
			t.Fatal(err)
		}
		return u.Risk
	}
	raise()
	path := "/admin/users/" + bob.ID + "/reset-risk"

	// bob himself, with a strong fresh session and his own tokens; nobody
	// signed in; another site.
	bobs := &pageClient{t: t, s: s, session: testSession(t, s, bob, AppAdmin, now, now.Add(time.Hour))}
	if rec := bobs.do("POST", path, url.Values{"csrf": {s.web.csrfFor(sessionBinding(bobs.session))}}); rec.Code != http.StatusForbidden {
		t.Fatalf("a non-admin's reset = %d, want 403", rec.Code)
	}
	wantRedirect(t, "a reset with no session", (&pageClient{t: t, s: s}).do("POST", path, url.Values{}), signInFor(AppAdmin, PathAdmin))
	admin := &pageClient{t: t, s: s, session: testSession(t, s, root, AppAdmin, now, now.Add(time.Hour))}
	csrf := s.web.csrfFor(sessionBinding(admin.session))
	cross := &pageClient{t: t, s: s, session: admin.session, header: http.Header{"Sec-Fetch-Site": {"cross-site"}}}
	if rec := cross.do("POST", path, url.Values{"csrf": {csrf}}); rec.Code != http.StatusForbidden {
		t.Fatalf("a cross-site reset = %d", rec.Code)
	}
	if rec := admin.do("POST", path, url.Values{}); rec.Code != http.StatusForbidden {
		t.Fatalf("a reset without the session token = %d", rec.Code)
	}
	// An admin session older than the admin area allows.
	stale := &pageClient{t: t, s: s, session: testSession(t, s, root, AppAdmin, now.Add(-time.Hour), now.Add(time.Hour))}
	wantRedirect(t, "a reset with an hour-old admin sign-in", stale.do("POST", path, url.Values{"csrf": {s.web.csrfFor(sessionBinding(stale.session))}}), signInFor(AppAdmin, PathAdmin))
	// The admin API without a token.
	req := httptest.NewRequest("POST", "/v1/admin/users/bob/reset-risk", nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("the API reset without a token = %d", rec.Code)
	}
	if risk() != "high" || auditCount(t, s, bob.ID, "user.risk_reset") != 0 {
		t.Fatal("a refused reset changed the risk")
	}

	// The admin page offers it for bob (high), not for root (low).
	page := admin.do("GET", "/admin", nil).Body.String()
	if !strings.Contains(page, `id="reset-risk-bob"`) || strings.Contains(page, `id="reset-risk-root"`) {
		t.Fatal("the admin page does not offer the reset for the high-risk user only")
	}
	wantRedirect(t, "the admin's reset", admin.do("POST", path, url.Values{"csrf": {csrf}}), "/admin?risk-reset="+bob.ID)
	if risk() != "low" {
		t.Fatalf("after the reset the risk is %q", risk())
	}
	evs, _ := s.st.ListAudit(ctx, store.AuditFilter{UserID: bob.ID, Types: []string{"user.risk_reset"}})
	if len(evs) != 1 || evs[0].Detail["by"] != "admin root" || evs[0].Detail["from"] != "high" {
		t.Fatalf("user.risk_reset events = %+v", evs)
	}
	if body := admin.do("GET", "/admin?risk-reset="+bob.ID, nil).Body.String(); !strings.Contains(body, "The risk of bob was reset to low.") {
		t.Fatal("the admin page does not say the risk was reset")
	}
	// Again at low: nothing to do, nothing audited.
	wantRedirect(t, "a second reset", admin.do("POST", path, url.Values{"csrf": {csrf}}), "/admin?risk-reset="+bob.ID)
	if n := auditCount(t, s, bob.ID, "user.risk_reset"); n != 1 {
		t.Fatalf("%d user.risk_reset events after a reset at low", n)
	}
	if rec := admin.do("POST", "/admin/users/usr_nobody/reset-risk", url.Values{"csrf": {csrf}}); rec.Code != http.StatusNotFound {
		t.Fatalf("resetting an unknown user = %d", rec.Code)
	}

	// The admin API, with a token.
	raise()
	tok, err := s.NewAdminToken(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	req = httptest.NewRequest("POST", "/v1/admin/users/BOB/reset-risk", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	var got AdminRiskReset
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got != (AdminRiskReset{Login: "bob", Risk: "low", Was: "high"}) {
		t.Fatalf("the API reset = %d %s", rec.Code, rec.Body)
	}
	if risk() != "low" || auditCount(t, s, bob.ID, "user.risk_reset") != 2 {
		t.Fatal("the API reset did not reset and audit")
	}
	req = httptest.NewRequest("POST", "/v1/admin/users/nobody/reset-risk", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"error":"no_user"`) {
		t.Fatalf("the API reset of an unknown user = %d %s", rec.Code, rec.Body)
	}
}

// TestUnknownAddressesGetTheSitesPageOrJSON: a mistyped page address gets
// the site's own 404 page; the APIs keep their JSON answer. (It needs the
// router's last route to be the pages' handleNotFound: see server.go's
// routes.)
func TestUnknownAddressesGetTheSitesPageOrJSON(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		method, path, accept string
		page                 bool
	}{
		{"GET", "/acount", "text/html", true},
		{"GET", "/admin/userz", "", true},
		{"GET", "/account/nothing/here", "*/*", true},
		{"HEAD", "/signin-now", "text/html", true},
		{"GET", "/v1/nothing", "text/html", false},
		{"GET", "/v1", "", false},
		{"POST", "/v1/admin/nothing", "", false},
		{"GET", "/oidc/nothing", "text/html", false},
		{"GET", "/.well-known/nothing", "text/html", false},
		{"GET", "/anything", "application/json", false},
		{"POST", "/acount", "text/html", false},
	} {
		req := httptest.NewRequest(tc.method, tc.path, nil)
		if tc.accept != "" {
			req.Header.Set("Accept", tc.accept)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		ct := rec.Header().Get("Content-Type")
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s %s = %d, want 404", tc.method, tc.path, rec.Code)
			continue
		}
		switch {
		case tc.page && !strings.HasPrefix(ct, "text/html"):
			t.Errorf("%s %s (Accept %q) = %s, want the site's 404 page (server.go's routes must end with m.HandleFunc(\"/\", s.web.handleNotFound))", tc.method, tc.path, tc.accept, ct)
		case tc.page && tc.method == "GET" && (!strings.Contains(rec.Body.String(), `data-page="notfound"`) || !strings.Contains(rec.Body.String(), "Page not found")):
			t.Errorf("%s %s: not the 404 page:\n%.400s", tc.method, tc.path, rec.Body)
		case tc.page && rec.Header().Get("Content-Security-Policy") != PageCSP:
			t.Errorf("%s %s: the 404 page lacks the pages' CSP", tc.method, tc.path)
		case !tc.page && (ct != "application/json" || (tc.method != "HEAD" && !strings.Contains(rec.Body.String(), `"error":"not_found"`))):
			t.Errorf("%s %s (Accept %q) = %s %s, want the JSON 404", tc.method, tc.path, tc.accept, ct, rec.Body)
		}
		if tc.page && (strings.Contains(rec.Body.String(), "acount") || strings.Contains(rec.Body.String(), "userz")) {
			t.Errorf("%s %s: the 404 page repeats the address asked for", tc.method, tc.path)
		}
	}
}

func TestShortIDTellsDevicesApart(t *testing.T) {
	for in, want := range map[string]string{"dev_Xy3k9QabcdEF": "Xy3k9Q", "dev_ab": "ab", "abcdefgh": "abcdef", "": ""} {
		if got := shortID(in); got != want {
			t.Errorf("shortID(%q) = %q, want %q", in, got, want)
		}
	}
}

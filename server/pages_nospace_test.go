package server

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// noSpaceDevices is a real store whose device and user updates fail for
// want of space, as a full disk makes them.
type noSpaceDevices struct{ store.Store }

func (noSpaceDevices) UpdateDevice(context.Context, string, func(*store.Device) error) (store.Device, error) {
	return store.Device{}, fmt.Errorf("sqlite: update device: %w: database or disk is full (13)", store.ErrNoSpace)
}

func (noSpaceDevices) UpdateUser(context.Context, string, func(*store.User) error) (store.User, error) {
	return store.User{}, fmt.Errorf("sqlite: update user: %w: database or disk is full (13)", store.ErrNoSpace)
}

// TestDevicePagesOutOfSpaceAre503: removing a device (account), revoking
// one and resetting a risk (admin) on a full disk answer 503 with
// Retry-After and "try again in a moment", as every other write does (not
// 500 "something went wrong"), with no database detail on the page.
func TestDevicePagesOutOfSpaceAre503(t *testing.T) {
	s := newTestServer(t)
	now := time.Now()
	ana := testUser(t, s, "ana")
	root := testUser(t, s, "root", AdminGroup)
	phone := testDevice(t, s, ana, "phone", "android")
	c := &pageClient{t: t, s: s, session: testSession(t, s, ana, AppAccount, now, now.Add(time.Hour))}
	admin := &pageClient{t: t, s: s, session: testSession(t, s, root, AppAdmin, now, now.Add(time.Hour))}
	s.st = noSpaceDevices{s.st}

	for what, rec := range map[string]*httptest.ResponseRecorder{
		"removing a device": c.do("POST", "/account/devices/"+phone.ID+"/remove", url.Values{
			"csrf": {s.web.csrfFor(sessionBinding(c.session))}, "confirm": {s.web.confirmToken(c.session, confirmRemove, phone.ID)}}),
		"revoking a device": admin.do("POST", "/admin/devices/"+phone.ID+"/revoke", url.Values{
			"csrf": {s.web.csrfFor(sessionBinding(admin.session))}, "confirm": {s.web.confirmToken(admin.session, confirmRevoke, phone.ID)}}),
		"resetting a risk": admin.do("POST", "/admin/users/"+ana.ID+"/reset-risk", url.Values{
			"csrf": {s.web.csrfFor(sessionBinding(admin.session))}}),
	} {
		body := rec.Body.String()
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
			!strings.Contains(body, "Try again in a moment") || strings.Contains(body, "sqlite") || strings.Contains(body, "(13)") {
			t.Errorf("%s on a full disk = %d Retry-After %q:\n%.800s\nwant 503, Retry-After, \"Try again in a moment\" and no database detail",
				what, rec.Code, rec.Header().Get("Retry-After"), body)
		}
	}
}

// TestAdminAPIOutOfSpaceIs503WithRetryAfter: the admin API's writes on a
// full disk answer 503 unavailable with Retry-After and the words every
// other write uses, not "cannot reach its database" with no Retry-After.
func TestAdminAPIOutOfSpaceIs503WithRetryAfter(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	testUser(t, s, "bob")
	tok, err := s.NewAdminToken(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	s.st = noSpaceDevices{s.st}
	req := httptest.NewRequest("POST", "/v1/admin/users/bob/reset-risk", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "10" || !strings.Contains(rec.Body.String(), "storage is full") {
		t.Fatalf("the API reset on a full disk = %d Retry-After %q %s; want 503, Retry-After 10, the storage is full",
			rec.Code, rec.Header().Get("Retry-After"), rec.Body)
	}
}

// noSpaceSessions is a real store whose session revocations fail for want
// of space.
type noSpaceSessions struct{ store.Store }

func (noSpaceSessions) RevokeSession(context.Context, string, time.Time) error {
	return fmt.Errorf("sqlite: revoke session: %w: database or disk is full (13)", store.ErrNoSpace)
}

func (noSpaceSessions) RevokeSessions(context.Context, string, time.Time) (int, error) {
	return 0, fmt.Errorf("sqlite: revoke sessions: %w: database or disk is full (13)", store.ErrNoSpace)
}

// TestSignOutPagesOutOfSpaceAre503: signing out, here or everywhere, on a
// full disk answers 503 with Retry-After and "try again in a moment", not
// 500, with no database detail on the page.
func TestSignOutPagesOutOfSpaceAre503(t *testing.T) {
	s := newTestServer(t)
	now := time.Now()
	ana := testUser(t, s, "ana")
	c := &pageClient{t: t, s: s, session: testSession(t, s, ana, AppAccount, now, now.Add(time.Hour))}
	s.st = noSpaceSessions{s.st}
	csrf := url.Values{"csrf": {s.web.csrfFor(sessionBinding(c.session))}}
	for what, rec := range map[string]*httptest.ResponseRecorder{
		"signing out":            c.do("POST", PathSignOut, csrf),
		"signing out everywhere": c.do("POST", PathAccount+"/signout-everywhere", csrf),
	} {
		body := rec.Body.String()
		if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" ||
			!strings.Contains(body, "Try again in a moment") || strings.Contains(body, "sqlite") {
			t.Errorf("%s on a full disk = %d Retry-After %q:\n%.800s\nwant 503, Retry-After and \"Try again in a moment\"",
				what, rec.Code, rec.Header().Get("Retry-After"), body)
		}
	}
}

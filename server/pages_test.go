package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

func TestSafeReturnKeepsOnlyPathsOnThisOrigin(t *testing.T) {
	for in, want := range map[string]string{
		"/account":                     "/account",
		"/app/home?tab=2#top":          "/app/home?tab=2#top",
		"":                             "",
		"account":                      "",
		"https://evil.example/x":       "",
		"//evil.example/x":             "",
		"/\\evil.example":              "",
		"\\\\evil.example":             "",
		"javascript:alert(1)":          "",
		"/ok\r\nSet-Cookie: x=y":       "",
		"http:/evil.example":           "",
		"/" + strings.Repeat("a", 600): "",
	} {
		if got := safeReturn(in); got != want {
			t.Errorf("safeReturn(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCSRFTokensAreBoundAndAgreeAcrossNodes(t *testing.T) {
	key := crypto.RandomBytes(32)
	node := func() *Server {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(context.Background(), Options{URL: "https://id.example.com", Store: st, SealKey: key,
			PasswordParams: crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown() })
		return s
	}
	a, b := node(), node()
	if a.web.csrfFor("tx:one") != b.web.csrfFor("tx:one") {
		t.Fatal("two nodes with the same seal key disagree on a CSRF token")
	}
	if a.web.csrfFor("tx:one") == a.web.csrfFor("tx:two") || a.web.csrfFor("tx:one") == a.web.csrfFor("session:one") {
		t.Fatal("CSRF tokens are not bound to what they protect")
	}
	// A transaction cookie sealed by one node opens on the other, and
	// https makes the cookies __Host- and Secure.
	rec := httptest.NewRecorder()
	a.web.saveTx(rec, &pageTx{Handle: "h", Return: "/x"})
	c := rec.Result().Cookies()[0]
	if c.Name != "__Host-assent-tx" || !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" {
		t.Fatalf("transaction cookie = %+v", c)
	}
	req := httptest.NewRequest(http.MethodGet, "/signin/step", nil)
	req.AddCookie(c)
	if t2, ok := b.web.loadTx(req); !ok || t2.Handle != "h" || t2.Return != "/x" {
		t.Fatalf("the other node reads %+v, %v", t2, ok)
	}
	// A changed cookie does not open.
	req = httptest.NewRequest(http.MethodGet, "/signin/step", nil)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value[:len(c.Value)-2] + "AA"})
	if _, ok := b.web.loadTx(req); ok {
		t.Fatal("a tampered transaction cookie was accepted")
	}
}

func TestDevMailAndAdminNeedTheirConditions(t *testing.T) {
	s := newTestServer(t)
	for path, want := range map[string]int{
		"/dev/mail":    http.StatusNotFound,
		"/admin":       http.StatusSeeOther,
		"/account":     http.StatusSeeOther,
		"/signin/step": http.StatusSeeOther,
		"/signin":      http.StatusOK,
	} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
		if csp := rec.Header().Get("Content-Security-Policy"); rec.Code != http.StatusSeeOther && csp != PageCSP {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	// Not signed in: the admin area sends people to sign in to it (its own
	// app, with its own rule) and back.
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/admin/audit", nil))
	if loc := rec.Header().Get("Location"); loc != "/signin?app=admin&return="+url.QueryEscape("/admin/audit") {
		t.Errorf("admin without a session goes to %q", loc)
	}
}

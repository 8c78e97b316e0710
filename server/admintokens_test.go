package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// flakyStore is a real store that fails the methods it is told to, as a
// database that went away would.
type flakyStore struct {
	store.Store
	mu   sync.Mutex
	down map[string]bool
}

var errFlaky = errors.New("flaky store: connection refused")

func (f *flakyStore) fail(methods ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = map[string]bool{}
	for _, m := range methods {
		f.down[m] = true
	}
}

func (f *flakyStore) err(method string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down[method] || f.down["*"] {
		return errFlaky
	}
	return nil
}

func (f *flakyStore) Ping(ctx context.Context) error {
	if err := f.err("Ping"); err != nil {
		return err
	}
	return f.Store.Ping(ctx)
}

func (f *flakyStore) GetAdminToken(ctx context.Context, hash string) (store.AdminToken, error) {
	if err := f.err("GetAdminToken"); err != nil {
		return store.AdminToken{}, err
	}
	return f.Store.GetAdminToken(ctx, hash)
}

func (f *flakyStore) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	if err := f.err("GetUserByLogin"); err != nil {
		return store.User{}, err
	}
	return f.Store.GetUserByLogin(ctx, login)
}

func (f *flakyStore) CreateUser(ctx context.Context, u store.User) error {
	if err := f.err("CreateUser"); err != nil {
		return err
	}
	return f.Store.CreateUser(ctx, u)
}

func (f *flakyStore) CreateEnrollToken(ctx context.Context, t store.EnrollToken) error {
	if err := f.err("CreateEnrollToken"); err != nil {
		return err
	}
	return f.Store.CreateEnrollToken(ctx, t)
}

func (f *flakyStore) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	if err := f.err("ListDevices"); err != nil {
		return nil, err
	}
	return f.Store.ListDevices(ctx, userID)
}

func (f *flakyStore) ListApps(ctx context.Context) ([]store.App, error) {
	if err := f.err("ListApps"); err != nil {
		return nil, err
	}
	return f.Store.ListApps(ctx)
}

func (f *flakyStore) GetAppByName(ctx context.Context, name string) (store.App, error) {
	if err := f.err("GetAppByName"); err != nil {
		return store.App{}, err
	}
	return f.Store.GetAppByName(ctx, name)
}

func (f *flakyStore) CreateApp(ctx context.Context, a store.App) error {
	if err := f.err("CreateApp"); err != nil {
		return err
	}
	return f.Store.CreateApp(ctx, a)
}

func (f *flakyStore) DeleteApp(ctx context.Context, id string) error {
	if err := f.err("DeleteApp"); err != nil {
		return err
	}
	return f.Store.DeleteApp(ctx, id)
}

// adminNode is a server on st read through the clock, with no listener.
func adminNode(t *testing.T, st store.Store, clock *fakeclock.Clock, seal []byte) *Server {
	t.Helper()
	s, err := New(context.Background(), Options{URL: "http://127.0.0.1:8080", Store: st, SealKey: seal, Now: clock.Now,
		PasswordParams: crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	return s
}

func openSQLite(t *testing.T, path string) store.Store {
	t.Helper()
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func wantAPI(t *testing.T, what string, code int, body string, wantCode int, wantErr string) {
	t.Helper()
	if code != wantCode || (wantErr != "" && !strings.Contains(body, `"error":"`+wantErr+`"`)) {
		t.Fatalf("%s = %d %s; want %d %s", what, code, body, wantCode, wantErr)
	}
}

func TestAdminTokenExpiresEvenWhenCached(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := adminNode(t, openSQLite(t, filepath.Join(t.TempDir(), "assent.db")), clock, crypto.RandomBytes(32))
	ctx := context.Background()

	for _, ttl := range []time.Duration{0, -time.Hour, MaxAdminTokenTTL + time.Hour} {
		if _, _, err := s.IssueAdminToken(ctx, "bad", ttl); err == nil {
			t.Fatalf("a token with ttl %s was made", ttl)
		}
	}
	tok, rec, err := s.IssueAdminToken(ctx, "short", 1200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "aat_") || !strings.HasPrefix(rec.ID, "tok_") || rec.Hash != crypto.HashToken(tok) || !rec.ExpiresAt.Equal(clock.Now().Add(1200*time.Millisecond)) {
		t.Fatalf("token %q, record %+v", tok, rec)
	}
	auth := "Bearer " + tok
	code, body := do(t, s, "GET", "/v1/admin/apps", auth, "", "")
	wantAPI(t, "list apps with a fresh token", code, body, 200, "")
	// A second on, the node reads the token again and may trust it for
	// another second — but not past its expiry, 0.2 s later.
	clock.Advance(time.Second)
	code, body = do(t, s, "GET", "/v1/admin/apps", auth, "", "")
	wantAPI(t, "list apps with a token 1 s old", code, body, 200, "")
	clock.Advance(200 * time.Millisecond)
	code, body = do(t, s, "GET", "/v1/admin/apps", auth, "", "")
	wantAPI(t, "list apps with a token at its expiry", code, body, 401, "unauthorized")
	clock.Advance(time.Hour)
	code, body = do(t, s, "GET", "/v1/admin/apps", auth, "", "")
	wantAPI(t, "list apps with a token long expired", code, body, 401, "unauthorized")

	// The created event names the token but never holds it.
	evs, err := s.st.ListAudit(ctx, store.AuditFilter{Types: []string{"admin.token_created"}})
	if err != nil || len(evs) != 1 {
		t.Fatalf("token_created events = %v, %v", evs, err)
	}
	if d := evs[0].Detail; d["id"] != rec.ID || d["name"] != "short" || d["expires"] == "" {
		t.Fatalf("token_created detail = %v", d)
	}
	raw, _ := json.Marshal(evs)
	if strings.Contains(string(raw), tok) || strings.Contains(string(raw), rec.Hash) {
		t.Fatal("the audit log holds the token or its hash")
	}
}

func TestAdminTokenCacheNeverTrustsPastExpiryOrBackwards(t *testing.T) {
	var c tokenCache
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	c.remember("h", t0, t0.Add(time.Hour))
	for _, tc := range []struct {
		at   time.Time
		want bool
	}{
		{t0, true}, {t0.Add(999 * time.Millisecond), true}, {t0.Add(time.Second), false},
		{t0.Add(-time.Millisecond), false}, // the clock went back
	} {
		if got := c.known("h", tc.at); got != tc.want {
			t.Errorf("known at %s = %v, want %v", tc.at.Sub(t0), got, tc.want)
		}
	}
	c.remember("e", t0, t0.Add(100*time.Millisecond))
	if c.known("e", t0.Add(100*time.Millisecond)) {
		t.Error("a token was trusted at its expiry")
	}
	if c.known("other", t0) {
		t.Error("an unknown hash was trusted")
	}
}

// TestRevokedAdminTokenRefusedOnASecondNode: two nodes on one SQLite file,
// each with its own clock. The second node used the token before it was
// revoked on the first; once its clock has moved on a second it refuses
// it, and so do fifty requests at once.
func TestRevokedAdminTokenRefusedOnASecondNode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "assent.db")
	seal := crypto.RandomBytes(32)
	start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clockA, clockB := fakeclock.New(start), fakeclock.New(start)
	a := adminNode(t, openSQLite(t, path), clockA, seal)
	b := adminNode(t, openSQLite(t, path), clockB, seal)
	ctx := context.Background()
	tok, rec, err := a.IssueAdminToken(ctx, "ci", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + tok
	code, body := do(t, b, "GET", "/v1/admin/apps", auth, "", "")
	wantAPI(t, "node B before the revocation", code, body, 200, "")

	got, already, err := a.RevokeAdminToken(ctx, rec.ID)
	if err != nil || already || got.ID != rec.ID || got.Name != "ci" || got.RevokedAt.IsZero() {
		t.Fatalf("revoke = %+v, %v, %v", got, already, err)
	}
	if _, already, err := a.RevokeAdminToken(ctx, rec.ID); err != nil || !already {
		t.Fatalf("revoke again = %v, %v; want already", already, err)
	}
	if _, _, err := a.RevokeAdminToken(ctx, "tok_nosuch"); !errors.Is(err, ErrAdminTokenNotFound) {
		t.Fatalf("revoke an unknown id = %v", err)
	}
	code, body = do(t, a, "GET", "/v1/admin/apps", auth, "", "")
	wantAPI(t, "node A after the revocation", code, body, 401, "unauthorized")

	clockB.Advance(time.Second)
	var wg sync.WaitGroup
	codes := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, body := do(t, b, "POST", "/v1/admin/apps", auth, `{"name":"evil"}`, "")
			if code != 401 || !strings.Contains(body, "unauthorized") {
				codes <- body
			}
		}()
	}
	wg.Wait()
	close(codes)
	for body := range codes {
		t.Errorf("node B let a revoked token through: %s", body)
	}
	if _, err := b.st.GetAppByName(ctx, "evil"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a revoked token made an app: %v", err)
	}
	evs, _ := a.st.ListAudit(ctx, store.AuditFilter{Types: []string{"admin.token_revoked"}})
	if len(evs) != 1 || evs[0].Detail["id"] != rec.ID {
		t.Fatalf("token_revoked events = %+v", evs)
	}
}

func TestAdminAuthRefusesAlikeAndSaysWhenTheStoreFails(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	fs := &flakyStore{Store: openSQLite(t, filepath.Join(t.TempDir(), "assent.db"))}
	s := adminNode(t, fs, clock, crypto.RandomBytes(32))
	ctx := context.Background()
	tok, _, err := s.IssueAdminToken(ctx, "t", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	unknown := "aat_" + crypto.RandomToken(32)
	var bodies []string
	for _, auth := range []string{"", "Basic " + tok, "Bearer " + unknown, "Bearer " + tok[:len(tok)-1], "Bearer " + tok + "x", "Bearer aat_", tok} {
		code, body := do(t, s, "GET", "/v1/admin/apps", auth, "", "")
		wantAPI(t, "auth "+auth, code, body, 401, "unauthorized")
		bodies = append(bodies, body)
	}
	for _, b := range bodies[1:] {
		if b != bodies[0] {
			t.Fatalf("refusals differ: %s vs %s", b, bodies[0])
		}
	}

	// The database is down: a valid token and an unknown one both get 503,
	// never 401 (the caller is not at fault) nor 200.
	fs.fail("GetAdminToken")
	for _, auth := range []string{"Bearer " + tok, "Bearer " + unknown} {
		code, body := do(t, s, "GET", "/v1/admin/apps", auth, "", "")
		wantAPI(t, "admin auth with the store down", code, body, 503, "unavailable")
		if !strings.Contains(body, "cannot reach its database") {
			t.Fatalf("503 body = %s", body)
		}
	}
}

func TestAdminAPIAnswers503WhenTheStoreFails(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	fs := &flakyStore{Store: openSQLite(t, filepath.Join(t.TempDir(), "assent.db"))}
	s := adminNode(t, fs, clock, crypto.RandomBytes(32))
	ctx := context.Background()
	tok, _, err := s.IssueAdminToken(ctx, "t", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser(ctx, NewUser{Login: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddApp(ctx, "wiki", ""); err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + tok
	// Each call moves the clock past the token cache, so that the token
	// is read each time; only the named methods fail.
	call := func(method, path, body string, failing ...string) (int, string) {
		clock.Advance(2 * time.Second)
		fs.fail(failing...)
		defer fs.fail()
		return do(t, s, method, path, auth, body, "")
	}

	// A user that truly does not exist is 404; a store that fails is 503.
	code, body := call("POST", "/v1/admin/push", `{"login":"nobody"}`)
	wantAPI(t, "push to an unknown user", code, body, 404, "no_user")
	code, body = call("POST", "/v1/admin/users/nobody/enroll", "")
	wantAPI(t, "enroll an unknown user", code, body, 404, "no_user")
	code, body = call("POST", "/v1/admin/push", `{"login":"ann"}`, "GetUserByLogin")
	wantAPI(t, "push with the user lookup failing", code, body, 503, "unavailable")
	code, body = call("POST", "/v1/admin/push", `{"login":"ann"}`, "ListDevices", "Ping")
	wantAPI(t, "push with the device list failing", code, body, 503, "unavailable")
	code, body = call("POST", "/v1/admin/users/ann/enroll", "", "GetUserByLogin")
	wantAPI(t, "enroll with the user lookup failing", code, body, 503, "unavailable")
	code, body = call("POST", "/v1/admin/users/ann/enroll", "", "CreateEnrollToken", "Ping")
	wantAPI(t, "enroll with the token write failing", code, body, 503, "unavailable")
	code, body = call("POST", "/v1/admin/users", `{"login":"bea"}`, "CreateUser", "Ping")
	wantAPI(t, "add a user with the store down", code, body, 503, "unavailable")
	code, body = call("POST", "/v1/admin/users/ann/enroll", "")
	wantAPI(t, "enroll with the store back", code, body, 200, "")

	code, body = call("GET", "/v1/admin/apps", "", "ListApps")
	wantAPI(t, "list apps with the store down", code, body, 503, "unavailable")
	code, body = call("POST", "/v1/admin/apps", `{"name":"crm"}`, "CreateApp")
	wantAPI(t, "add an app with the store down", code, body, 503, "unavailable")
	code, body = call("POST", "/v1/admin/apps", `{"name":"Bad Name"}`, "CreateApp")
	wantAPI(t, "add a badly named app with the store down", code, body, 400, "bad_request")
	code, body = call("DELETE", "/v1/admin/apps/wiki", "", "GetAppByName")
	wantAPI(t, "remove an app with the store down", code, body, 503, "unavailable")
	code, body = call("DELETE", "/v1/admin/apps/wiki", "", "DeleteApp")
	wantAPI(t, "remove an app with the delete failing", code, body, 503, "unavailable")
	if _, err := s.st.GetAppByName(ctx, "wiki"); err != nil {
		t.Fatalf("the app went although the store failed: %v", err)
	}
	code, body = call("DELETE", "/v1/admin/apps/wiki", "")
	wantAPI(t, "remove an app", code, body, http.StatusNoContent, "")
}

func TestAdminAPIManagesApps(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := adminNode(t, openSQLite(t, filepath.Join(t.TempDir(), "assent.db")), clock, crypto.RandomBytes(32))
	tok, _, err := s.IssueAdminToken(context.Background(), "t", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + tok
	code, body := do(t, s, "POST", "/v1/admin/apps", auth, `{"name":"wiki","type":"embedded"}`, "")
	wantAPI(t, "add wiki", code, body, 201, "")
	var a AdminApp
	if err := json.Unmarshal([]byte(body), &a); err != nil || a.Name != "wiki" || a.Type != "embedded" || a.Builtin || !strings.HasPrefix(a.ID, "app_") || !a.CreatedAt.Equal(clock.Now()) {
		t.Fatalf("added app = %s (%v)", body, err)
	}
	code, body = do(t, s, "POST", "/v1/admin/apps", auth, `{"name":"wiki"}`, "")
	wantAPI(t, "add wiki again", code, body, 409, "app_exists")
	for _, bad := range []string{`{"name":"Wiki"}`, `{"name":""}`, `{"name":"x","type":"oidc"}`, `{"name":"x","secret":"y"}`} {
		code, body = do(t, s, "POST", "/v1/admin/apps", auth, bad, "")
		wantAPI(t, "add "+bad, code, body, 400, "bad_request")
	}
	code, body = do(t, s, "GET", "/v1/admin/apps", auth, "", "")
	wantAPI(t, "list", code, body, 200, "")
	var list AdminApps
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range list.Apps {
		names = append(names, a.Name)
		if a.Builtin != (a.Name == AppAccount || a.Name == AppAdmin) {
			t.Errorf("app %s builtin = %v", a.Name, a.Builtin)
		}
	}
	if strings.Join(names, ",") != "account,admin,wiki" {
		t.Fatalf("apps = %v", names)
	}
	code, body = do(t, s, "DELETE", "/v1/admin/apps/admin", auth, "", "")
	wantAPI(t, "remove admin", code, body, 409, "builtin_app")
	code, body = do(t, s, "DELETE", "/v1/admin/apps/nosuch", auth, "", "")
	wantAPI(t, "remove nosuch", code, body, 404, "unknown_app")
	code, body = do(t, s, "DELETE", "/v1/admin/apps/wiki", auth, "", "")
	wantAPI(t, "remove wiki", code, body, 204, "")
	code, body = do(t, s, "DELETE", "/v1/admin/apps/wiki", "", "", "")
	wantAPI(t, "remove without a token", code, body, 401, "unauthorized")
}

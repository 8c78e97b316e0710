// Package e2e runs Assent end to end: a real assentd on a loopback port with
// a real SQLite file, and real app/core devices with real key stores, over
// real HTTP and WebSockets.
package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// cheap Argon2 costs keep tests fast under the race detector; production
// uses crypto.DefaultArgon2 and the file store's defaults.
var cheapArgon2 = crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}

type env struct {
	t     testing.TB
	ctx   context.Context
	srv   *server.Server
	st    store.Store
	url   string
	clock *fakeclock.Clock
	dir   string
}

func newEnv(t testing.TB, opts ...func(*server.Options)) *env {
	t.Helper()
	return newEnvOn(t, t.TempDir(), opts...)
}

// newEnvOn is newEnv with the database in dir (a small volume, say).
func newEnvOn(t testing.TB, dir string, opts ...func(*server.Options)) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(dir, "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), st: st, url: "http://" + ln.Addr().String(), clock: fakeclock.New(time.Now()), dir: dir}
	o := server.Options{
		URL: e.url, Org: "Example Org", Store: st, SealKey: crypto.RandomBytes(32), Now: e.clock.Now,
		PasswordParams: cheapArgon2, SoleNode: true, // as assentd serve on SQLite
	}
	for _, f := range opts {
		f(&o)
	}
	e.srv, err = server.New(e.ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	// The tests read and change the store as the server sees it (with
	// the pushes it holds in memory).
	e.st = e.srv.Store()
	// The apps the tests sign in to, registered as an administrator would.
	for _, app := range testApps {
		if _, err := e.srv.AddApp(e.ctx, app.name, app.typ); err != nil {
			t.Fatal(err)
		}
	}
	hs := &http.Server{Handler: e.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		e.srv.Close()
		hs.Close()
		e.srv.WaitBackground()
		e.st.Close() // the server's store: stops its group commits, then closes the file
	})
	return e
}

// testApps are registered on every test server.
var testApps = []struct{ name, typ string }{
	{"intranet", "web"}, {"wiki", "web"}, {"payroll", "web"}, {"cli-test", "embedded"}, {"example-app", "embedded"},
}

func (e *env) addUser(login, password string) store.User {
	e.t.Helper()
	u, err := e.srv.AddUser(e.ctx, server.NewUser{Login: login, Password: password, Email: login + "@example.com"})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

func (e *env) link(login string) *enroll.Link {
	e.t.Helper()
	l, err := e.srv.NewEnrollLink(e.ctx, login)
	if err != nil {
		e.t.Fatal(err)
	}
	return l
}

// device opens a fresh device home with the encrypted file store.
func (e *env) device(name string) *core.Core {
	e.t.Helper()
	c, err := core.Open(core.Options{
		Home: filepath.Join(e.t.TempDir(), name), KeyStore: core.KeyStoreFile,
		Passphrase: func() ([]byte, error) { return []byte("device passphrase"), nil },
		FileKDF:    cheapArgon2, Now: e.clock.Now, DeviceName: name,
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// enrolled makes a user with one enrolled device.
func (e *env) enrolled(login string) (store.User, *core.Core, core.Account) {
	e.t.Helper()
	u := e.addUser(login, "correct horse battery")
	d := e.device(login + "-phone")
	a, err := d.Enroll(e.ctx, e.link(login))
	if err != nil {
		e.t.Fatal(err)
	}
	return u, d, a
}

// signIn runs interact → identify → password and leaves the transaction
// at the choice of second factor.
func (e *env) signIn(login, password string) *sdk.Transaction {
	e.t.Helper()
	c := sdk.New(e.url)
	c.UserAgent = "Mozilla/5.0 (e2e test)"
	tx, err := c.Interact(e.ctx, "intranet")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: login}); err != nil {
		e.t.Fatal(err)
	}
	r, err := tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: password})
	if err != nil {
		e.t.Fatal(err)
	}
	if !r.Has(sdk.RemSelectAuth) {
		e.t.Fatalf("after the password, want %s offered, got %+v", sdk.RemSelectAuth, r.Remediation)
	}
	return tx
}

// startPush signs in and sends a push; it returns the transaction and the
// number the sign-in page shows.
func (e *env) startPush(login string) (*sdk.Transaction, int) {
	e.t.Helper()
	tx := e.signIn(login, "correct horse battery")
	r, err := tx.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		e.t.Fatal(err)
	}
	if r.Status != sdk.StatusWaiting || r.Number < 10 || r.Number > 99 {
		e.t.Fatalf("after selecting push, want waiting with a two-digit number, got %+v", r)
	}
	return tx, r.Number
}

// onlyPrompt polls the device and expects exactly one pending prompt. A
// push chosen before any factor goes out in the background, so it waits
// for that work first.
func (e *env) onlyPrompt(d *core.Core) core.Prompt {
	e.t.Helper()
	e.srv.WaitBackground()
	ps, err := d.Challenges(e.ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	if len(ps) != 1 {
		e.t.Fatalf("want 1 pending prompt, got %d", len(ps))
	}
	return ps[0]
}

func (e *env) poll(tx *sdk.Transaction) (*sdk.Response, error) {
	return tx.Do(e.ctx, sdk.RemChallengePoll, sdk.Request{})
}

func (e *env) challenge(id string) store.Challenge {
	e.t.Helper()
	c, err := e.st.GetChallenge(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) auditTypes(userID string) []string {
	e.t.Helper()
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{UserID: userID})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want error %q, got success", code)
	}
	if got := errCode(err); got != code {
		t.Fatalf("want error %q, got %v", code, err)
	}
}

// errCode is the API error code of err, whether it came through the SDK
// or the device client.
func errCode(err error) string {
	if c := sdk.Code(err); c != "" {
		return c
	}
	var ae *push.APIError
	if errors.As(err, &ae) {
		return ae.Code
	}
	return ""
}

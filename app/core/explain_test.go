package core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// testServer is a real assentd on a loopback port with its SQLite file.
type testServer struct {
	srv   *server.Server
	url   string
	clock *fakeclock.Clock
}

func startServer(t *testing.T) *testServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{url: "http://" + ln.Addr().String(), clock: fakeclock.New(time.Now())}
	ts.srv, err = server.New(ctx, server.Options{URL: ts.url, Org: "Acme Corp", Store: st, SealKey: crypto.RandomBytes(32), Now: ts.clock.Now, PasswordParams: cheapArgon2})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: ts.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { cancel(); ts.srv.Close(); hs.Close(); st.Close() })
	return ts
}

func (ts *testServer) link(t *testing.T, login string) *enroll.Link {
	t.Helper()
	if _, err := ts.srv.AddUser(context.Background(), server.NewUser{Login: login, Password: "correct horse battery", Email: login + "@example.com"}); err != nil && !strings.Contains(err.Error(), "exists") {
		t.Fatal(err)
	}
	l, err := ts.srv.NewEnrollLink(context.Background(), login)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func wantSummary(t *testing.T, err error, org string, want ...string) (string, string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error to explain")
	}
	sum, det := Explain(err, org)
	for _, w := range want {
		if !strings.Contains(sum, w) {
			t.Errorf("Explain(%v) = %q, want it to say %q", err, sum, w)
		}
	}
	if det != err.Error() {
		t.Errorf("details %q, want the whole error %q", det, err.Error())
	}
	for _, raw := range []string{"dial tcp", "HTTP 409", "token_used", "field \"", "://"} {
		if strings.Contains(sum, raw) {
			t.Errorf("summary %q shows raw text %q", sum, raw)
		}
	}
	return sum, det
}

func TestExplainARefusedConnectionNamesTheOrganisation(t *testing.T) {
	// A port that was just closed refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	c, _ := newHome(t)
	l := &enroll.Link{Version: 1, Server: dead, Token: strings.Repeat("A", 22), User: "alice", Org: "Acme Corp", Pin: strings.Repeat("A", 43), Expires: time.Now().Add(time.Hour)}
	_, err = c.Enroll(context.Background(), l)
	_, det := wantSummary(t, err, "Acme Corp", "Couldn't reach Acme Corp", "Check your connection and try again.")
	if !strings.Contains(det, "connection refused") {
		t.Errorf("details %q lost the cause", det)
	}
	// Without a name it says "the server".
	wantSummary(t, err, "", "Couldn't reach the server")
}

func TestExplainAServerThatDoesNotAnswerInTime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		// Accept and say nothing.
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			defer conn.Close()
		}
	}()
	c, _ := newHome(t, func(o *Options) { o.HTTP = &http.Client{Timeout: 200 * time.Millisecond} })
	l := &enroll.Link{Version: 1, Server: "http://" + ln.Addr().String(), Token: strings.Repeat("A", 22), User: "alice", Pin: strings.Repeat("A", 43), Expires: time.Now().Add(time.Hour)}
	_, err = c.Enroll(context.Background(), l)
	wantSummary(t, err, "Acme Corp", "Acme Corp took too long to answer")
}

func TestExplainALinkUsedTwiceAndAnExpiredOne(t *testing.T) {
	ts := startServer(t)
	c, _ := newHome(t, withClock(ts.clock))
	l := ts.link(t, "alice")
	if _, err := c.Enroll(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	_, err := c.Enroll(context.Background(), l)
	var ae *push.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != "token_used" {
		t.Fatalf("second use: %v, want a 409 token_used from the server", err)
	}
	wantSummary(t, err, "Acme Corp", "This QR code was used already. Ask your administrator for a new one.")

	old := ts.link(t, "bob")
	ts.clock.Advance(30 * 24 * time.Hour)
	_, err = c.Enroll(context.Background(), old)
	wantSummary(t, err, "Acme Corp", "expired", "Ask your administrator for a new one")
}

func TestExplainFormAndLockProblemsInWords(t *testing.T) {
	_, err := enroll.ParseOTPAuth("otpauth://totp/Forge:carol?secret=JBSWY3DPEHPK3PX1&issuer=Forge")
	sum, _ := wantSummary(t, err, "", "The secret can't contain \"1\"", "A–Z", "2–7")
	field, problem, ok := FieldProblem(err)
	if !ok || field != "secret" || problem != sum {
		t.Fatalf("FieldProblem = %q, %q, %v", field, problem, ok)
	}

	c, _ := newHome(t)
	err = c.SetLock(LockPIN, []byte("12a4"), nil)
	wantSummary(t, err, "", "A PIN has digits only.")
	if _, _, ok := FieldProblem(err); ok {
		t.Fatal("a lock problem is not a link field")
	}

	// An error written for people is kept; a technical one is not shown.
	wantSummary(t, errors.New("the two PINs differ"), "", "The two PINs differ.")
	sum, _ = wantSummary(t, fmt.Errorf("decode: json: cannot unmarshal %q", "x"), "")
	if !strings.Contains(sum, "Something went wrong") {
		t.Fatalf("a technical error became %q", sum)
	}
	if s, d := Explain(nil, "x"); s != "" || d != "" {
		t.Fatalf("Explain(nil) = %q, %q", s, d)
	}
}

func TestARevokedDeviceIsRememberedAndExplained(t *testing.T) {
	ts := startServer(t)
	c, home := newHome(t, withClock(ts.clock))
	a, err := c.Enroll(context.Background(), ts.link(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Enroll(context.Background(), ts.link(t, "bob"))
	if err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.RevokeDevice(context.Background(), a.EnrollmentID, "admin"); err != nil {
		t.Fatal(err)
	}
	_, err = c.Challenges(context.Background())
	if !IsRevoked(err) {
		t.Fatalf("polling a revoked device: %v", err)
	}
	wantSummary(t, err, "Acme Corp", "removed", "Remove the account")

	// The vault remembers which account, and only that one, across a
	// restart.
	again := mustOpen(t, home, withClock(ts.clock))
	for _, x := range again.Accounts() {
		if got, want := x.Revoked(), x.ID == a.ID; got != want {
			t.Errorf("%s revoked = %v, want %v", x.Name, got, want)
		}
	}
	// Removing it is confirmed by the server (it is revoked already).
	if err := again.Remove(context.Background(), a.ID, false); err != nil {
		t.Fatal(err)
	}
	if got := again.Accounts(); len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("after removing the revoked account: %v", labelsOf(got))
	}
}

func TestEnrollReplacingRevokesTheOldEnrollmentOnTheServer(t *testing.T) {
	ts := startServer(t)
	c, _ := newHome(t, withClock(ts.clock))
	mustAdd(t, c, totpURI("GitHub", "alice"))
	first := ts.link(t, "alice")
	old, err := c.Enroll(context.Background(), first)
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, c, totpURI("Forge", "alice"))
	second := ts.link(t, "alice")
	dups := c.Duplicates(second)
	if len(dups) != 1 || dups[0].ID != old.ID {
		t.Fatalf("duplicates of a second link for alice: %v", labelsOf(dups))
	}
	if d := c.Duplicates(ts.link(t, "bob")); len(d) != 0 {
		t.Fatalf("bob's link is a duplicate of %v", labelsOf(d))
	}
	a, err := c.EnrollReplacing(context.Background(), second, dups)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Accounts()
	if len(got) != 3 || got[1].ID != a.ID {
		t.Fatalf("accounts %v: want the new enrollment in the old one's place", labelsOf(got))
	}
	// The old device is revoked on the server: its token is refused.
	dev, err := ts.srv.Store().GetDevice(context.Background(), old.EnrollmentID)
	if err != nil {
		t.Fatal(err)
	}
	if dev.RevokedAt.IsZero() {
		t.Fatal("the old enrollment is still live on the server")
	}
	if len(c.Duplicates(second)) != 1 {
		t.Fatal("after replacing, one enrollment is left")
	}
}

func TestARevokedMarkIsClearedWhenTheServerTakesTheDeviceAgain(t *testing.T) {
	// A refusal that did not come from the server (say, forged on the way)
	// must not hide a live account for ever: the next answer that works
	// clears the mark.
	ts := startServer(t)
	c, _ := newHome(t, withClock(ts.clock))
	a, err := c.Enroll(context.Background(), ts.link(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.setRevoked(a.ID, true); err != nil {
		t.Fatal(err)
	}
	if !c.Accounts()[0].Revoked() {
		t.Fatal("the mark was not recorded")
	}
	if _, err := c.Challenges(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c.Accounts()[0].Revoked() {
		t.Fatal("a poll the server answered left the account marked revoked")
	}
}

func TestFiftyPollsOfARevokedDeviceAtOnceKeepTheVaultWhole(t *testing.T) {
	ts := startServer(t)
	c, home := newHome(t, withClock(ts.clock))
	a, err := c.Enroll(context.Background(), ts.link(t, "alice"))
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, c, totpURI("GitHub", "alice"))
	if err := ts.srv.RevokeDevice(context.Background(), a.EnrollmentID, "admin"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 50)
	for range 50 {
		go func() {
			_, err := c.Challenges(context.Background())
			errs <- err
		}()
	}
	for range 50 {
		if err := <-errs; !IsRevoked(err) {
			t.Errorf("poll: %v, want device_revoked", err)
		}
	}
	again := mustOpen(t, home)
	got := again.Accounts()
	if len(got) != 2 || !got[0].Revoked() || got[1].Revoked() {
		t.Fatalf("after fifty polls: %+v", got)
	}
}

// TestExplainALostConnectionSaysItReconnects: a socket the server closed
// (as when it restarts) or a stream cut short is said in words, not as
// "something went wrong".
func TestExplainALostConnectionSaysItReconnects(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("push: read: %w", &websocket.CloseError{Code: websocket.CloseAbnormalClosure, Text: "unexpected EOF"}),
		fmt.Errorf("push: read: %w", io.ErrUnexpectedEOF),
		fmt.Errorf("push: read: %w", io.EOF),
	} {
		sum, details := Explain(err, "Acme Corp")
		if !strings.Contains(sum, "The connection to Acme Corp was lost") || !strings.Contains(sum, "reconnects by itself") {
			t.Errorf("Explain(%v) = %q", err, sum)
		}
		if details != err.Error() {
			t.Errorf("details = %q, want the error's text", details)
		}
	}
}

package core

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/push"
)

// The same-device tests run the real loopback server on its real port
// range, a real key store, and real keys: the server's signing key (held
// here, as assentd holds it) signs challenges, the device key enrolled in
// the home signs proofs.

const sdServer = "https://idp.example.com"
const sdOrigin = "https://idp.example.com"

// sdSetup is a home with Assent accounts of one server whose signing key the
// test holds.
type sdSetup struct {
	t         testing.TB
	c         *Core
	clock     *fakeclock.Clock
	serverKey *ecdsa.PrivateKey
}

func newSameDevice(t testing.TB) *sdSetup {
	t.Helper()
	clock := fakeclock.New(time.Now())
	c, err := openHome(filepath.Join(t.TempDir(), "home"), withClock(clock), withCheapLock)
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	return &sdSetup{t: t, c: c, clock: clock, serverKey: k}
}

// enrolled adds an Assent account of server for login, as Enroll would
// have: a device key in the key store and the server's public key pinned.
func (s *sdSetup) enrolled(server, login string, serverKey *ecdsa.PrivateKey) Account {
	s.t.Helper()
	dev, err := crypto.NewDeviceKey()
	if err != nil {
		s.t.Fatal(err)
	}
	der, _ := crypto.MarshalPrivateKey(dev)
	jwk, _ := crypto.MarshalPublicJWK(&serverKey.PublicKey)
	a := Account{
		ID: newAccountID(), Kind: KindAssent, Issuer: "Example Org", Name: login,
		Secret: []byte("0123456789abcdef"), Algorithm: "SHA1", Digits: 6, Period: 30,
		Server: server, PushURL: strings.Replace(server, "http", "ws", 1) + push.PathPush,
		EnrollmentID: "enr-" + crypto.RandomToken(8), ServerKey: jwk, AddedAt: s.clock.Now(),
	}
	if err := s.c.keys.Set(deviceKeyName(a.EnrollmentID), der); err != nil {
		s.t.Fatal(err)
	}
	if err := s.c.update(func(v *vault) error { v.Accounts = append(v.Accounts, a); return nil }); err != nil {
		s.t.Fatal(err)
	}
	return a
}

func (s *sdSetup) devicePublic(a Account) *ecdsa.PublicKey {
	s.t.Helper()
	der, err := s.c.keys.Get(deviceKeyName(a.EnrollmentID))
	if err != nil {
		s.t.Fatal(err)
	}
	k, err := crypto.ParsePrivateKey(der)
	if err != nil {
		s.t.Fatal(err)
	}
	return &k.PublicKey
}

// claims are a fresh challenge for login as assentd at sdServer issues it.
func (s *sdSetup) claims(login string) push.SameDeviceClaims {
	now := s.clock.Now().Unix()
	return push.SameDeviceClaims{
		Issuer: sdServer, Origin: sdOrigin, Subject: login, ID: "sd-" + crypto.RandomToken(8), Transaction: "tx-hash",
		Org: "Example Org", App: "intranet", IAT: now, Exp: now + 60, UserVerification: push.UVNone,
	}
}

func (s *sdSetup) sign(cl push.SameDeviceClaims, key *ecdsa.PrivateKey) string {
	s.t.Helper()
	jws, err := crypto.SignJWS(key, push.TypSameDevice, cl, crypto.SignOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return jws
}

func (s *sdSetup) challenge(login string) string { return s.sign(s.claims(login), s.serverKey) }

// serve starts the loopback server; it stops with the test.
func (s *sdSetup) serve(ask SameDeviceAskFunc) string {
	s.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.t.Cleanup(cancel)
	addr, err := s.c.ServeSameDevice(ctx, ask)
	if err != nil {
		s.t.Fatal(err)
	}
	return addr
}

func approveAll(context.Context, SameDeviceAsk) (SameDeviceDecision, error) {
	return SameDeviceDecision{Approve: true}, nil
}

type sdResult struct {
	status int
	header http.Header
	body   []byte
	answer push.SameDeviceAnswer
}

// sdRequest sends a request to the loopback server as a browser would.
func sdRequest(t *testing.T, addr, method, path, origin, body string, change ...func(*http.Request)) sdResult {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, f := range change {
		f(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	r := sdResult{status: resp.StatusCode, header: resp.Header, body: data}
	if len(data) > 0 && resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(data, &r.answer); err != nil {
			t.Fatalf("answer %q is not JSON: %v", data, err)
		}
	}
	return r
}

func post(t *testing.T, addr, origin, challenge string) sdResult {
	t.Helper()
	body, _ := json.Marshal(push.SameDeviceRequest{Challenge: challenge})
	return sdRequest(t, addr, http.MethodPost, push.PathSameDevice, origin, string(body))
}

// wantBare checks an answer that tells a stranger nothing.
func wantBare(t *testing.T, r sdResult, status int) {
	t.Helper()
	if r.status != status || len(r.body) != 0 {
		t.Fatalf("got %d %q, want a bare %d", r.status, r.body, status)
	}
	for k := range r.header {
		if strings.HasPrefix(k, "Access-Control-") {
			t.Fatalf("a bare %d carries %s: %v", status, k, r.header)
		}
	}
}

// wantError checks an {error} answer to a legitimate origin.
func wantError(t *testing.T, r sdResult, status int, code string) {
	t.Helper()
	if r.status != status || r.answer.Error != code || r.answer.Proof != "" {
		t.Fatalf("got %d %s, want %d {error: %q}", r.status, r.body, status, code)
	}
	if r.header.Get("Access-Control-Allow-Origin") != sdOrigin || r.header.Get("Vary") != "Origin" {
		t.Fatalf("an answer to the right origin lacks CORS headers: %v", r.header)
	}
}

func TestSameDeviceApprovedAnswersAProofSignedByTheDeviceKey(t *testing.T) {
	s := newSameDevice(t)
	a := s.enrolled(sdServer, "alice", s.serverKey)
	var asked SameDeviceAsk
	addr := s.serve(func(_ context.Context, ask SameDeviceAsk) (SameDeviceDecision, error) {
		asked = ask
		return SameDeviceDecision{Approve: true}, nil
	})
	host, port, _ := net.SplitHostPort(addr)
	if p, _ := strconv.Atoi(port); host != "127.0.0.1" || p < push.SameDeviceFirstPort || p > push.SameDeviceLastPort {
		t.Fatalf("listening on %s, want 127.0.0.1 in %d–%d", addr, push.SameDeviceFirstPort, push.SameDeviceLastPort)
	}
	cl := s.claims("alice")
	r := post(t, addr, sdOrigin, s.sign(cl, s.serverKey))
	if r.status != http.StatusOK || r.answer.Proof == "" || r.answer.Error != "" {
		t.Fatalf("got %d %s, want a proof", r.status, r.body)
	}
	if r.header.Get("Access-Control-Allow-Origin") != sdOrigin || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers: %v", r.header)
	}
	if asked.Account.ID != a.ID || asked.Origin != sdOrigin || asked.OrgName() != "Example Org" || asked.App != "intranet" || asked.ID != cl.ID || asked.Expires.Unix() != cl.Exp {
		t.Fatalf("the person was asked %+v", asked)
	}
	var proof push.SameDeviceProofClaims
	if err := crypto.VerifyJWS(r.answer.Proof, s.devicePublic(a), push.TypSameDeviceProof, &proof); err != nil {
		t.Fatalf("the proof does not verify with the device key: %v", err)
	}
	want := push.SameDeviceProofClaims{Issuer: a.EnrollmentID, Audience: sdServer, ID: cl.ID, Origin: sdOrigin, IAT: s.clock.Now().Unix(), UV: false}
	if proof != want {
		t.Fatalf("proof claims %+v, want %+v", proof, want)
	}
	// Not by the server key, nor of another type.
	if err := crypto.VerifyJWS(r.answer.Proof, &s.serverKey.PublicKey, push.TypSameDeviceProof, &proof); err == nil {
		t.Fatal("the proof verifies with the server key")
	}
}

func TestSameDeviceAnswersOtherOriginsNothing(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	var calls atomic.Int32
	addr := s.serve(func(context.Context, SameDeviceAsk) (SameDeviceDecision, error) {
		calls.Add(1)
		return SameDeviceDecision{Approve: true}, nil
	})
	ch := s.challenge("alice")
	for _, origin := range []string{"https://evil.example", "http://idp.example.com", "https://idp.example.com:8443", "https://IDP.example.com.evil", "null", ""} {
		t.Run("origin "+origin, func(t *testing.T) {
			wantBare(t, post(t, addr, origin, ch), http.StatusForbidden)
			wantBare(t, sdRequest(t, addr, http.MethodOptions, push.PathSameDevice, origin, "", func(r *http.Request) {
				r.Header.Set("Access-Control-Request-Method", "POST")
			}), http.StatusForbidden)
		})
	}
	// Two Origin headers are no origin.
	wantBare(t, sdRequest(t, addr, http.MethodPost, push.PathSameDevice, sdOrigin, `{"challenge":"x"}`, func(r *http.Request) {
		r.Header.Add("Origin", "https://evil.example")
	}), http.StatusForbidden)
	if n := calls.Load(); n != 0 {
		t.Fatalf("the person was asked %d times for other origins", n)
	}
}

func TestSameDevicePreflight(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	addr := s.serve(approveAll)
	preflight := func(method string, pna bool) sdResult {
		return sdRequest(t, addr, http.MethodOptions, push.PathSameDevice, sdOrigin, "", func(r *http.Request) {
			if method != "" {
				r.Header.Set("Access-Control-Request-Method", method)
			}
			r.Header.Set("Access-Control-Request-Headers", "content-type")
			if pna {
				r.Header.Set("Access-Control-Request-Private-Network", "true")
			}
		})
	}
	for _, pna := range []bool{false, true} {
		r := preflight("POST", pna)
		want := map[string]string{
			"Access-Control-Allow-Origin":  sdOrigin,
			"Access-Control-Allow-Methods": "POST",
			"Access-Control-Allow-Headers": "Content-Type",
			"Access-Control-Max-Age":       "600",
			"Vary":                         "Origin",
		}
		if pna {
			want["Access-Control-Allow-Private-Network"] = "true"
		}
		if r.status != http.StatusNoContent || len(r.body) != 0 {
			t.Fatalf("preflight (pna %v): %d %q", pna, r.status, r.body)
		}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("preflight (pna %v): %s = %q, want %q", pna, k, got, v)
			}
		}
		if !pna && r.header.Get("Access-Control-Allow-Private-Network") != "" {
			t.Error("private network access allowed without being asked")
		}
	}
	wantBare(t, preflight("GET", true), http.StatusForbidden)
	wantBare(t, preflight("", false), http.StatusForbidden)
}

func TestSameDeviceRefusesOtherHostsAndPaths(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	var calls atomic.Int32
	addr := s.serve(func(context.Context, SameDeviceAsk) (SameDeviceDecision, error) {
		calls.Add(1)
		return SameDeviceDecision{Approve: true}, nil
	})
	_, port, _ := net.SplitHostPort(addr)
	body, _ := json.Marshal(push.SameDeviceRequest{Challenge: s.challenge("alice")})
	// DNS rebinding: a name that resolves to 127.0.0.1 is still not us.
	for _, host := range []string{"evil.com", "evil.com:" + port, "127.0.0.1", "localhost:1", "127.0.0.2:" + port, "[::1]:" + port} {
		wantBare(t, sdRequest(t, addr, http.MethodPost, push.PathSameDevice, sdOrigin, string(body), func(r *http.Request) { r.Host = host }), http.StatusForbidden)
	}
	for _, host := range []string{"localhost:" + port, "LOCALHOST:" + port} {
		if r := sdRequest(t, addr, http.MethodPost, push.PathSameDevice, sdOrigin, string(body), func(r *http.Request) { r.Host = host }); r.status != http.StatusOK {
			t.Fatalf("Host %s: %d %s", host, r.status, r.body)
		}
	}
	calls.Store(0)
	for _, path := range []string{"/", "/v1/samedevice/", "/v1/SameDevice", "/v1", "/favicon.ico", "/v1/samedevice/../samedevice2", "/debug/pprof/"} {
		for _, origin := range []string{sdOrigin, "https://evil.example", ""} {
			for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodOptions} {
				r := sdRequest(t, addr, method, path, origin, string(body))
				wantBare(t, r, http.StatusNotFound)
				if strings.Contains(strings.ToLower(fmt.Sprint(r.header)), "assent") {
					t.Fatalf("%s %s names Assent: %v", method, path, r.header)
				}
			}
		}
	}
	if calls.Load() != 0 {
		t.Fatal("a request on another path was asked")
	}
}

func TestSameDeviceRefusesBadRequestsFromTheRightOrigin(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	s.enrolled("https://idp.example.com/other", "alice", s.serverKey)
	var calls atomic.Int32
	addr := s.serve(func(context.Context, SameDeviceAsk) (SameDeviceDecision, error) {
		calls.Add(1)
		return SameDeviceDecision{Approve: true}, nil
	})
	otherKey, _ := crypto.NewDeviceKey()
	expired := s.claims("alice")
	expired.IAT, expired.Exp = expired.IAT-90, expired.IAT-1
	tooLong := s.claims("alice")
	tooLong.Exp = tooLong.IAT + push.MaxSameDeviceLifetime + 1
	otherServer := s.claims("alice")
	otherServer.Issuer, otherServer.Origin = "https://other.example.com", "https://other.example.com"
	noTx := s.claims("alice")
	noTx.Transaction = ""
	pushTyped, _ := crypto.SignJWS(s.serverKey, push.TypChallenge, s.claims("alice"), crypto.SignOptions{})
	tests := []struct {
		name, challenge, wantMsg string
	}{
		{"forged: signed by another key", s.sign(s.claims("alice"), otherKey), "not signed by the key"},
		{"expired", s.sign(expired, s.serverKey), "expired"},
		{"lives too long", s.sign(tooLong, s.serverKey), "lifetime"},
		{"issued by another server with its origin", s.sign(otherServer, s.serverKey), "issued by another server"},
		{"without a transaction", s.sign(noTx, s.serverKey), "missing"},
		{"a push challenge", pushTyped, "not a same-device challenge"},
		{"not a JWS", "hello", "not a JWS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, addr, sdOrigin, tt.challenge)
			wantError(t, r, http.StatusBadRequest, push.SameDeviceBad)
			if !strings.Contains(r.answer.Message, tt.wantMsg) {
				t.Fatalf("message %q, want it to say %q", r.answer.Message, tt.wantMsg)
			}
		})
	}
	bodies := []struct {
		name, contentType, body string
		status                  int
	}{
		{"not JSON", "application/json", "challenge=x", http.StatusBadRequest},
		{"no challenge", "application/json", `{}`, http.StatusBadRequest},
		{"two values", "application/json", `{"challenge":"a"} {}`, http.StatusBadRequest},
		{"form post", "application/x-www-form-urlencoded", `{"challenge":"a"}`, http.StatusUnsupportedMediaType},
		{"text", "text/plain", `{"challenge":"a"}`, http.StatusUnsupportedMediaType},
		{"too large", "application/json", `{"challenge":"` + strings.Repeat("a", push.MaxSameDeviceBody) + `"}`, http.StatusRequestEntityTooLarge},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			r := sdRequest(t, addr, http.MethodPost, push.PathSameDevice, sdOrigin, b.body, func(r *http.Request) { r.Header.Set("Content-Type", b.contentType) })
			wantError(t, r, b.status, push.SameDeviceBad)
		})
	}
	wantError(t, sdRequest(t, addr, http.MethodGet, push.PathSameDevice, sdOrigin, ""), http.StatusMethodNotAllowed, push.SameDeviceBad)
	if calls.Load() != 0 {
		t.Fatal("a bad request was asked")
	}
}

func TestSameDeviceForALoginWithNoAccountAnswersNoAccount(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	addr := s.serve(approveAll)
	wantError(t, post(t, addr, sdOrigin, s.challenge("mallory")), http.StatusNotFound, push.SameDeviceNoAccount)
}

func TestSameDevicePicksTheNewestAccountOfTheUser(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "bob", s.serverKey)
	s.enrolled(sdServer, "alice", s.serverKey)
	s.clock.Advance(time.Minute)
	newest := s.enrolled(sdServer, "alice", s.serverKey)
	var asked SameDeviceAsk
	addr := s.serve(func(_ context.Context, a SameDeviceAsk) (SameDeviceDecision, error) {
		asked = a
		return SameDeviceDecision{Approve: true}, nil
	})
	r := post(t, addr, sdOrigin, s.challenge("alice"))
	var proof push.SameDeviceProofClaims
	if err := crypto.VerifyJWS(r.answer.Proof, s.devicePublic(newest), push.TypSameDeviceProof, &proof); err != nil || asked.Account.ID != newest.ID || proof.Issuer != newest.EnrollmentID {
		t.Fatalf("answered for %s (%v), want the newest enrollment %s", asked.Account.EnrollmentID, err, newest.EnrollmentID)
	}
}

func TestSameDeviceDeclined(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	addr := s.serve(func(context.Context, SameDeviceAsk) (SameDeviceDecision, error) {
		return SameDeviceDecision{Approve: false}, nil
	})
	wantError(t, post(t, addr, sdOrigin, s.challenge("alice")), http.StatusForbidden, push.SameDeviceDeclined)
}

func TestSameDeviceUnansweredTimesOutAtTheChallengesExpiry(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	ended := make(chan error, 1)
	addr := s.serve(func(ctx context.Context, _ SameDeviceAsk) (SameDeviceDecision, error) {
		<-ctx.Done() // nobody answers
		ended <- ctx.Err()
		return SameDeviceDecision{}, ctx.Err()
	})
	cl := s.claims("alice")
	cl.Exp = cl.IAT + 2
	start := time.Now()
	wantError(t, post(t, addr, sdOrigin, s.sign(cl, s.serverKey)), http.StatusRequestTimeout, push.SameDeviceTimeout)
	// A generous deadline for a loaded machine, well short of the longest
	// lifetime a challenge may have (push.MaxSameDeviceLifetime).
	if d := time.Since(start); d > push.MaxSameDeviceLifetime*time.Second/4 {
		t.Fatalf("timed out after %s, want at the challenge's exp (2 s)", d)
	}
	if err := <-ended; !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("the prompt's context ended with %v", err)
	}
}

func TestSameDeviceAsksOneRequestAtATime(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	asking := make(chan struct{})
	release := make(chan bool)
	addr := s.serve(func(context.Context, SameDeviceAsk) (SameDeviceDecision, error) {
		close(asking)
		return SameDeviceDecision{Approve: <-release}, nil
	})
	first := make(chan sdResult)
	go func() { first <- post(t, addr, sdOrigin, s.challenge("alice")) }()
	<-asking
	wantError(t, post(t, addr, sdOrigin, s.challenge("alice")), http.StatusConflict, push.SameDeviceBusy)
	release <- true
	if r := <-first; r.status != http.StatusOK {
		t.Fatalf("the first request: %d %s", r.status, r.body)
	}
}

func TestSameDeviceRequiringVerificationWithoutAnAppLockIsDeclined(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	var wantErr error
	addr := s.serve(func(_ context.Context, a SameDeviceAsk) (SameDeviceDecision, error) {
		_, wantErr = a.WantsVerification()
		return SameDeviceDecision{Approve: true}, nil // approving without verifying
	})
	cl := s.claims("alice")
	cl.UserVerification = push.UVRequired
	r := post(t, addr, sdOrigin, s.sign(cl, s.serverKey))
	wantError(t, r, http.StatusForbidden, push.SameDeviceDeclined)
	if !strings.Contains(r.answer.Message, "app lock") {
		t.Fatalf("message %q does not say an app lock is needed", r.answer.Message)
	}
	if !errors.Is(wantErr, ErrNoAppLock) {
		t.Fatalf("WantsVerification without a lock: %v", wantErr)
	}
}

func TestSameDeviceRequiringVerificationChecksTheAppLock(t *testing.T) {
	s := newSameDevice(t)
	a := s.enrolled(sdServer, "alice", s.serverKey)
	if err := s.c.SetLock(LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	verify := "1111"
	addr := s.serve(func(_ context.Context, ask SameDeviceAsk) (SameDeviceDecision, error) {
		if want, err := ask.WantsVerification(); !want || err != nil {
			return SameDeviceDecision{}, fmt.Errorf("WantsVerification = %v, %v", want, err)
		}
		if err := ask.Verify([]byte(verify)); err != nil && !errors.Is(err, ErrWrongUnlock) {
			return SameDeviceDecision{}, err
		}
		return SameDeviceDecision{Approve: true}, nil
	})
	cl := s.claims("alice")
	cl.UserVerification = push.UVRequired
	// A wrong PIN does not verify: approving is declined.
	wantError(t, post(t, addr, sdOrigin, s.sign(cl, s.serverKey)), http.StatusForbidden, push.SameDeviceDeclined)
	verify = "2468"
	cl.ID = "sd-second"
	r := post(t, addr, sdOrigin, s.sign(cl, s.serverKey))
	var proof push.SameDeviceProofClaims
	if err := crypto.VerifyJWS(r.answer.Proof, s.devicePublic(a), push.TypSameDeviceProof, &proof); err != nil || !proof.UV || proof.ID != "sd-second" {
		t.Fatalf("got %d %s (%v), want a proof with uv", r.status, r.body, err)
	}
}

func TestSameDevicePreferredVerificationUsesTheLockWhenSet(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	addr := s.serve(approveAll)
	cl := s.claims("alice")
	cl.UserVerification = push.UVPreferred
	// No lock: approved, not verified.
	r := post(t, addr, sdOrigin, s.sign(cl, s.serverKey))
	var proof push.SameDeviceProofClaims
	if err := crypto.UnverifiedClaims(r.answer.Proof, &proof); err != nil || proof.UV {
		t.Fatalf("got %d %s, want a proof without uv", r.status, r.body)
	}
}

func TestSameDeviceIgnoresAFloodFromAWrongOrigin(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	var calls atomic.Int32
	addr := s.serve(func(context.Context, SameDeviceAsk) (SameDeviceDecision, error) {
		calls.Add(1)
		return SameDeviceDecision{Approve: true}, nil
	})
	ch := s.challenge("alice")
	var wg sync.WaitGroup
	results := make([]sdResult, 50)
	for i := range results {
		wg.Go(func() { results[i] = post(t, addr, "https://evil.example", ch) })
	}
	wg.Wait()
	for _, r := range results {
		wantBare(t, r, http.StatusForbidden)
	}
	if calls.Load() != 0 {
		t.Fatal("a request from a wrong origin was asked")
	}
	// The right origin still gets through afterwards.
	if r := post(t, addr, sdOrigin, ch); r.status != http.StatusOK {
		t.Fatalf("after the flood: %d %s", r.status, r.body)
	}
}

func TestSameDeviceStopsAskingWhenThePageGoesAway(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	asking := make(chan struct{})
	ended := make(chan error, 1)
	var calls atomic.Int32
	addr := s.serve(func(ctx context.Context, _ SameDeviceAsk) (SameDeviceDecision, error) {
		if calls.Add(1) > 1 {
			return SameDeviceDecision{Approve: true}, nil
		}
		close(asking)
		<-ctx.Done()
		ended <- ctx.Err()
		return SameDeviceDecision{}, ctx.Err()
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		body, _ := json.Marshal(push.SameDeviceRequest{Challenge: s.challenge("alice")})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+push.PathSameDevice, strings.NewReader(string(body)))
		req.Header.Set("Origin", sdOrigin)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-asking
	cancel() // the tab was closed
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("the prompt's context ended with %v, want cancelled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the prompt was not told the page went away")
	}
	// The next request is asked (once the first handler has returned).
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := post(t, addr, sdOrigin, s.challenge("alice"))
		if r.status == http.StatusOK {
			break
		}
		if r.answer.Error != push.SameDeviceBusy || time.Now().After(deadline) {
			t.Fatalf("after the page went away: %d %s", r.status, r.body)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// heldPorts holds n loopback ports the kernel gave out, until released.
func heldPorts(t *testing.T, n int) ([]int, []net.Listener) {
	t.Helper()
	var ls []net.Listener
	var ps []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		ls = append(ls, l)
		ps = append(ps, l.Addr().(*net.TCPAddr).Port)
	}
	return ps, ls
}

func TestSameDeviceTakesTheFirstFreePortAndSaysWhenAllAreTaken(t *testing.T) {
	s := newSameDevice(t)
	// Three ports of our own: the first stays taken, the second is let go
	// just before the app looks, the third stays taken.
	ports, held := heldPorts(t, 3)
	held[1].Close()
	ctx, cancel := context.WithCancel(context.Background())
	addr, err := s.c.serveSameDevice(ctx, approveAll, ports)
	if err != nil || addr != fmt.Sprintf("127.0.0.1:%d", ports[1]) {
		t.Fatalf("serve = %s, %v; want the second port %d", addr, err, ports[1])
	}
	if _, err := s.c.serveSameDevice(context.Background(), approveAll, ports); !errors.Is(err, ErrSameDevicePortsTaken) || !strings.Contains(err.Error(), "is Assent already running?") {
		t.Fatalf("with every port taken: %v", err)
	}
	// It stops with its context, and the port is free again.
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the port is still held after the context ended: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSameDeviceStopsAskingWhenTheAppStops(t *testing.T) {
	s := newSameDevice(t)
	s.enrolled(sdServer, "alice", s.serverKey)
	ctx, cancel := context.WithCancel(context.Background())
	asking := make(chan struct{})
	ended := make(chan struct{})
	addr, err := s.c.ServeSameDevice(ctx, func(ctx context.Context, _ SameDeviceAsk) (SameDeviceDecision, error) {
		close(asking)
		<-ctx.Done()
		close(ended)
		return SameDeviceDecision{}, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		body, _ := json.Marshal(push.SameDeviceRequest{Challenge: s.challenge("alice")})
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+push.PathSameDevice, strings.NewReader(string(body)))
		req.Header.Set("Origin", sdOrigin)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	<-asking
	cancel()
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the prompt was not told the app stopped")
	}
}

// FuzzSameDeviceRequest throws methods, paths, hosts, origins, content
// types and bodies at the handler: it never panics, answers strangers with
// bare statuses, answers the right origin with JSON {error} or {proof}, and
// a proof is only ever for a challenge the server signed.
func FuzzSameDeviceRequest(f *testing.F) {
	s := newSameDevice(f)
	a := s.enrolled(sdServer, "alice", s.serverKey)
	devKey := s.devicePublic(a)
	h := s.c.sameDeviceHandler(approveAll, push.SameDeviceFirstPort)
	host := fmt.Sprintf("127.0.0.1:%d", push.SameDeviceFirstPort)
	valid, _ := json.Marshal(push.SameDeviceRequest{Challenge: s.challenge("alice")})
	f.Add("POST", push.PathSameDevice, host, sdOrigin, "application/json", valid)
	f.Add("POST", push.PathSameDevice, host, sdOrigin, "application/json; charset=utf-8", []byte(`{"challenge":"a.b.c"}`))
	f.Add("POST", push.PathSameDevice, host, sdOrigin, "application/json", []byte(`{"challenge":null}`))
	f.Add("POST", push.PathSameDevice, host, "https://evil.example", "application/json", valid)
	f.Add("OPTIONS", push.PathSameDevice, host, sdOrigin, "", []byte{})
	f.Add("GET", "/", "localhost:47770", "", "", []byte{})
	f.Add("POST", push.PathSameDevice, "evil.com", sdOrigin, "application/json", valid)
	f.Fuzz(func(t *testing.T, method, path, host, origin, contentType string, body []byte) {
		u, err := url.Parse("http://x")
		if err != nil {
			t.Fatal(err)
		}
		u.Path = path
		req := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(string(body))), ContentLength: int64(len(body))}
		req = req.WithContext(context.Background())
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Access-Control-Request-Method", "POST")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		res := rec.Result()
		out := rec.Body.Bytes()
		acao := res.Header.Get("Access-Control-Allow-Origin")
		if acao == "" {
			if len(out) != 0 {
				t.Fatalf("%d without CORS headers has a body: %q", res.StatusCode, out)
			}
			return
		}
		if acao != origin || origin != sdOrigin {
			t.Fatalf("CORS allowed %q for origin %q", acao, origin)
		}
		if res.StatusCode == http.StatusNoContent {
			return
		}
		var ans push.SameDeviceAnswer
		if err := json.Unmarshal(out, &ans); err != nil || (ans.Error == "") == (ans.Proof == "") {
			t.Fatalf("%d answer %q is not {error} or {proof}", res.StatusCode, out)
		}
		if ans.Proof != "" {
			var p push.SameDeviceProofClaims
			if err := crypto.VerifyJWS(ans.Proof, devKey, push.TypSameDeviceProof, &p); err != nil || p.Origin != sdOrigin {
				t.Fatalf("proof %q: %v", ans.Proof, err)
			}
			var req push.SameDeviceRequest
			_ = json.Unmarshal(body, &req)
			var cl push.SameDeviceClaims
			if err := crypto.VerifyJWS(req.Challenge, &s.serverKey.PublicKey, push.TypSameDevice, &cl); err != nil || cl.ID != p.ID {
				t.Fatalf("a proof for a challenge the server did not sign: %q", body)
			}
		}
	})
}

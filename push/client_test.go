package push

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
)

const testIssuer = "https://idp.example.com"

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := crypto.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, key *ecdsa.PrivateKey, typ string, claims any) string {
	t.Helper()
	tok, err := crypto.SignJWS(key, typ, claims, crypto.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func thumbprint(t *testing.T, key *ecdsa.PrivateKey) string {
	t.Helper()
	tp, err := crypto.Thumbprint(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return tp
}

func challengeFor(c *Client) ChallengeClaims {
	ch := goodClaims()
	ch.Issuer, ch.Audience = c.Server, c.EnrollmentID
	return ch
}

func TestVerifyChallenge(t *testing.T) {
	serverKey, deviceKey, otherKey := newKey(t), newKey(t), newKey(t)
	c := &Client{Server: testIssuer, EnrollmentID: "enr_1", Key: deviceKey, ServerKey: &serverKey.PublicKey}
	tests := []struct {
		name    string
		key     *ecdsa.PrivateKey
		typ     string
		change  func(*ChallengeClaims)
		wantIs  error  // errors.Is target, if any
		wantErr string // part of the message; "" with wantIs nil means accepted
	}{
		{name: "accepts a challenge the server signed for this enrollment", key: serverKey, typ: TypChallenge},
		{name: "refuses a challenge signed by another key", key: otherKey, typ: TypChallenge, wantIs: crypto.ErrBadSignature},
		{name: "refuses a challenge signed by the device's own key", key: deviceKey, typ: TypChallenge, wantIs: crypto.ErrBadSignature},
		{name: "refuses a server JWS of another type", key: serverKey, typ: TypResponse, wantIs: crypto.ErrWrongJWSType},
		{name: "refuses a device token passed off as a challenge", key: serverKey, typ: TypDevice, wantIs: crypto.ErrWrongJWSType},
		{name: "refuses a challenge for another enrollment", key: serverKey, typ: TypChallenge,
			change: func(ch *ChallengeClaims) { ch.Audience = "enr_2" }, wantErr: `it is for enrollment "enr_2", not this one`},
		{name: "refuses a challenge with no audience", key: serverKey, typ: TypChallenge,
			change: func(ch *ChallengeClaims) { ch.Audience = "" }, wantErr: `it is for enrollment ""`},
		{name: "refuses a challenge from another issuer", key: serverKey, typ: TypChallenge,
			change: func(ch *ChallengeClaims) { ch.Issuer = "https://evil.example.com" }, wantErr: `issued by "https://evil.example.com", not "https://idp.example.com"`},
		{name: "refuses a challenge that fails Check", key: serverKey, typ: TypChallenge,
			change: func(ch *ChallengeClaims) { ch.Numbers = []int{12, 12, 47} }, wantErr: "three distinct two-digit numbers"},
		{name: "refuses a challenge living too long", key: serverKey, typ: TypChallenge,
			change: func(ch *ChallengeClaims) { ch.Exp = ch.IAT + 3600 }, wantErr: "lifetime 3600s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := challengeFor(c)
			if tt.change != nil {
				tt.change(&claims)
			}
			jws := sign(t, tt.key, tt.typ, claims)
			ch, err := c.VerifyChallenge(jws)
			if tt.wantIs == nil && tt.wantErr == "" {
				if err != nil {
					t.Fatalf("VerifyChallenge = %v, want it accepted", err)
				}
				if ch.JWS != jws || ch.ID != claims.ID || ch.Nonce != claims.Nonce || len(ch.Numbers) != 3 {
					t.Fatalf("verified challenge = %+v, want the signed claims and JWS", ch)
				}
				if !ch.ExpiresAt().Equal(time.Unix(claims.Exp, 0)) {
					t.Fatalf("ExpiresAt = %v, want %v", ch.ExpiresAt(), time.Unix(claims.Exp, 0))
				}
				return
			}
			if err == nil {
				t.Fatalf("VerifyChallenge accepted it: %+v", ch)
			}
			if ch != nil {
				t.Fatalf("VerifyChallenge returned a challenge with its error: %+v", ch)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("VerifyChallenge = %v, want errors.Is %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "challenge refused: ") {
				t.Fatalf("VerifyChallenge = %q, want \"challenge refused: …%s…\"", err, tt.wantErr)
			}
		})
	}
}

func TestVerifyChallengeRefusesGarbage(t *testing.T) {
	c := &Client{Server: testIssuer, EnrollmentID: "enr_1", ServerKey: &newKey(t).PublicKey}
	for _, s := range []string{"", "not a jws", "a.b.c"} {
		if _, err := c.VerifyChallenge(s); !errors.Is(err, crypto.ErrMalformedJWS) {
			t.Errorf("VerifyChallenge(%q) = %v, want ErrMalformedJWS", s, err)
		}
	}
}

func TestTokenIsSignedByTheDeviceWithFreshJTIAndInjectedTime(t *testing.T) {
	key := newKey(t)
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	c := &Client{Server: testIssuer, EnrollmentID: "enr_42", Key: key, Now: func() time.Time { return now }}
	seen := map[string]bool{}
	for range 50 {
		tok, err := c.Token()
		if err != nil {
			t.Fatal(err)
		}
		var dc DeviceClaims
		if err := crypto.VerifyJWS(tok, &key.PublicKey, TypDevice, &dc); err != nil {
			t.Fatalf("token does not verify with the device key: %v", err)
		}
		if dc.Issuer != "enr_42" || dc.Audience != testIssuer || dc.IAT != now.Unix() {
			t.Fatalf("claims = %+v, want iss enr_42, aud %s, iat %d", dc, testIssuer, now.Unix())
		}
		if len(dc.JTI) < 16 || seen[dc.JTI] {
			t.Fatalf("jti %q is short or repeated", dc.JTI)
		}
		seen[dc.JTI] = true
	}
	if err := crypto.VerifyJWS(mustToken(t, c), &newKey(t).PublicKey, TypDevice, &DeviceClaims{}); !errors.Is(err, crypto.ErrBadSignature) {
		t.Fatalf("token verified with another key: %v", err)
	}
}

func mustToken(t *testing.T, c *Client) string {
	t.Helper()
	tok, err := c.Token()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// enrollServer is an httptest server speaking the enrollment half of the
// protocol, with answers a test can bend.
type enrollServer struct {
	*httptest.Server
	key  *ecdsa.PrivateKey // the key it sends as serverKey
	name string            // what it calls itself; "" means its URL
	id   string            // enrollment id it answers with
	raw  func(w http.ResponseWriter)

	mu       sync.Mutex
	enrolled *EnrollClaims
	devKey   *ecdsa.PublicKey
	revoked  []DeviceClaims
	problems []string
}

func newEnrollServer(t *testing.T, key *ecdsa.PrivateKey) *enrollServer {
	s := &enrollServer{key: key, id: "enr_test"}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	t.Cleanup(func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, p := range s.problems {
			t.Error("server saw: " + p)
		}
	})
	return s
}

func (s *enrollServer) problem(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.problems = append(s.problems, p)
}

func (s *enrollServer) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodPost && r.URL.Path == PathEnroll:
		if ct := r.Header.Get("Content-Type"); ct != "application/jose" {
			s.problem("enroll Content-Type " + ct)
		}
		body, _ := io.ReadAll(r.Body)
		h, err := crypto.ParseJWSHeader(string(body))
		if err != nil || h.JWK == nil {
			s.problem("enroll body without an embedded jwk")
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		var ec EnrollClaims
		if err := crypto.VerifyJWS(string(body), h.JWK, TypEnroll, &ec); err != nil {
			s.problem("enroll proof does not verify: " + err.Error())
		}
		s.mu.Lock()
		s.enrolled, s.devKey = &ec, h.JWK
		s.mu.Unlock()
		if s.raw != nil {
			s.raw(w)
			return
		}
		name := s.name
		if name == "" {
			name = s.URL
		}
		jwk, _ := crypto.MarshalPublicJWK(&s.key.PublicKey)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(EnrollResponse{
			EnrollmentID: s.id, User: "alice", Org: "Example", Server: name, ServerKey: jwk,
			PushURL: "ws" + strings.TrimPrefix(s.URL, "http") + PathPush,
			TOTP:    TOTPParams{Secret: "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", Algorithm: "SHA1", Digits: 6, Period: 30},
		})
	case r.Method == http.MethodDelete && r.URL.Path == PathDevice:
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), AuthScheme+" ")
		s.mu.Lock()
		defer s.mu.Unlock()
		var dc DeviceClaims
		if s.devKey == nil || crypto.VerifyJWS(tok, s.devKey, TypDevice, &dc) != nil {
			s.problems = append(s.problems, "revoke not signed by the enrolled key")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.revoked = append(s.revoked, dc)
		w.WriteHeader(http.StatusNoContent)
	default:
		s.problem(r.Method + " " + r.URL.Path)
		http.NotFound(w, r)
	}
}

func TestEnrollDevice(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	dev := Device{Name: "test phone", Platform: "linux", KeyStore: "file"}
	pinned := newKey(t)
	tests := []struct {
		name        string
		setup       func(s *enrollServer)
		wantIs      error
		wantErr     string
		wantRevoked bool
		check       func(t *testing.T, err error)
	}{
		{name: "trusts a server whose key matches the pin"},
		{name: "trusts a server that writes its name with a trailing slash",
			setup: func(s *enrollServer) { s.name = s.URL + "/" }},
		{name: "refuses and revokes when the server key does not match the pin",
			setup: func(s *enrollServer) { s.key = newKey(t) }, wantIs: ErrPinMismatch, wantRevoked: true},
		{name: "refuses and revokes when the server calls itself another URL",
			setup:   func(s *enrollServer) { s.name = "https://evil.example.com" },
			wantErr: `server calls itself "https://evil.example.com" but the link names`, wantRevoked: true},
		{name: "refuses an answer without an enrollment id",
			setup: func(s *enrollServer) { s.id = "" }, wantErr: "without an enrollment id"},
		{name: "returns the server's error body as an *APIError",
			setup: func(s *enrollServer) {
				s.raw = func(w http.ResponseWriter) {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusConflict)
					io.WriteString(w, `{"error":"token_used","message":"this enrollment link was used already"}`)
				}
			},
			check: func(t *testing.T, err error) {
				var ae *APIError
				if !errors.As(err, &ae) || ae.Code != "token_used" || ae.Status != http.StatusConflict || ae.Message != "this enrollment link was used already" {
					t.Fatalf("err = %#v, want *APIError token_used 409 with the message", err)
				}
			}},
		{name: "says what a non-JSON 500 answer was",
			setup: func(s *enrollServer) {
				s.raw = func(w http.ResponseWriter) {
					http.Error(w, "upstream proxy exploded", http.StatusInternalServerError)
				}
			},
			wantErr: "server answered HTTP 500: upstream proxy exploded",
			check: func(t *testing.T, err error) {
				var ae *APIError
				if errors.As(err, &ae) {
					t.Fatalf("a body with no error code became an *APIError: %#v", ae)
				}
			}},
		{name: "says when a 200 answer is not JSON",
			setup: func(s *enrollServer) {
				s.raw = func(w http.ResponseWriter) { io.WriteString(w, "<html>welcome</html>") }
			},
			wantErr: "server answer is not the expected JSON"},
		{name: "refuses an answer over the size limit",
			setup: func(s *enrollServer) {
				s.raw = func(w http.ResponseWriter) { io.WriteString(w, strings.Repeat(" ", MaxMessageSize+1)) }
			},
			wantErr: "server answer is over"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newEnrollServer(t, pinned)
			if tt.setup != nil {
				tt.setup(s)
			}
			link := &enroll.Link{Version: 1, Server: s.URL, Token: "tOkEn-" + crypto.RandomToken(16), User: "alice", Pin: thumbprint(t, pinned)}
			key := newKey(t)
			resp, serverKey, err := EnrollDevice(context.Background(), s.Client(), link, key, dev, now)

			s.mu.Lock()
			enrolled, devKey, revoked := s.enrolled, s.devKey, s.revoked
			s.mu.Unlock()
			if enrolled == nil || enrolled.Token != link.Token || enrolled.IAT != now.Unix() || enrolled.Device != dev {
				t.Fatalf("server got enroll claims %+v, want the link's token, iat %d and the device", enrolled, now.Unix())
			}
			if devKey == nil || !devKey.Equal(&key.PublicKey) {
				t.Fatal("the enroll JWS does not embed the new device key")
			}
			if tt.wantRevoked {
				if len(revoked) != 1 || revoked[0].Issuer != "enr_test" || revoked[0].Audience != link.Server || revoked[0].IAT != now.Unix() {
					t.Fatalf("revocations = %+v, want one for enr_test, aud %s", revoked, link.Server)
				}
			} else if len(revoked) != 0 {
				t.Fatalf("revoked %+v, want nothing revoked", revoked)
			}
			if tt.wantIs == nil && tt.wantErr == "" && tt.check == nil {
				if err != nil {
					t.Fatalf("EnrollDevice = %v", err)
				}
				if resp.EnrollmentID != "enr_test" || resp.User != "alice" || resp.TOTP.Digits != 6 || !serverKey.Equal(&pinned.PublicKey) {
					t.Fatalf("EnrollDevice = %+v, %v", resp, serverKey)
				}
				return
			}
			if err == nil {
				t.Fatalf("EnrollDevice succeeded: %+v", resp)
			}
			if resp != nil || serverKey != nil {
				t.Fatal("EnrollDevice returned an answer with its error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Fatalf("EnrollDevice = %v, want errors.Is %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("EnrollDevice = %q, want it to say %q", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, err)
			}
		})
	}
}

func TestEnrollDeviceSaysWhenRevokingTheRefusedEnrollmentFails(t *testing.T) {
	pinned := newKey(t)
	s := newEnrollServer(t, newKey(t)) // key does not match the pin
	link := &enroll.Link{Version: 1, Server: s.URL, Token: crypto.RandomToken(16), Pin: thumbprint(t, pinned)}
	hc := s.Client()
	// Let the enrollment through, then make the server unreachable.
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Method == http.MethodDelete {
			return nil, errors.New("network is down")
		}
		return http.DefaultTransport.RoundTrip(r)
	})
	_, _, err := EnrollDevice(context.Background(), hc, link, newKey(t), Device{Name: "x"}, time.Now())
	if !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), "revoking the enrollment failed") || !strings.Contains(err.Error(), "network is down") {
		t.Fatalf("EnrollDevice = %v, want the pin mismatch and the failed revocation", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// stateLog collects what Run reports, in order.
type stateLog struct {
	mu     sync.Mutex
	states []ConnState
	errs   []error
	ch     chan ConnState
}

func newStateLog() *stateLog { return &stateLog{ch: make(chan ConnState, 64)} }

func (l *stateLog) record(s ConnState, err error) {
	l.mu.Lock()
	l.states = append(l.states, s)
	l.errs = append(l.errs, err)
	l.mu.Unlock()
	l.ch <- s
}

func (l *stateLog) get() ([]ConnState, []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ConnState(nil), l.states...), append([]error(nil), l.errs...)
}

func (l *stateLog) waitFor(t *testing.T, want ConnState) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case s := <-l.ch:
			if s == want {
				return
			}
		case <-timeout:
			states, _ := l.get()
			t.Fatalf("no %s state within 10 s; states: %v", want, states)
		}
	}
}

// countingServer answers every request with status and body, counting the
// upgrade attempts.
func countingServer(t *testing.T, status int, body string) (*httptest.Server, func() int) {
	var mu sync.Mutex
	n := 0
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		n++
		mu.Unlock()
		if r.URL.Path != PathPush || !strings.HasPrefix(r.Header.Get("Authorization"), AuthScheme+" ") {
			t.Errorf("upgrade request %s without a device token", r.URL.Path)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestRunStopsAtOnceWhenTheServerRefusesTheDeviceForGood(t *testing.T) {
	for _, tt := range []struct {
		status int
		code   string
	}{
		{http.StatusForbidden, "device_revoked"},
		{http.StatusUnauthorized, "unauthorized"},
		{http.StatusUnauthorized, "wrong_audience"},
	} {
		t.Run(tt.code, func(t *testing.T) {
			s, attempts := countingServer(t, tt.status, `{"error":"`+tt.code+`","message":"go away"}`)
			c := &Client{Server: s.URL, EnrollmentID: "enr_1", Key: newKey(t)}
			log := newStateLog()
			// Not timed: one attempt and no reconnecting state (below) say
			// it did not back off. The deadline only stops a Run that
			// retries for ever.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := c.Run(ctx, Handler{State: log.record})
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tt.code || ae.Status != tt.status || !Permanent(err) {
				t.Fatalf("Run = %#v, want *APIError %s (HTTP %d)", err, tt.code, tt.status)
			}
			if n := attempts(); n != 1 {
				t.Fatalf("%d connection attempts, want 1", n)
			}
			states, errs := log.get()
			if !slices.Equal(states, []ConnState{StateConnecting, StateOffline}) || errs[0] != nil || !errors.Is(errs[1], err) {
				t.Fatalf("states = %v %v, want connecting, then offline with the error", states, errs)
			}
		})
	}
}

func TestRunReturnsNilAtOnceWhenCancelledWhileBackingOff(t *testing.T) {
	busy, _ := countingServer(t, http.StatusServiceUnavailable, "try later")
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close() // nothing listens there any more
	for _, tt := range []struct {
		name, url string
	}{
		{"server answers 503 to the upgrade", busy.URL},
		{"nothing listens", gone.URL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The backoff wait never ends by itself: only the cancel can
			// end Run.
			waiting := make(chan time.Duration, 1)
			c := &Client{Server: tt.url, EnrollmentID: "enr_1", Key: newKey(t), After: func(d time.Duration) <-chan time.Time {
				waiting <- d
				return nil
			}}
			log := newStateLog()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx, Handler{State: log.record}) }()
			if d := <-waiting; d < minBackoff/2 {
				t.Fatalf("backoff wait %v, want at least %v", d, minBackoff/2)
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("Run = %v, want nil after a cancel", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("Run did not return within a minute of the cancel")
			}
			states, errs := log.get()
			if !slices.Equal(states, []ConnState{StateConnecting, StateReconnecting, StateOffline}) {
				t.Fatalf("states = %v, want connecting, reconnecting, offline", states)
			}
			if errs[1] == nil || Permanent(errs[1]) || errs[2] != nil {
				t.Fatalf("errors = %v, want the connect error with reconnecting and none with offline", errs)
			}
		})
	}
}

func TestRunReturnsNilWhenCancelledBeforeItStarts(t *testing.T) {
	s, _ := countingServer(t, http.StatusServiceUnavailable, "")
	c := &Client{Server: s.URL, EnrollmentID: "enr_1", Key: newKey(t)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	log := newStateLog()
	if err := c.Run(ctx, Handler{State: log.record}); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if states, _ := log.get(); !slices.Equal(states, []ConnState{StateConnecting, StateOffline}) {
		t.Fatalf("states = %v, want connecting, offline", states)
	}
}

// TestConnectHandsEachMessageToItsHandler drives Connect with a socket
// server that sends every kind of message, including ones the device must
// refuse without hanging up.
func TestConnectEndsWhenANewerConnectionTakesItsPlace(t *testing.T) {
	serverKey := newKey(t)
	c := &Client{EnrollmentID: "enr_1", Key: newKey(t), ServerKey: &serverKey.PublicKey}
	var upgrader websocket.Upgrader
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_ = ws.WriteJSON(Message{Type: MsgWelcome, ServerTime: 1_700_000_000_000})
		_ = ws.WriteJSON(Message{Type: MsgError, Error: ErrReplaced, Message: "a newer connection of this device took this one's place"})
		_, _, _ = ws.ReadMessage()
	}))
	defer s.Close()
	c.Server = s.URL
	err := c.Connect(context.Background(), Handler{})
	if !Replaced(err) || Permanent(err) {
		t.Fatalf("Connect = %v; want it to end with the replaced error, which is not permanent", err)
	}
}

func TestConnectHandsEachMessageToItsHandler(t *testing.T) {
	serverKey := newKey(t)
	c := &Client{EnrollmentID: "enr_1", Key: newKey(t), ServerKey: &serverKey.PublicKey}
	var goodJWS, forgedJWS string // signed once the server's URL is known
	var upgrader websocket.Upgrader
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		send := func(m Message) { _ = ws.WriteJSON(m) }
		send(Message{Type: MsgWelcome, ServerTime: 1_700_000_000_123})
		send(Message{Type: MsgChallenge, JWS: forgedJWS})
		_ = ws.WriteMessage(websocket.TextMessage, []byte("{not json"))
		_ = ws.WriteMessage(websocket.TextMessage, []byte(`{"type":5}`))
		send(Message{Type: MsgChallenge, JWS: goodJWS})
		send(Message{Type: MsgResolved, ID: "ch_old", Outcome: OutcomeExpired})
		send(Message{Type: MsgAck, ID: "ch_1", Outcome: OutcomeApproved})
		send(Message{Type: "from-the-future"})
		send(Message{Type: MsgError, Error: "bad_message", Message: "eh?"})
		send(Message{Type: MsgError, Error: "device_revoked", Message: "removed"})
		_, _, _ = ws.ReadMessage() // until the device hangs up
	}))
	defer s.Close()
	c.Server = s.URL
	good := challengeFor(c)
	forged := good
	forged.ID = "ch_forged"
	goodJWS, forgedJWS = sign(t, serverKey, TypChallenge, good), sign(t, newKey(t), TypChallenge, forged)
	var got []string
	h := Handler{
		Welcome:   func(st time.Time) { got = append(got, "welcome "+st.UTC().Format(time.StampMilli)) },
		Challenge: func(ch *Challenge) { got = append(got, "challenge "+ch.ID) },
		Resolved:  func(id, outcome string) { got = append(got, "resolved "+id+" "+outcome) },
		Ack:       func(id, outcome string) { got = append(got, "ack "+id+" "+outcome) },
		Error:     func(err error) { got = append(got, "error "+err.Error()) },
		State:     func(s ConnState, err error) { got = append(got, "state "+string(s)) },
	}
	err := c.Connect(context.Background(), h)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != "device_revoked" || !Permanent(err) {
		t.Fatalf("Connect = %v, want the device_revoked message as an *APIError", err)
	}
	want := []string{
		"state connected",
		"welcome Nov 14 22:13:20.123",
		"error challenge refused",
		"error server sent a frame that is not a message",
		"error server sent a frame that is not a message",
		"challenge ch_1",
		"resolved ch_old expired",
		"ack ch_1 approved",
		"error bad_message: eh?",
		"error device_revoked: removed",
	}
	if len(got) != len(want) {
		t.Fatalf("handlers saw %d calls, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("call %d = %q, want %q…\nall: %s", i, got[i], want[i], strings.Join(got, "\n"))
		}
	}
}

// TestBackoffNeverOutgrowsTheTimeOffline: failures that come one after the
// other within moments keep the wait near its floor, so a device whose
// server was away for a few seconds is not left waiting a minute.
func TestBackoffNeverOutgrowsTheTimeOffline(t *testing.T) {
	busy, _ := countingServer(t, http.StatusServiceUnavailable, "try later")
	waits := make(chan time.Duration, 16)
	fired := make(chan time.Time)
	close(fired) // every wait ends at once
	c := &Client{Server: busy.URL, EnrollmentID: "enr_1", Key: newKey(t), After: func(d time.Duration) <-chan time.Time {
		select {
		case waits <- d:
		default: // the test has seen enough
		}
		return fired
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, Handler{}) }()
	for i := range 8 {
		if d := <-waits; d > minBackoff+minBackoff/2 {
			t.Fatalf("wait %d after moments offline = %v, want at most %v", i+1, d, minBackoff+minBackoff/2)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v after a cancel", err)
	}
}

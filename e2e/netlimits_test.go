package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// serveForTest runs server.Serve as assentd does, with the operator
// listener on a port of its own, and returns the public URL and the
// operator URL. The server stops when the test ends.
func serveForTest(t *testing.T, edit func(*server.Config)) (pub, ops string) {
	t.Helper()
	dir := t.TempDir()
	cfg := server.DefaultConfig()
	cfg.Listen, cfg.Data, cfg.OpsListen = "127.0.0.1:0", filepath.Join(dir, "data"), freePort(t)
	if edit != nil {
		edit(&cfg)
	}
	if err := cfg.Check(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), func(u string) { ready <- u })
	}()
	select {
	case pub = <-ready:
	case err := <-done:
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v on shutdown", err)
		}
	})
	return pub, "http://" + cfg.OpsListen
}

func netRequest(t *testing.T, method, u string, hdr http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// The metrics and profiles are served on the operator listener alone: a
// proxy on the same machine (every request from a loopback peer) or a
// forged X-Forwarded-For reaches none of them through the public one.
func TestOperatorEndpointsAreOnlyOnTheOperatorListener(t *testing.T) {
	pub, ops := serveForTest(t, nil)
	target, _ := url.Parse(pub)
	front := &http.Server{Handler: httputil.NewSingleHostReverseProxy(target)}
	fl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go front.Serve(fl)
	t.Cleanup(func() { front.Close() })
	viaProxy := "http://" + fl.Addr().String()

	for _, base := range []string{pub, viaProxy} {
		for _, c := range [][2]string{{"GET", "/metrics"}, {"POST", "/debug/gc"}, {"GET", "/debug/pprof/"}, {"GET", "/debug/pprof/heap"}} {
			code, body := netRequest(t, c[0], base+c[1], http.Header{"X-Forwarded-For": {"127.0.0.1"}})
			var e push.APIError
			if code != http.StatusNotFound || json.Unmarshal([]byte(body), &e) != nil || e.Code != "not_found" {
				t.Errorf("%s %s%s = %d %.100s, want the 404 JSON", c[0], base, c[1], code, body)
			}
		}
		if code, _ := netRequest(t, "GET", base+"/healthz", nil); code != 200 {
			t.Errorf("%s/healthz = %d", base, code)
		}
		if code, _ := netRequest(t, "GET", base+"/readyz", nil); code != 200 {
			t.Errorf("%s/readyz = %d", base, code)
		}
	}
	if code, body := netRequest(t, "GET", ops+"/metrics", nil); code != 200 || !strings.Contains(body, "assent_connected_devices 0") {
		t.Fatalf("operator /metrics = %d %.200s", code, body)
	}
	if code, body := netRequest(t, "POST", ops+"/debug/gc", nil); code != 200 || !strings.Contains(body, `"heapInuse"`) {
		t.Fatalf("operator /debug/gc = %d %s", code, body)
	}
	for _, p := range []string{"/healthz", "/readyz", "/debug/pprof/"} {
		if code, _ := netRequest(t, "GET", ops+p, nil); code != 200 {
			t.Errorf("operator %s = %d", p, code)
		}
	}
	if code, _ := netRequest(t, "GET", ops+"/v1/server", nil); code != http.StatusNotFound {
		t.Errorf("the operator listener serves the API: %d", code)
	}
}

func TestServeRefusesAnOperatorPortThatIsTaken(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cfg := server.DefaultConfig()
	cfg.Listen, cfg.Data, cfg.OpsListen = "127.0.0.1:0", filepath.Join(t.TempDir(), "data"), held.Addr().String()
	err = server.Serve(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err == nil || !strings.Contains(err.Error(), "ops-listen "+cfg.OpsListen) || !strings.Contains(err.Error(), "--ops-listen off") {
		t.Fatalf("want an error naming ops-listen and what to do, got %v", err)
	}
}

// headerTransport adds headers to every request, as a client forging
// them would.
type headerTransport struct{ h http.Header }

func (t headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range t.h {
		r.Header[k] = v
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A client that claims another address in X-Forwarded-For or Forwarded is
// still its TCP peer in the audit log, in risk and in the push context,
// unless the peer is a trusted proxy.
func TestForwardingHeadersCountOnlyFromTrustedProxies(t *testing.T) {
	forged := http.Header{"X-Forwarded-For": {"203.0.113.77"}, "Forwarded": {"for=203.0.113.78"}}
	for _, c := range []struct {
		name    string
		trusted string
		want    string
	}{
		{"untrusted peer", "", "127.0.0.1"},
		{"trusted proxy", "127.0.0.1", "203.0.113.77"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(o *server.Options) {
				nets, err := server.ParseTrustedProxies(c.trusted)
				if err != nil {
					t.Fatal(err)
				}
				o.TrustedProxies = nets
			})
			httpc := &http.Client{Timeout: 30 * time.Second, Transport: headerTransport{forged}}
			u := e.addUser("fay", "correct horse battery")
			d, err := core.Open(core.Options{Home: filepath.Join(t.TempDir(), "home"), KeyStore: core.KeyStoreFile, HTTP: httpc,
				Passphrase: func() ([]byte, error) { return []byte("pw"), nil }, FileKDF: cheapArgon2, Now: e.clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := d.Enroll(e.ctx, e.link("fay")); err != nil {
				t.Fatal(err)
			}
			// A sign-in: risk is assessed at identify.
			api := sdk.New(e.url)
			api.HTTP = httpc
			tx, err := api.Interact(e.ctx, "intranet")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: "fay"}); err != nil {
				t.Fatal(err)
			}
			// A test push from an administrator: the address goes into the
			// challenge the device shows.
			tok, err := e.srv.NewAdminToken(e.ctx, "test")
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest("POST", e.url+"/v1/admin/push", strings.NewReader(`{"login":"fay"}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := httpc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("admin push = %d", resp.StatusCode)
			}
			ps, err := d.Challenges(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ps) != 1 || ps[0].Context.ClientIP != c.want {
				t.Fatalf("the device shows %d prompts, from %+v; want one from %s", len(ps), ps, c.want)
			}
			// The push is written to the audit log, push.sent with its
			// outcome, once it ends.
			if _, err := d.Deny(e.ctx, ps[0], false); err != nil {
				t.Fatal(err)
			}
			e.srv.WaitBackground()
			evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{UserID: u.ID})
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]string{}
			for _, ev := range evs {
				seen[ev.Type] = ev.ClientIP
			}
			for _, typ := range []string{"device.enrolled", "risk.assessed", "push.sent"} {
				if got, ok := seen[typ]; !ok || got != c.want {
					t.Errorf("%s: client address %q (recorded: %v), want %s", typ, got, ok, c.want)
				}
			}
		})
	}
}

// A body sent a byte at a time is cut off by the read timeout: the server
// answers, or closes, long before the body is complete.
func TestTrickledRequestsAreCutOff(t *testing.T) {
	pub, _ := serveForTest(t, func(c *server.Config) {
		c.HTTP.ReadHeaderTimeout = 300 * time.Millisecond
		c.HTTP.ReadTimeout = 300 * time.Millisecond
	})
	addr := strings.TrimPrefix(pub, "http://")
	const bodyLen = 2000
	for name, c := range map[string]struct{ head, trickle string }{
		"body": {
			head:    "POST /v1/enroll HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/jose\r\nContent-Length: 2000\r\n\r\n",
			trickle: strings.Repeat("a", bodyLen),
		},
		"headers": {
			head:    "GET /v1/server HTTP/1.1\r\nHost: " + addr + "\r\n",
			trickle: "X-Slow: " + strings.Repeat("a", bodyLen),
		},
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, c.head); err != nil {
				t.Fatal(err)
			}
			ended := make(chan string, 1)
			go func() {
				// Whatever the server says, then the end of the connection.
				data, _ := io.ReadAll(bufio.NewReader(conn))
				ended <- string(data)
			}()
			sent, answer, cut := 0, "", false
			for !cut && sent < len(c.trickle) {
				select {
				case answer = <-ended:
					cut = true
					continue
				case <-time.After(20 * time.Millisecond):
				}
				if _, err := conn.Write([]byte{c.trickle[sent]}); err != nil {
					answer, cut = <-ended, true // the server hung up
					continue
				}
				sent++
			}
			if !cut {
				t.Fatalf("the server took all %d trickled bytes without cutting the request off", sent)
			}
			if answer != "" && !strings.HasPrefix(answer, "HTTP/1.1 4") {
				t.Fatalf("the server answered a cut-off request with %.100q", answer)
			}
			t.Logf("cut off after %d of %d bytes: %.60q", sent, len(c.trickle), answer)
		})
	}
}

// limitedEnv is a server on two listeners: setup (enrollment, sign-ins)
// on a plain one, and the limited one, served as assentd serves it
// (HTTPServer on Listener), where the test opens its sockets.
type limitedEnv struct {
	*env
	limited string // base URL of the limited listener
}

func newLimitedEnv(t *testing.T, opts ...func(*server.Options)) *limitedEnv {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	setup, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	limited, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), st: st, url: "http://" + setup.Addr().String(), clock: fakeclock.New(time.Now()), dir: dir}
	o := server.Options{URL: e.url, Org: "Example Org", Store: st, SealKey: crypto.RandomBytes(32), Now: e.clock.Now, PasswordParams: cheapArgon2}
	for _, f := range opts {
		f(&o)
	}
	if e.srv, err = server.New(e.ctx, o); err != nil {
		t.Fatal(err)
	}
	plain := &http.Server{Handler: e.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go plain.Serve(setup)
	hs := e.srv.HTTPServer()
	go hs.Serve(e.srv.Listener(limited))
	t.Cleanup(func() {
		e.srv.Close()
		plain.Close()
		hs.Close()
		e.srv.WaitBackground()
		st.Close()
	})
	return &limitedEnv{env: e, limited: "http://" + limited.Addr().String()}
}

// dialLimited opens a device's push socket on the limited listener.
func (e *limitedEnv) dialLimited(d *core.Core, a core.Account) *websocket.Conn {
	e.t.Helper()
	cl, err := d.Client(a)
	if err != nil {
		e.t.Fatal(err)
	}
	tok, _ := cl.Token()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.limited, "http")+push.PathPush,
		http.Header{"Authorization": {push.AuthScheme + " " + tok}})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { ws.Close() })
	return ws
}

func (e *env) stepUpPush(u store.User) server.PushResult {
	e.t.Helper()
	res, err := e.srv.SendPush(e.ctx, server.PushRequest{User: u, Kind: push.KindStepUp, NumberChallenge: true,
		UserVerification: push.UVNone, Context: push.ChallengeContext{App: "netlimits test"}})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

// The HTTP server's read and write timeouts end requests, not push
// sockets: a socket kept open well past both still gets a push and its
// answer is still read.
func TestPushSocketOutlivesTheHTTPTimeouts(t *testing.T) {
	const ping, timeout = 30 * time.Millisecond, 100 * time.Millisecond
	e := newLimitedEnv(t, func(o *server.Options) {
		o.PingInterval, o.IdleTimeout = ping, 5*time.Second
		o.HTTP = server.HTTPLimits{ReadHeaderTimeout: timeout, ReadTimeout: timeout, WriteTimeout: timeout, IdleTimeout: timeout}
	})
	u, d, a := e.enrolled("gus")
	ws := e.dialLimited(d, a)
	expectType(t, ws, push.MsgWelcome)
	pings := make(chan struct{}, 1000)
	ws.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	msgs := make(chan push.Message, 16)
	go func() {
		for {
			var m push.Message
			if err := ws.ReadJSON(&m); err != nil {
				close(msgs)
				return
			}
			msgs <- m
		}
	}()
	// The pinger cannot tick faster than its interval: after this many
	// pings the socket has been open three times as long as either timeout.
	for range int(3*timeout/ping) + 1 {
		recv(t, pings)
	}
	res := e.stepUpPush(u)
	m, ok := <-msgs
	if !ok || m.Type != push.MsgChallenge {
		t.Fatalf("after the timeouts the socket got %+v (open: %v), want the challenge", m, ok)
	}
	cl, _ := d.Client(a)
	ch, err := cl.VerifyChallenge(m.JWS)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := cl.SignResponse(ch, push.Answer{Consent: push.ConsentApproved, Number: res.Number})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.WriteJSON(push.Message{Type: push.MsgResponse, JWS: tok}); err != nil {
		t.Fatal(err)
	}
	for m := range msgs {
		if m.Type == push.MsgAck {
			if m.Outcome != store.ChallengeApproved {
				t.Fatalf("ack = %+v", m)
			}
			return
		}
	}
	t.Fatal("the socket closed before the answer was acknowledged")
}

// Connections past the cap on one address are closed as they are accepted;
// the ones before keep working, and trusted proxies are not counted.
func TestConnectionsPerAddressAreCapped(t *testing.T) {
	request := func(c net.Conn) (string, error) {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return "", err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		return resp.Status, nil
	}
	dial := func(t *testing.T, e *limitedEnv) net.Conn {
		c, err := net.Dial("tcp", strings.TrimPrefix(e.limited, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	t.Run("capped", func(t *testing.T) {
		e := newLimitedEnv(t, func(o *server.Options) { o.HTTP.MaxConnsPerAddress = 2 })
		first, second := dial(t, e), dial(t, e)
		for _, c := range []net.Conn{first, second} {
			if st, err := request(c); err != nil || st != "200 OK" {
				t.Fatalf("a connection under the cap: %q, %v", st, err)
			}
		}
		if st, err := request(dial(t, e)); err == nil {
			t.Fatalf("a third connection from one address was served: %s", st)
		}
		if st, err := request(first); err != nil || st != "200 OK" {
			t.Fatalf("the first connection after the refusal: %q, %v", st, err)
		}
		// A closed connection gives its place back (once the server has
		// seen it close).
		second.Close()
		deadline := time.Now().Add(20 * time.Second)
		for {
			st, err := request(dial(t, e))
			if err == nil && st == "200 OK" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("a closed connection never gave its place back")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("trusted proxies are exempt", func(t *testing.T) {
		e := newLimitedEnv(t, func(o *server.Options) {
			o.HTTP.MaxConnsPerAddress = 2
			o.TrustedProxies, _ = server.ParseTrustedProxies("127.0.0.1")
		})
		for i := range 4 {
			if st, err := request(dial(t, e)); err != nil || st != "200 OK" {
				t.Fatalf("connection %d from a trusted proxy: %q, %v", i+1, st, err)
			}
		}
	})
}

// A device keeps at most four sockets on a node: a fifth closes the
// oldest, which is told why.
func TestFifthSocketOfADeviceClosesTheOldest(t *testing.T) {
	e := newEnv(t)
	u, d, a := e.enrolled("hal")
	var socks []*websocket.Conn
	for range 5 {
		ws := dialDevice(t, e, d, a)
		expectType(t, ws, push.MsgWelcome)
		socks = append(socks, ws)
	}
	m := expectType(t, socks[0], push.MsgError)
	if m.Error != "replaced" || !strings.Contains(m.Message, "newer connection of this device") {
		t.Fatalf("the oldest socket was told %+v", m)
	}
	socks[0].SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := socks[0].ReadMessage(); err == nil || errors.Is(err, context.DeadlineExceeded) || isNetTimeout(err) {
		t.Fatalf("the oldest socket was not closed: %v", err)
	}
	if n := e.srv.ConnectedDevices(); n != 4 {
		t.Fatalf("%d sockets open, want 4", n)
	}
	e.stepUpPush(u)
	for i, ws := range socks[1:] {
		if m := readMsg(t, ws); m.Type != push.MsgChallenge {
			t.Fatalf("socket %d got %+v, want the challenge", i+2, m)
		}
	}
}

func isNetTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Sockets that wait for their hello are capped per address and per node;
// past the caps the upgrade is refused with an HTTP error, before any
// socket exists.
func TestUnauthenticatedSocketsAreCapped(t *testing.T) {
	e := newEnv(t, func(o *server.Options) {
		o.Sockets = server.SocketLimits{Unauthenticated: 3, UnauthenticatedPerAddress: 2}
	})
	_, d, a := e.enrolled("ivy")
	wsURL := "ws" + strings.TrimPrefix(e.url, "http") + push.PathPush
	dialFrom := func(src string) (*websocket.Conn, *http.Response, error) {
		nd := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		dl := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 10 * time.Second}
		ws, resp, err := dl.Dial(wsURL, nil)
		if ws != nil {
			t.Cleanup(func() { ws.Close() })
		}
		return ws, resp, err
	}
	refused := func(src string, status int, code string) {
		t.Helper()
		_, resp, err := dialFrom(src)
		if err == nil || resp == nil {
			t.Fatalf("a socket from %s past the cap was upgraded (%v)", src, err)
		}
		defer resp.Body.Close()
		var ae push.APIError
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status || json.Unmarshal(body, &ae) != nil || ae.Code != code || ae.Message == "" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("from %s: %d %s (Retry-After %q), want %d %s", src, resp.StatusCode, body, resp.Header.Get("Retry-After"), status, code)
		}
	}
	a1, _, err := dialFrom("127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dialFrom("127.0.0.2"); err != nil {
		t.Fatal(err)
	}
	refused("127.0.0.2", http.StatusTooManyRequests, "too_many_sockets")
	if _, _, err := dialFrom("127.0.0.3"); err != nil {
		t.Fatal(err)
	}
	refused("127.0.0.4", http.StatusServiceUnavailable, "busy")

	// A hello frees its place.
	cl, _ := d.Client(a)
	tok, _ := cl.Token()
	if err := a1.WriteJSON(push.Message{Type: push.MsgHello, Token: tok}); err != nil {
		t.Fatal(err)
	}
	expectType(t, a1, push.MsgWelcome)
	if _, _, err := dialFrom("127.0.0.4"); err != nil {
		t.Fatalf("after a hello, a socket from another address: %v", err)
	}
	// A socket that brings its token in the upgrade request is not
	// waiting for anything, and is not capped here.
	expectType(t, dialDevice(t, e, d, a), push.MsgWelcome)
}

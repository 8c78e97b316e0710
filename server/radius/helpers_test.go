package radius

// Test helpers: real assentd nodes (a SQLite file, or PostgreSQL in a
// schema of their own) with the RADIUS server attached on a loopback UDP
// port, devices enrolled through the push protocol, and a NAS: a UDP
// socket that sends Access-Requests built with layeh.com/radius and signs
// them with a Message-Authenticator computed here, independently of the
// server's code.

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"encoding/base32"
	"github.com/seed-3a5b824e/assent/internal/pgtest"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/postgres"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

var cheapArgon2 = crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}

const (
	password = "correct horse battery"
	secret   = "a shared secret of some length"
)

// Policies of these tests.
const (
	// passwordPolicy lets a password alone sign in.
	passwordPolicy = `
signOn:
  - name: Password
    action: {factors: 1, numberChallenge: never, reauthenticate: 12h}
`
	// pushPolicy asks a password and a push with a number, or a code.
	pushPolicy = `
signOn:
  - name: VPN
    action: {factors: 2, authenticators: [push, totp], numberChallenge: always, reauthenticate: 12h}
`
	// plainPushPolicy asks a password and a push without a number, or a
	// code.
	plainPushPolicy = `
signOn:
  - name: VPN
    action: {factors: 2, authenticators: [push, totp], numberChallenge: never, reauthenticate: 12h}
`
	// codePolicy asks a password and a code.
	codePolicy = `
signOn:
  - name: VPN
    action: {factors: 2, authenticators: [totp], reauthenticate: 12h}
`
)

type node struct {
	srv *server.Server
	r   *Server
	// addr is the RADIUS server's UDP address.
	addr *net.UDPAddr
}

type env struct {
	t     testing.TB
	ctx   context.Context
	st    store.Store
	url   string
	clock *fakeclock.Clock
	nodes []*node
}

type envOpts struct {
	nodes    int
	postgres bool
	opts     Options
	policy   string
	// clients are registered before the RADIUS servers start (a client
	// added later is read when its first request comes, at most a second
	// after the last reading).
	clients []clientSpec
}

type clientSpec struct {
	name      string
	challenge bool
	networks  []string
}

// newEnv starts nodes on one store; the first serves HTTP (the devices'
// side), each serves RADIUS on a loopback port of its own.
func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	if o.nodes == 0 {
		o.nodes = 1
	}
	if o.policy == "" {
		o.policy = passwordPolicy
	}
	if o.opts.PollInterval == 0 {
		o.opts.PollInterval = 10 * time.Millisecond
	}
	o.opts.Listen = "127.0.0.1:0"
	pol, err := policy.Parse([]byte(o.policy))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: context.Background(), clock: fakeclock.New(time.Now())}
	if o.postgres {
		st, err := postgres.Open(e.ctx, pgSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		e.st = st
	} else {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
		if err != nil {
			t.Fatal(err)
		}
		e.st = st
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.url = "http://" + ln.Addr().String()
	seal := crypto.RandomBytes(32)
	for range o.nodes {
		srv, err := server.New(e.ctx, server.Options{URL: e.url, Org: "Example Org", Store: e.st, SealKey: seal, Now: e.clock.Now,
			PasswordParams: cheapArgon2, Policy: pol})
		if err != nil {
			t.Fatal(err)
		}
		n := &node{srv: srv}
		e.nodes = append(e.nodes, n)
		if len(e.nodes) == 1 {
			// Clients are registered before the RADIUS servers start in
			// most tests; the first node's registry is the one used.
			RegisterKind(srv)
		}
	}
	hs := &http.Server{Handler: e.nodes[0].srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	for _, c := range o.clients {
		e.client(c.name, c.challenge, c.networks...)
	}
	for _, n := range e.nodes {
		n.r, err = Attach(n.srv, o.opts)
		if err != nil {
			t.Fatal(err)
		}
		n.addr = n.r.Addr().(*net.UDPAddr)
	}
	t.Cleanup(func() {
		hs.Close()
		for _, n := range e.nodes {
			n.srv.Close()
			n.r.Close()
			n.srv.WaitBackground()
		}
		e.st.Close()
	})
	return e
}

func (e *env) srv() *server.Server { return e.nodes[0].srv }
func (e *env) r() *Server          { return e.nodes[0].r }

// pgSchema makes a PostgreSQL schema for one test and returns a URL that
// uses it (internal/pgtest).
func pgSchema(t testing.TB) string { t.Helper(); return pgtest.Schema(t, "assent_radius") }

func (e *env) addUser(login string) store.User {
	e.t.Helper()
	u, err := e.srv().AddUser(e.ctx, server.NewUser{Login: login, Password: password, Email: login + "@example.com"})
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// client registers a RADIUS client for the loopback networks.
func (e *env) client(name string, challenge bool, networks ...string) store.App {
	e.t.Helper()
	if len(networks) == 0 {
		networks = []string{"127.0.0.0/8"}
	}
	settings := map[string][]string{SettingClient: networks, SettingSecret: {secret}}
	if challenge {
		settings[SettingChallenge] = []string{"true"}
	}
	a, said, err := e.srv().AddAppOfKind(e.ctx, name, store.AppRADIUS, settings)
	if err != nil {
		e.t.Fatal(err)
	}
	if said != "" {
		e.t.Fatalf("a radius client's secret is the administrator's; nothing should be said once, got %q", said)
	}
	return a
}

// device is an enrolled Assent device, speaking the push protocol.
type device struct {
	t    testing.TB
	c    *push.Client
	totp crypto.OTPParams
	now  func() time.Time
}

func (e *env) enrolled(login string) (store.User, *device) {
	e.t.Helper()
	u := e.addUser(login)
	link, err := e.srv().NewEnrollLink(e.ctx, login)
	if err != nil {
		e.t.Fatal(err)
	}
	key, err := crypto.NewDeviceKey()
	if err != nil {
		e.t.Fatal(err)
	}
	resp, serverKey, err := push.EnrollDevice(e.ctx, http.DefaultClient, link, key,
		push.Device{Name: login + "-phone", Platform: "linux", KeyStore: "file"}, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	sec, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(resp.TOTP.Secret)
	if err != nil {
		e.t.Fatal(err)
	}
	return u, &device{t: e.t, now: e.clock.Now,
		c: &push.Client{Server: link.Server, PushURL: resp.PushURL, EnrollmentID: resp.EnrollmentID, Key: key, ServerKey: serverKey,
			Now: e.clock.Now},
		totp: crypto.OTPParams{Secret: sec, Algorithm: resp.TOTP.Algorithm, Digits: resp.TOTP.Digits, Period: resp.TOTP.Period}}
}

func (d *device) code() string {
	d.t.Helper()
	c, err := crypto.TOTP(d.totp, d.now())
	if err != nil {
		d.t.Fatal(err)
	}
	return c
}

// prompts are the device's pending challenges.
func (d *device) prompts() []*push.Challenge {
	d.t.Helper()
	chs, _, err := d.c.Poll(context.Background())
	if err != nil {
		d.t.Fatal(err)
	}
	return chs
}

// waitPrompt waits for the one push a request sends (it goes out while
// the request is worked on).
func (d *device) waitPrompt() *push.Challenge {
	d.t.Helper()
	var chs []*push.Challenge
	eventually(d.t, "a push on the device", func() bool {
		chs = d.prompts()
		return len(chs) > 0
	})
	if len(chs) != 1 {
		d.t.Fatalf("want one push, got %d", len(chs))
	}
	return chs[0]
}

func (d *device) answer(ch *push.Challenge, consent string, number int) {
	d.t.Helper()
	if _, err := d.c.Respond(context.Background(), ch, push.Answer{Consent: consent, Number: number}); err != nil {
		d.t.Fatal(err)
	}
}

// eventually waits for cond, failing after a generous deadline.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// nas is a RADIUS client on a loopback socket of its own.
type nas struct {
	t      testing.TB
	conn   *net.UDPConn
	to     *net.UDPAddr
	secret []byte
	// noMA leaves the Message-Authenticator out.
	noMA bool
}

func (e *env) nas(to *node, sec string) *nas { return e.nasFrom(to, "127.0.0.1", sec) }

// nasFrom is a client sending from a loopback address of its choice.
func (e *env) nasFrom(to *node, ip, sec string) *nas {
	e.t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(ip)})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return &nas{t: e.t, conn: conn, to: to.addr, secret: []byte(sec)}
}

// accessRequest is an Access-Request for login and password, with attrs
// added by the caller.
func (n *nas) accessRequest(login, pw string, attrs ...func(*radius.Packet)) *radius.Packet {
	n.t.Helper()
	p := radius.New(radius.CodeAccessRequest, n.secret)
	if err := rfc2865.UserName_SetString(p, login); err != nil {
		n.t.Fatal(err)
	}
	if pw != "" || len(attrs) == 0 {
		if err := rfc2865.UserPassword_SetString(p, pw); err != nil {
			n.t.Fatal(err)
		}
	}
	_ = rfc2865.NASIdentifier_SetString(p, "test-vpn")
	for _, f := range attrs {
		f(p)
	}
	return p
}

// encode signs a request with a Message-Authenticator, put last and
// computed over the wire bytes as RFC 3579 says.
func (n *nas) encode(p *radius.Packet) []byte {
	n.t.Helper()
	if n.noMA {
		b, err := p.Encode()
		if err != nil {
			n.t.Fatal(err)
		}
		return b
	}
	return signRequest(n.t, p, n.secret)
}

func signRequest(t testing.TB, p *radius.Packet, sec []byte) []byte {
	t.Helper()
	rfc2869.MessageAuthenticator_Del(p)
	p.Add(rfc2869.MessageAuthenticator_Type, make(radius.Attribute, 16))
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(md5.New, sec)
	m.Write(b)
	copy(b[len(b)-16:], m.Sum(nil))
	return b
}

func (n *nas) send(b []byte) {
	n.t.Helper()
	if _, err := n.conn.WriteToUDP(b, n.to); err != nil {
		n.t.Fatal(err)
	}
}

// read reads the next answer and checks it belongs to req: its Response
// Authenticator and its Message-Authenticator (first, as the server
// puts it).
func (n *nas) read(req []byte) *radius.Packet {
	n.t.Helper()
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	k, _, err := n.conn.ReadFromUDP(buf)
	if err != nil {
		n.t.Fatalf("no answer: %v", err)
	}
	b := buf[:k]
	if !radius.IsAuthenticResponse(b, req, n.secret) {
		n.t.Fatal("the answer's Response Authenticator is wrong")
	}
	checkAnswerMA(n.t, b, req, n.secret)
	p, err := radius.Parse(b, n.secret)
	if err != nil {
		n.t.Fatal(err)
	}
	return p
}

// checkAnswerMA checks an answer's Message-Authenticator: the first
// attribute, an HMAC-MD5 over the answer with the request's authenticator
// in place of its own and the attribute zeroed.
func checkAnswerMA(t testing.TB, b, req, sec []byte) {
	t.Helper()
	if len(b) < 38 || b[20] != byte(rfc2869.MessageAuthenticator_Type) || b[21] != 18 {
		t.Fatalf("the answer does not begin with a Message-Authenticator: % x", b[:min(len(b), 40)])
	}
	z := slices.Clone(b)
	copy(z[4:20], req[4:20])
	clear(z[22:38])
	m := hmac.New(md5.New, sec)
	m.Write(z)
	if !hmac.Equal(m.Sum(nil), b[22:38]) {
		t.Fatal("the answer's Message-Authenticator is wrong")
	}
}

// exchange sends a request and reads its answer.
func (n *nas) exchange(p *radius.Packet) *radius.Packet {
	n.t.Helper()
	b := n.encode(p)
	n.send(b)
	return n.read(b)
}

// statusServer asks whether the server is alive; what comes back next on
// the socket must be its answer, which shows nothing else was sent first.
func (n *nas) nothingElse() {
	n.t.Helper()
	p := radius.New(radius.CodeStatusServer, n.secret)
	b := signRequest(n.t, p, n.secret)
	n.send(b)
	a := n.read(b)
	if a.Code != radius.CodeAccessAccept || a.Identifier != p.Identifier {
		n.t.Fatalf("want the Status-Server's answer first, got %v id %d", a.Code, a.Identifier)
	}
}

func replyMessage(p *radius.Packet) string {
	var b strings.Builder
	for _, v := range p.Attributes {
		if v.Type == rfc2865.ReplyMessage_Type {
			b.Write(v.Attribute)
		}
	}
	return b.String()
}

// wantAnswer checks an answer's code, and that its Reply-Message holds
// each of msgs.
func wantAnswer(t testing.TB, p *radius.Packet, code radius.Code, msgs ...string) {
	t.Helper()
	if p.Code != code {
		t.Fatalf("want %v, got %v (%q)", code, p.Code, replyMessage(p))
	}
	for _, m := range msgs {
		if !strings.Contains(replyMessage(p), m) {
			t.Fatalf("want the Reply-Message to say %q, got %q", m, replyMessage(p))
		}
	}
}

// audits lists the events of a type.
func (e *env) audits(typ string) []store.AuditEvent {
	e.t.Helper()
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{Types: []string{typ}})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

// waitDropped waits until the server has dropped n datagrams for reason.
func (e *env) waitDropped(n *node, reason string, want int64) {
	e.t.Helper()
	eventually(e.t, "a datagram dropped for "+reason, func() bool { return n.r.Stats().Dropped[reason] >= want })
}

package e2e

// Helpers of the RADIUS tests: assentd with its RADIUS server attached on
// a loopback UDP port, and two clients that know nothing of Assent's
// code: Debian's radclient (FreeRADIUS), and a Go client on
// layeh.com/radius that signs its requests with a Message-Authenticator
// computed here.

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"net"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/server"
	assentradius "github.com/seed-3a5b824e/assent/server/radius"
	"github.com/seed-3a5b824e/assent/server/store"
)

const radiusSecret = "vpn shared secret, 32 characters"

// radiusClient is a RADIUS client registered as an administrator would
// (the settings 'assentd app add NAME --type radius' passes).
type radiusClient struct {
	name      string
	networks  []string
	challenge bool
}

// newRADIUSEnv is a test server with a policy, RADIUS clients registered,
// and the RADIUS server attached on a loopback port.
func newRADIUSEnv(t *testing.T, policy string, clients ...radiusClient) (*env, *assentradius.Server) {
	t.Helper()
	var opts []func(*server.Options)
	if policy != "" {
		opts = append(opts, withPolicy(t, policy))
	}
	e := newEnv(t, opts...)
	assentradius.RegisterKind(e.srv)
	for _, c := range clients {
		settings := map[string][]string{"client": c.networks, "secret": {radiusSecret}}
		if c.challenge {
			settings["challenge"] = []string{"true"}
		}
		if _, _, err := e.srv.AddAppOfKind(e.ctx, c.name, store.AppRADIUS, settings); err != nil {
			t.Fatal(err)
		}
	}
	r, err := assentradius.Attach(e.srv, assentradius.Options{Listen: "127.0.0.1:0", PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return e, r
}

// Policies of the RADIUS tests. The default policy (password, then a push
// with a number) is the first.
const (
	vpnPlainPush = `
signOn:
  - name: VPN without numbers
    conditions: {apps: [vpn]}
    action: {factors: 2, authenticators: [push, totp], numberChallenge: never, reauthenticate: 12h}
  - name: Default
    action: {factors: 2, numberChallenge: always, reauthenticate: 12h}
`
)

// radclientRun runs Debian's radclient with attributes (one request) and
// returns what it printed.
func radclientRun(t *testing.T, addr, secret, attrs string, timeout int) string {
	t.Helper()
	if _, err := exec.LookPath("radclient"); err != nil {
		t.Fatal("radclient is not installed: apt-get install -y freeradius-utils (make deps does)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeout+60)*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "radclient", "-x", "-r", "1", "-t", strconv.Itoa(timeout), addr, "auth", secret)
	cmd.Stdin = strings.NewReader(attrs + "\n")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("radclient: %v\n%s", err, out)
	}
	return string(out)
}

// radclientGot is the answer radclient printed: "Access-Accept", … or "" for
// none.
func radclientGot(out string) string {
	m := regexp.MustCompile(`Received (Access-\w+) Id`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return m[1]
}

// radclientAttr is an attribute's value as radclient printed it.
func radclientAttr(out, name string) string {
	m := regexp.MustCompile(`(?m)^\s+` + name + ` = (.*)$`).FindStringSubmatch(out)
	if m == nil {
		return ""
	}
	return strings.Trim(m[1], `"`)
}

// waitPrompt waits for the one push a RADIUS request sends (it goes out
// while the request is worked on).
func (e *env) waitPrompt(d *core.Core) core.Prompt {
	e.t.Helper()
	var ps []core.Prompt
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		if ps, err = d.Challenges(e.ctx); err != nil {
			e.t.Fatal(err)
		}
		if len(ps) > 0 {
			break
		}
		if time.Now().After(deadline) {
			e.t.Fatal("waited 30 s for the push")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(ps) != 1 {
		e.t.Fatalf("want one push, got %d", len(ps))
	}
	return ps[0]
}

// eventuallyE waits for cond with a generous deadline.
func eventuallyE(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// goNAS is a RADIUS client written with layeh.com/radius.
type goNAS struct {
	t      *testing.T
	addr   string
	secret []byte
}

func newGoNAS(t *testing.T, r *assentradius.Server, secret string) *goNAS {
	return &goNAS{t: t, addr: r.Addr().String(), secret: []byte(secret)}
}

// request is an Access-Request as a VPN server sends it.
func (g *goNAS) request(login, pw string, more ...func(*radius.Packet)) *radius.Packet {
	g.t.Helper()
	p := radius.New(radius.CodeAccessRequest, g.secret)
	_ = rfc2865.UserName_SetString(p, login)
	if err := rfc2865.UserPassword_SetString(p, pw); err != nil {
		g.t.Fatal(err)
	}
	_ = rfc2865.NASIdentifier_SetString(p, "vpn-gw1")
	_ = rfc2865.CallingStationID_SetString(p, "198.51.100.23")
	for _, f := range more {
		f(p)
	}
	signMA(g.t, p)
	return p
}

// signMA adds a Message-Authenticator (RFC 3579, 3.2) to a request: an
// HMAC-MD5 of the packet, with the attribute zeroed, under the secret.
func signMA(t *testing.T, p *radius.Packet) {
	t.Helper()
	rfc2869.MessageAuthenticator_Del(p)
	ma := make(radius.Attribute, 16)
	p.Add(rfc2869.MessageAuthenticator_Type, ma)
	b, err := p.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(md5.New, p.Secret)
	m.Write(b)
	copy(ma, m.Sum(nil))
}

// exchange sends a request with layeh's client (which checks the
// Response Authenticator) and checks the answer's Message-Authenticator.
func (g *goNAS) exchange(p *radius.Packet) *radius.Packet {
	g.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := &radius.Client{Retry: 0, MaxPacketErrors: 10}
	a, err := c.Exchange(ctx, p, g.addr)
	if err != nil {
		g.t.Fatalf("exchange: %v", err)
	}
	checkMA(g.t, a, p.Authenticator)
	return a
}

// checkMA checks an answer's Message-Authenticator: over the answer with
// the request's authenticator and the attribute zeroed.
func checkMA(t *testing.T, a *radius.Packet, reqAuth [16]byte) {
	t.Helper()
	got := rfc2869.MessageAuthenticator_Get(a)
	if len(got) != 16 {
		t.Fatal("the answer has no Message-Authenticator")
	}
	c := &radius.Packet{Code: a.Code, Identifier: a.Identifier, Authenticator: reqAuth}
	for _, avp := range a.Attributes {
		v := avp.Attribute
		if avp.Type == rfc2869.MessageAuthenticator_Type {
			v = make(radius.Attribute, 16)
		}
		c.Add(avp.Type, v)
	}
	b, err := c.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(md5.New, a.Secret)
	m.Write(b)
	if !hmac.Equal(m.Sum(nil), got) {
		t.Fatal("the answer's Message-Authenticator is wrong")
	}
}

func reply(p *radius.Packet) string {
	var b strings.Builder
	for _, v := range p.Attributes {
		if v.Type == rfc2865.ReplyMessage_Type {
			b.Write(v.Attribute)
		}
	}
	return b.String()
}

func wantRADIUS(t *testing.T, p *radius.Packet, code radius.Code, msgs ...string) {
	t.Helper()
	if p.Code != code {
		t.Fatalf("want %v, got %v (%q)", code, p.Code, reply(p))
	}
	for _, m := range msgs {
		if !strings.Contains(reply(p), m) {
			t.Fatalf("want the Reply-Message to say %q, got %q", m, reply(p))
		}
	}
}

// pickedNumber is the number an Access-Challenge shows ("pick 42").
func pickedNumber(t *testing.T, msg string) int {
	t.Helper()
	m := regexp.MustCompile(`pick (\d\d)\b`).FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("no number to pick in %q", msg)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// rawNAS sends datagrams and reads answers on one socket: what a client
// that retransmits, or gives up, does.
type rawNAS struct {
	t    *testing.T
	conn *net.UDPConn
	to   *net.UDPAddr
}

func newRawNAS(t *testing.T, r *assentradius.Server) *rawNAS {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawNAS{t: t, conn: conn, to: r.Addr().(*net.UDPAddr)}
}

func (n *rawNAS) send(b []byte) {
	n.t.Helper()
	if _, err := n.conn.WriteToUDP(b, n.to); err != nil {
		n.t.Fatal(err)
	}
}

func (n *rawNAS) read(req []byte, secret string) (*radius.Packet, []byte) {
	n.t.Helper()
	buf := make([]byte, 4096)
	n.conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	k, _, err := n.conn.ReadFromUDP(buf)
	if err != nil {
		n.t.Fatalf("no answer: %v", err)
	}
	if !radius.IsAuthenticResponse(buf[:k], req, []byte(secret)) {
		n.t.Fatal("the answer's Response Authenticator is wrong")
	}
	p, err := radius.Parse(buf[:k], []byte(secret))
	if err != nil {
		n.t.Fatal(err)
	}
	var auth [16]byte
	copy(auth[:], req[4:20])
	checkMA(n.t, p, auth)
	return p, slices.Clone(buf[:k])
}

func encode(t *testing.T, p *radius.Packet) []byte {
	t.Helper()
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// droppedReasons lists the radius.dropped events' reasons.
func (e *env) droppedReasons() []string {
	e.t.Helper()
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{Types: []string{"radius.dropped"}})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Detail["reason"])
	}
	return out
}

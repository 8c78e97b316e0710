package e2e

// RADIUS end to end: a real assentd with its RADIUS server on a loopback
// UDP port, Debian's radclient and a Go client on layeh.com/radius as the
// VPN servers, and real app/core devices answering the pushes.

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"github.com/seed-3a5b824e/assent/server/store"
)

var vpnClient = radiusClient{name: "vpn", networks: []string{"127.0.0.0/8"}}

func TestRADIUSRadclientPasswordThenPushApproved(t *testing.T) {
	e, r := newRADIUSEnv(t, vpnPlainPush, vpnClient)
	_, d, _ := e.enrolled("alice")
	var out string
	var wg sync.WaitGroup
	wg.Go(func() {
		out = radclientRun(t, r.Addr().String(), radiusSecret,
			`User-Name = "alice", User-Password = "correct horse battery", NAS-Identifier = "office-vpn", Calling-Station-Id = "203.0.113.50", Message-Authenticator = 0x00`, 30)
	})
	p := e.waitPrompt(d)
	// The push names the app, the VPN server and where the person is.
	if p.Context.App != "vpn" || p.Context.ClientIP != "203.0.113.50" || !strings.Contains(p.Context.UserAgent, "RADIUS office-vpn (127.0.0.1)") ||
		len(p.Numbers) != 0 {
		t.Fatalf("the push shows %+v, numbers %v", p.Context, p.Numbers)
	}
	if _, err := d.Approve(e.ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if radclientGot(out) != "Access-Accept" {
		t.Fatalf("radclient got no Access-Accept:\n%s", out)
	}
	if !strings.Contains(out, "Message-Authenticator = 0x") {
		t.Fatalf("radclient saw no Message-Authenticator in the answer:\n%s", out)
	}
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{Types: []string{"radius.accept", "signin.success"}})
	if err != nil || len(evs) != 2 || evs[0].Detail["app"] != "vpn" || evs[1].Type != "radius.accept" || evs[1].TxID != evs[0].TxID {
		t.Fatalf("audit: %+v, %v", evs, err)
	}
}

func TestRADIUSRadclientChallengeWithStateAndNumber(t *testing.T) {
	// The default policy: a number to pick, shown in the Access-Challenge.
	e, r := newRADIUSEnv(t, "", radiusClient{name: "vpn", networks: []string{"127.0.0.1"}, challenge: true})
	_, d, _ := e.enrolled("alice")
	out := radclientRun(t, r.Addr().String(), radiusSecret,
		`User-Name = "alice", User-Password = "correct horse battery", Message-Authenticator = 0x00`, 30)
	if radclientGot(out) != "Access-Challenge" {
		t.Fatalf("radclient got no Access-Challenge:\n%s", out)
	}
	msg := radclientAttr(out, "Reply-Message")
	state := radclientAttr(out, "State")
	if !strings.HasPrefix(msg, "Approve the request in Assent") || !strings.HasPrefix(state, "0x") {
		t.Fatalf("Reply-Message %q, State %q:\n%s", msg, state, out)
	}
	number := pickedNumber(t, msg)
	p := e.waitPrompt(d)
	if !slices.Contains(p.Numbers, number) {
		t.Fatalf("the message shows %d, the push offers %v", number, p.Numbers)
	}
	if _, err := d.Approve(e.ctx, p, number); err != nil {
		t.Fatal(err)
	}
	// The person presses Enter: the client answers the challenge.
	answer := fmt.Sprintf(`User-Name = "alice", User-Password = "", State = %s, Message-Authenticator = 0x00`, state)
	if out := radclientRun(t, r.Addr().String(), radiusSecret, answer, 30); radclientGot(out) != "Access-Accept" {
		t.Fatalf("the answer to the challenge got:\n%s", out)
	}
	// The State works once.
	if out := radclientRun(t, r.Addr().String(), radiusSecret, answer, 30); radclientGot(out) != "Access-Reject" ||
		!strings.Contains(out, "unknown or expired") {
		t.Fatalf("the State used again got:\n%s", out)
	}
}

func TestRADIUSDeniedAndWrongNumberAreRejected(t *testing.T) {
	e, r := newRADIUSEnv(t, "", radiusClient{name: "vpn", networks: []string{"127.0.0.1"}, challenge: true})
	_, d, _ := e.enrolled("alice")
	g := newGoNAS(t, r, radiusSecret)
	answer := func(c *radius.Packet) *radius.Packet {
		return g.request("alice", "", func(p *radius.Packet) { _ = rfc2865.State_Set(p, rfc2865.State_Get(c)) })
	}

	c := g.exchange(g.request("alice", "correct horse battery"))
	wantRADIUS(t, c, radius.CodeAccessChallenge, "pick ")
	if _, err := d.Deny(e.ctx, e.waitPrompt(d), false); err != nil {
		t.Fatal(err)
	}
	wantRADIUS(t, g.exchange(answer(c)), radius.CodeAccessReject, "denied in the Assent app")

	c = g.exchange(g.request("alice", "correct horse battery"))
	shown := pickedNumber(t, reply(c))
	p := e.waitPrompt(d)
	wrong := p.Numbers[slices.IndexFunc(p.Numbers, func(n int) bool { return n != shown })]
	if _, err := d.Approve(e.ctx, p, wrong); err != nil {
		t.Fatal(err)
	}
	wantRADIUS(t, g.exchange(answer(c)), radius.CodeAccessReject, "wrong number")
}

func TestRADIUSHeldPushDeniedIsRejected(t *testing.T) {
	e, r := newRADIUSEnv(t, vpnPlainPush, vpnClient)
	_, d, _ := e.enrolled("alice")
	g := newGoNAS(t, r, radiusSecret)
	var a *radius.Packet
	var wg sync.WaitGroup
	wg.Go(func() { a = g.exchange(g.request("alice", "correct horse battery")) })
	if _, err := d.Deny(e.ctx, e.waitPrompt(d), false); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	wantRADIUS(t, a, radius.CodeAccessReject, "denied")
}

func TestRADIUSAppendedCodeNeedsNoPush(t *testing.T) {
	e, r := newRADIUSEnv(t, "", vpnClient)
	_, d, acct := e.enrolled("alice")
	g := newGoNAS(t, r, radiusSecret)
	code, err := d.Code(acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantRADIUS(t, g.exchange(g.request("alice", "correct horse battery,"+code.Code)), radius.CodeAccessAccept)
	if ps, err := d.Challenges(e.ctx); err != nil || len(ps) != 0 {
		t.Fatalf("prompts %d, %v: a code should need no push", len(ps), err)
	}
	// The same code again: refused, it works once.
	wantRADIUS(t, g.exchange(g.request("alice", "correct horse battery,"+code.Code)), radius.CodeAccessReject, "used already")
	// The default rule wants a number picked; a client that cannot show
	// one is refused, saying why, rather than pushing without it.
	wantRADIUS(t, g.exchange(g.request("alice", "correct horse battery")), radius.CodeAccessReject, "cannot show it")
}

func TestRADIUSWrongSecretUnknownClientAndNoMessageAuthenticatorAreDropped(t *testing.T) {
	e, r := newRADIUSEnv(t, "", radiusClient{name: "vpn", networks: []string{"127.0.0.1"}})
	e.enrolled("alice")
	addr := r.Addr().String()
	attrs := `User-Name = "alice", User-Password = "correct horse battery"`
	var outs [3]string
	var wg sync.WaitGroup
	// Each gets no answer: radclient waits its 2 s and says so.
	wg.Go(func() {
		outs[0] = radclientRun(t, addr, "not the shared secret, but long", attrs+`, Message-Authenticator = 0x00`, 2)
	})
	wg.Go(func() { outs[1] = radclientRun(t, addr, radiusSecret, attrs, 2) })
	// An address no client covers: 127.0.0.2.
	wg.Go(func() {
		outs[2] = radclientRun(t, addr, radiusSecret, attrs+`, Message-Authenticator = 0x00, Packet-Src-IP-Address = 127.0.0.2`, 2)
	})
	wg.Wait()
	for i, out := range outs {
		if got := radclientGot(out); got != "" || !strings.Contains(out, "No reply") {
			t.Fatalf("request %d was answered (%s):\n%s", i, got, out)
		}
	}
	eventuallyE(t, "three drops audited", func() bool { return len(e.droppedReasons()) == 3 })
	got := e.droppedReasons()
	slices.Sort(got)
	if strings.Join(got, ", ") != "bad authenticator, no Message-Authenticator, unknown client" {
		t.Fatalf("radius.dropped reasons: %q", got)
	}
	st := r.Stats()
	if st.Answered != 0 || st.Dropped["bad authenticator"] < 1 || st.Dropped["no Message-Authenticator"] < 1 || st.Dropped["unknown client"] < 1 {
		t.Fatalf("stats: %+v", st)
	}
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{Types: []string{"signin.password_ok", "signin.password_failed", "push.sent"}})
	if err != nil || len(evs) != 0 {
		t.Fatalf("a dropped request reached the engine: %+v, %v", evs, err)
	}
}

func TestRADIUSRetransmissionsPushOnceAndALateAnswerStillComes(t *testing.T) {
	e, r := newRADIUSEnv(t, vpnPlainPush, vpnClient)
	u, d, _ := e.enrolled("alice")
	g := newGoNAS(t, r, radiusSecret)
	n := newRawNAS(t, r)
	req := encode(t, g.request("alice", "correct horse battery"))
	n.send(req)
	p := e.waitPrompt(d)
	// The VPN server's timeout passes, and it asks again, three times.
	for range 3 {
		n.send(req)
	}
	eventuallyE(t, "the retransmissions seen", func() bool { return r.Stats().Retransmits == 3 })
	if cs, err := e.st.ListChallenges(e.ctx, store.ChallengeFilter{UserID: u.ID}); err != nil || len(cs) != 1 {
		t.Fatalf("%d pushes (%v), want 1", len(cs), err)
	}
	// Then it gives up; the person approves later; the answer comes all
	// the same, once.
	if _, err := d.Approve(e.ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	a, first := n.read(req, radiusSecret)
	wantRADIUS(t, a, radius.CodeAccessAccept)
	// Asked again, the same answer comes from the cache.
	n.send(req)
	if _, again := n.read(req, radiusSecret); string(again) != string(first) {
		t.Fatal("the retransmission after the answer got another answer")
	}
	if st := r.Stats(); st.Answered != 1 || st.Retransmits != 4 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestRADIUSGoClientRetriesWhileHeld(t *testing.T) {
	e, r := newRADIUSEnv(t, vpnPlainPush, vpnClient)
	u, d, _ := e.enrolled("alice")
	g := newGoNAS(t, r, radiusSecret)
	var a *radius.Packet
	var wg sync.WaitGroup
	wg.Go(func() {
		// layeh's client sends the request again every 50 ms until the
		// answer comes.
		c := &radius.Client{Retry: 50 * time.Millisecond, MaxPacketErrors: 10}
		var err error
		a, err = c.Exchange(t.Context(), g.request("alice", "correct horse battery"), g.addr)
		if err != nil {
			t.Error(err)
		}
	})
	p := e.waitPrompt(d)
	eventuallyE(t, "retransmissions", func() bool { return r.Stats().Retransmits >= 3 })
	if cs, err := e.st.ListChallenges(e.ctx, store.ChallengeFilter{UserID: u.ID}); err != nil || len(cs) != 1 {
		t.Fatalf("%d pushes (%v), want 1", len(cs), err)
	}
	if _, err := d.Approve(e.ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if a == nil || a.Code != radius.CodeAccessAccept {
		t.Fatalf("answer %+v", a)
	}
}

func TestRADIUSLockoutAfterFailures(t *testing.T) {
	e, r := newRADIUSEnv(t, vpnPlainPush, vpnClient)
	e.enrolled("alice")
	g := newGoNAS(t, r, radiusSecret)
	for range 5 {
		wantRADIUS(t, g.exchange(g.request("alice", "wrong guess")), radius.CodeAccessReject, "login or password is wrong")
	}
	// The right password from the guesser's address waits now: no push.
	wantRADIUS(t, g.exchange(g.request("alice", "correct horse battery")), radius.CodeAccessReject, "Too many failed attempts")
	evs, err := e.st.ListAudit(e.ctx, store.AuditFilter{Types: []string{"signin.throttled", "radius.reject"}})
	if err != nil || len(evs) != 7 || evs[5].Type != "signin.throttled" || evs[6].Detail["reason"] != "too_many_attempts" {
		t.Fatalf("audit: %+v, %v", evs, err)
	}
}

func TestRADIUSPushLimitApplies(t *testing.T) {
	e, r := newRADIUSEnv(t, vpnPlainPush+`
push: {expiry: 5m, maxUnanswered: 2, window: 15m}
`, vpnClient)
	_, d, _ := e.enrolled("alice")
	g := newGoNAS(t, r, radiusSecret)
	for range 2 {
		var a *radius.Packet
		var wg sync.WaitGroup
		wg.Go(func() { a = g.exchange(g.request("alice", "correct horse battery")) })
		if _, err := d.Deny(e.ctx, e.waitPrompt(d), false); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		wantRADIUS(t, a, radius.CodeAccessReject, "denied")
	}
	wantRADIUS(t, g.exchange(g.request("alice", "correct horse battery")), radius.CodeAccessReject, "Too many pushes went unanswered", "password,123456")
}

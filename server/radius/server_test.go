package radius

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
	"layeh.com/radius/rfc2869"

	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server/store"
)

var vpn = []clientSpec{{name: "vpn"}}

// backends runs a test on SQLite and on PostgreSQL.
func backends(t *testing.T, f func(t *testing.T, pg bool)) {
	t.Run("sqlite", func(t *testing.T) { f(t, false) })
	t.Run("postgres", func(t *testing.T) { f(t, true) })
}

func TestPasswordAcceptedWrongOneRejectedAndNeitherLogged(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		e := newEnv(t, envOpts{postgres: pg, clients: vpn})
		u := e.addUser("alice")
		n := e.nas(e.nodes[0], secret)

		wantAnswer(t, n.exchange(n.accessRequest("Alice", password)), radius.CodeAccessAccept)
		wantAnswer(t, n.exchange(n.accessRequest("alice", "wrong password")), radius.CodeAccessReject, "login or password is wrong")
		wantAnswer(t, n.exchange(n.accessRequest("nobody", password)), radius.CodeAccessReject, "login or password is wrong")
		wantAnswer(t, n.exchange(n.accessRequest("alice", "")), radius.CodeAccessReject, "login or password is wrong")

		acc := e.audits("radius.accept")
		if len(acc) != 1 || acc[0].UserID != u.ID || acc[0].Detail["app"] != "vpn" || acc[0].Detail["nas"] != "127.0.0.1" ||
			acc[0].Detail["nasIdentifier"] != "test-vpn" || acc[0].TxID == "" {
			t.Fatalf("radius.accept = %+v", acc)
		}
		rej := e.audits("radius.reject")
		if len(rej) != 3 || rej[0].Detail["reason"] != "invalid_credentials" || rej[0].UserID != u.ID || rej[1].UserID != "" {
			t.Fatalf("radius.reject = %+v", rej)
		}
		all, err := e.st.ListAudit(e.ctx, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range all {
			for k, v := range ev.Detail {
				if strings.Contains(v, "horse") || strings.Contains(v, "wrong password") || strings.Contains(v, secret) {
					t.Fatalf("the audit log holds a password or the secret: %s %s=%q", ev.Type, k, v)
				}
			}
		}
	})
}

func TestUnknownClientNoMessageAuthenticatorAndWrongSecretAreDroppedAndAudited(t *testing.T) {
	e := newEnv(t, envOpts{clients: []clientSpec{{name: "vpn", networks: []string{"127.0.0.1"}}}})
	e.addUser("alice")
	n := e.nas(e.nodes[0], secret)

	// A request without a Message-Authenticator: BlastRADIUS's way in.
	n.noMA = true
	n.send(n.encode(n.accessRequest("alice", password)))
	e.waitDropped(e.nodes[0], DropNoMessageAuth, 1)
	n.noMA = false
	n.nothingElse()

	// A wrong shared secret.
	bad := e.nas(e.nodes[0], "not the secret at all, no")
	bad.send(bad.encode(bad.accessRequest("alice", password)))
	e.waitDropped(e.nodes[0], DropBadAuth, 1)
	n.nothingElse()

	// A request altered after it was signed (its user name changed).
	b := n.encode(n.accessRequest("alice", password))
	i := bytes.Index(b, []byte("alice"))
	copy(b[i:], "alicf")
	n.send(b)
	e.waitDropped(e.nodes[0], DropBadAuth, 2)
	n.nothingElse()

	// Accounting is not served here.
	acct := radius.New(radius.CodeAccountingRequest, []byte(secret))
	_ = rfc2866.AcctStatusType_Set(acct, rfc2866.AcctStatusType_Value_Start)
	n.send(signRequest(t, acct, []byte(secret)))
	e.waitDropped(e.nodes[0], DropNotAccess, 1)
	n.send([]byte{1, 2, 0, 200, 9})
	e.waitDropped(e.nodes[0], DropMalformed, 1)
	n.nothingElse()

	// An address no client covers: 127.0.0.2, fifty times.
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 2)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for range 50 {
		if _, err := conn.WriteToUDP(n.encode(n.accessRequest("alice", password)), n.to); err != nil {
			t.Fatal(err)
		}
	}
	e.waitDropped(e.nodes[0], DropUnknownClient, 50)

	// Each is audited, the flood once.
	var got []string
	eventually(t, "the drops in the audit log", func() bool {
		got = nil
		for _, ev := range e.audits("radius.dropped") {
			got = append(got, ev.ClientIP+" "+ev.Detail["reason"])
		}
		return len(got) >= 5
	})
	want := []string{"127.0.0.1 no Message-Authenticator", "127.0.0.1 bad authenticator", "127.0.0.1 not an Access-Request",
		"127.0.0.1 malformed packet", "127.0.0.2 unknown client"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("radius.dropped events:\n got %q\nwant %q", got, want)
	}
	if len(e.audits("radius.accept")) != 0 || len(e.audits("radius.reject")) != 0 {
		t.Fatal("a dropped request was answered")
	}
	// A minute later the same source is audited again, and the event says
	// how many drops were left out of the log meanwhile.
	e.clock.Advance(time.Minute)
	if _, err := conn.WriteToUDP(n.encode(n.accessRequest("alice", password)), n.to); err != nil {
		t.Fatal(err)
	}
	e.waitDropped(e.nodes[0], DropUnknownClient, 51)
	eventually(t, "a second unknown-client event", func() bool { return len(e.audits("radius.dropped")) == 6 })
	last := e.audits("radius.dropped")[5]
	if last.Detail["unlogged"] != "49" {
		t.Fatalf("want the event to say the 49 other drops of the flood went unlogged, got %+v", last.Detail)
	}
	if ev := e.audits("radius.dropped")[2]; ev.Detail["unlogged"] != "1" {
		t.Fatalf("want the event after the second bad authenticator to say one went unlogged, got %+v", ev.Detail)
	}
}

func TestRateLimitPerClient(t *testing.T) {
	e := newEnv(t, envOpts{clients: vpn, opts: Options{RatePerMinute: 3}})
	e.addUser("alice")
	n := e.nas(e.nodes[0], secret)
	for range 3 {
		wantAnswer(t, n.exchange(n.accessRequest("alice", password)), radius.CodeAccessAccept)
	}
	n.send(n.encode(n.accessRequest("alice", password)))
	e.waitDropped(e.nodes[0], DropRateLimited, 1)
	e.clock.Advance(time.Minute)
	wantAnswer(t, n.exchange(n.accessRequest("alice", password)), radius.CodeAccessAccept)
}

func TestStatusServerAndProxyStateCopied(t *testing.T) {
	e := newEnv(t, envOpts{clients: vpn})
	e.addUser("alice")
	n := e.nas(e.nodes[0], secret)
	n.nothingElse()
	p := n.accessRequest("alice", password, func(p *radius.Packet) {
		_ = rfc2865.UserPassword_SetString(p, password)
		p.Add(rfc2865.ProxyState_Type, radius.Attribute("first"))
		p.Add(rfc2865.ProxyState_Type, radius.Attribute("second"))
	})
	a := n.exchange(p)
	wantAnswer(t, a, radius.CodeAccessAccept)
	ps, _ := rfc2865.ProxyState_Gets(a)
	if len(ps) != 2 || string(ps[0]) != "first" || string(ps[1]) != "second" {
		t.Fatalf("Proxy-State in the answer = %q, want first, second", ps)
	}
}

func TestPAPOnly(t *testing.T) {
	e := newEnv(t, envOpts{clients: vpn})
	e.addUser("alice")
	n := e.nas(e.nodes[0], secret)
	eap := n.accessRequest("alice", "", func(p *radius.Packet) {
		_ = rfc2869.EAPMessage_Set(p, []byte{2, 1, 0, 10, 1, 'a', 'l', 'i', 'c', 'e'})
	})
	wantAnswer(t, n.exchange(eap), radius.CodeAccessReject, "PAP")
	chap := n.accessRequest("alice", "", func(p *radius.Packet) {
		_ = rfc2865.CHAPPassword_Set(p, make([]byte, 17))
	})
	wantAnswer(t, n.exchange(chap), radius.CodeAccessReject, "PAP")
}

func TestHeldPushWithoutNumberApprovedDeniedAndShownWithTheNAS(t *testing.T) {
	e := newEnv(t, envOpts{clients: vpn, policy: plainPushPolicy})
	_, d := e.enrolled("alice")
	n := e.nas(e.nodes[0], secret)

	req := n.accessRequest("alice", password, func(p *radius.Packet) {
		_ = rfc2865.UserPassword_SetString(p, password)
		_ = rfc2865.CallingStationID_SetString(p, "198.51.100.7[4500]")
	})
	b := n.encode(req)
	n.send(b)
	ch := d.waitPrompt()
	if ch.Context.App != "vpn" || ch.Context.ClientIP != "198.51.100.7" || ch.Context.UserAgent != "RADIUS test-vpn (127.0.0.1)" ||
		len(ch.Numbers) != 0 {
		t.Fatalf("the push shows %+v, numbers %v", ch.Context, ch.Numbers)
	}
	eventually(t, "the request held", func() bool { return e.r().Stats().Waiting == 1 })
	d.answer(ch, push.ConsentApproved, 0)
	wantAnswer(t, n.read(b), radius.CodeAccessAccept)

	b = n.encode(n.accessRequest("alice", password))
	n.send(b)
	d.answer(d.waitPrompt(), push.ConsentDenied, 0)
	wantAnswer(t, n.read(b), radius.CodeAccessReject, "denied in the Assent app")
}

func TestRetransmissionsPushOnceAndGetTheAnswer(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		e := newEnv(t, envOpts{postgres: pg, nodes: 2, clients: vpn, policy: plainPushPolicy})
		_, d := e.enrolled("alice")
		n := e.nas(e.nodes[0], secret)
		b := n.encode(n.accessRequest("alice", password))
		n.send(b)
		ch := d.waitPrompt()
		eventually(t, "the request held", func() bool { return e.r().Stats().Waiting == 1 })
		for range 3 {
			n.send(b)
		}
		eventually(t, "the retransmissions seen", func() bool { return e.r().Stats().Retransmits == 3 })
		if got := len(d.prompts()); got != 1 {
			t.Fatalf("retransmissions sent %d pushes, want 1", got)
		}
		d.answer(ch, push.ConsentApproved, 0)
		first := n.read(b)
		wantAnswer(t, first, radius.CodeAccessAccept)
		// The client gave up and asks again: the same answer, from the
		// cache.
		n.send(b)
		again := n.read(b)
		if again.Authenticator != first.Authenticator {
			t.Fatal("a retransmission after the answer got a different answer")
		}
		// The same request at another node, or after the cache forgot
		// it: a replay.
		other := e.nas(e.nodes[1], secret)
		other.send(b)
		e.waitDropped(e.nodes[1], DropReplayed, 1)
		if got := len(e.audits("radius.accept")); got != 1 {
			t.Fatalf("%d radius.accept events, want 1", got)
		}
		if cs, err := e.st.ListChallenges(e.ctx, store.ChallengeFilter{}); err != nil || len(cs) != 1 {
			t.Fatalf("challenges = %d, %v; want one push", len(cs), err)
		}
	})
}

func TestNumberChallengeNeedsAClientThatShowsMessages(t *testing.T) {
	e := newEnv(t, envOpts{clients: vpn, policy: pushPolicy})
	u, d := e.enrolled("alice")
	n := e.nas(e.nodes[0], secret)
	wantAnswer(t, n.exchange(n.accessRequest("alice", password)), radius.CodeAccessReject, "cannot show it", "challenge")
	// No push went out: nothing shows on the phone, no budget is spent.
	if ps := d.prompts(); len(ps) != 0 {
		t.Fatalf("the phone shows %d prompts", len(ps))
	}
	cs, err := e.st.ListChallenges(e.ctx, store.ChallengeFilter{UserID: u.ID})
	if err != nil || len(cs) != 0 {
		t.Fatalf("challenges = %+v, %v; want none sent", cs, err)
	}
	rej := e.audits("radius.reject")
	if len(rej) != 1 || rej[0].Detail["reason"] != "number challenge needs a client that shows messages" {
		t.Fatalf("radius.reject = %+v", rej)
	}
}

func TestChallengeWithStateAnsweredOnAnotherNode(t *testing.T) {
	backends(t, func(t *testing.T, pg bool) {
		e := newEnv(t, envOpts{postgres: pg, nodes: 2, clients: []clientSpec{{name: "vpn", challenge: true}, {name: "wifi", challenge: true, networks: []string{"127.0.0.3"}}},
			policy: pushPolicy})
		_, d := e.enrolled("alice")
		n := e.nas(e.nodes[0], secret)
		c := n.exchange(n.accessRequest("alice", password))
		wantAnswer(t, c, radius.CodeAccessChallenge, "Approve the request in Assent — pick ")
		state := rfc2865.State_Get(c)
		if len(state) < 40 || rfc2865.SessionTimeout_Get(c) != 180 {
			t.Fatalf("State %q, Session-Timeout %d", state, rfc2865.SessionTimeout_Get(c))
		}
		ch := d.waitPrompt()
		msg := replyMessage(c)
		number := 0
		for _, k := range ch.Numbers {
			if strings.Contains(msg, "pick "+strconv.Itoa(k)+",") {
				number = k
			}
		}
		if number == 0 {
			t.Fatalf("the message %q shows none of the push's numbers %v", msg, ch.Numbers)
		}
		d.answer(ch, push.ConsentApproved, number)

		// The person presses Enter; the client answers the challenge, to
		// the other node.
		m := e.nas(e.nodes[1], secret)
		answer := func(login, pw string, st []byte) *radius.Packet {
			return m.accessRequest(login, pw, func(p *radius.Packet) {
				_ = rfc2865.UserPassword_SetString(p, pw)
				_ = rfc2865.State_Set(p, st)
			})
		}
		wantAnswer(t, m.exchange(answer("alice", "", state)), radius.CodeAccessAccept)
		// The State works once.
		wantAnswer(t, m.exchange(answer("alice", "", state)), radius.CodeAccessReject, "unknown or expired")

		// A State answered for another login, or by another client, or
		// too late, does nothing.
		c = n.exchange(n.accessRequest("alice", password))
		state = rfc2865.State_Get(c)
		wifi := e.nasFrom(e.nodes[1], "127.0.0.3", secret)
		wantAnswer(t, wifi.exchange(wifi.accessRequest("alice", "", func(p *radius.Packet) {
			_ = rfc2865.UserPassword_SetString(p, "")
			_ = rfc2865.State_Set(p, state)
		})), radius.CodeAccessReject, "unknown or expired")
		wantAnswer(t, m.exchange(answer("mallory", "", state)), radius.CodeAccessReject, "unknown or expired")
		c = n.exchange(n.accessRequest("alice", password))
		e.clock.Advance(4 * time.Minute)
		wantAnswer(t, m.exchange(answer("alice", "", rfc2865.State_Get(c))), radius.CodeAccessReject, "unknown or expired")
		e.clock.Advance(20 * time.Minute)
		wantAnswer(t, m.exchange(answer("alice", "", []byte("as1.made-up"))), radius.CodeAccessReject, "unknown or expired")

		// A code instead of the push, typed at the challenge.
		c = n.exchange(n.accessRequest("alice", password))
		wantAnswer(t, c, radius.CodeAccessChallenge, "Or type the code")
		wantAnswer(t, m.exchange(answer("alice", d.code(), rfc2865.State_Get(c))), radius.CodeAccessAccept)

		// A wrong number picked.
		e.clock.Advance(time.Minute)
		c = n.exchange(n.accessRequest("alice", password))
		var chs []*push.Challenge
		eventually(t, "the push", func() bool { chs = d.prompts(); return len(chs) == 1 })
		wrong := 0
		for _, k := range chs[0].Numbers {
			if !strings.Contains(replyMessage(c), "pick "+strconv.Itoa(k)+",") {
				wrong = k
			}
		}
		d.answer(chs[0], push.ConsentApproved, wrong)
		wantAnswer(t, m.exchange(answer("alice", "", rfc2865.State_Get(c))), radius.CodeAccessReject, "wrong number")

		if got := len(e.audits("radius.challenge")); got != 5 {
			t.Fatalf("%d radius.challenge events, want 5", got)
		}
	})
}

func TestCodeChallengeAppendedCodeAndCodeAlone(t *testing.T) {
	e := newEnv(t, envOpts{clients: []clientSpec{{name: "vpn", challenge: true}, {name: "plain", networks: []string{"127.0.0.2"}}},
		policy: codePolicy})
	_, d := e.enrolled("alice")
	n := e.nas(e.nodes[0], secret)

	c := n.exchange(n.accessRequest("alice", password))
	wantAnswer(t, c, radius.CodeAccessChallenge, "Enter the code from the Assent app")
	answer := func(pw string, st []byte) *radius.Packet {
		return n.accessRequest("alice", pw, func(p *radius.Packet) {
			_ = rfc2865.UserPassword_SetString(p, pw)
			_ = rfc2865.State_Set(p, st)
		})
	}
	wantAnswer(t, n.exchange(answer("000000", rfc2865.State_Get(c))), radius.CodeAccessReject, "code is wrong")
	c = n.exchange(n.accessRequest("alice", password))
	wantAnswer(t, n.exchange(answer(d.code(), rfc2865.State_Get(c))), radius.CodeAccessAccept)

	// Appended to the password: no challenge needed. The same code again
	// is refused (a code works once).
	e.clock.Advance(30 * time.Second)
	wantAnswer(t, n.exchange(n.accessRequest("alice", password+","+d.code())), radius.CodeAccessAccept)
	wantAnswer(t, n.exchange(n.accessRequest("alice", password+","+d.code())), radius.CodeAccessReject, "used already")

	// A client that shows no messages: the code must come with the
	// password.
	p := e.nasFrom(e.nodes[0], "127.0.0.2", secret)
	wantAnswer(t, p.exchange(p.accessRequest("alice", password)), radius.CodeAccessReject, "password,123456")
}

func TestCodeAloneWhereTheRuleTakesOne(t *testing.T) {
	e := newEnv(t, envOpts{clients: vpn, policy: `
signOn:
  - name: Passwordless
    action: {factors: 1, possession: true, authenticators: [totp], reauthenticate: 12h}
`})
	_, d := e.enrolled("alice")
	n := e.nas(e.nodes[0], secret)
	wantAnswer(t, n.exchange(n.accessRequest("alice", d.code())), radius.CodeAccessAccept)
	e.clock.Advance(30 * time.Second)
	wantAnswer(t, n.exchange(n.accessRequest("alice", "12345")), radius.CodeAccessReject)
}

func TestLockoutAppliesAfterFailures(t *testing.T) {
	e := newEnv(t, envOpts{clients: vpn})
	e.addUser("alice")
	n := e.nas(e.nodes[0], secret)
	station := func(p *radius.Packet) { _ = rfc2865.CallingStationID_SetString(p, "203.0.113.9") }
	for range 5 {
		wantAnswer(t, n.exchange(n.accessRequest("alice", "guess", station)), radius.CodeAccessReject, "login or password is wrong")
	}
	withPassword := func(p *radius.Packet) { _ = rfc2865.UserPassword_SetString(p, password) }
	wantAnswer(t, n.exchange(n.accessRequest("alice", password, withPassword, station)), radius.CodeAccessReject, "Too many failed attempts")
	// Another address is not held up by the guesser's.
	wantAnswer(t, n.exchange(n.accessRequest("alice", password)), radius.CodeAccessAccept)
	e.clock.Advance(2 * time.Second)
	wantAnswer(t, n.exchange(n.accessRequest("alice", password, withPassword, station)), radius.CodeAccessAccept)
}

func TestCloseGivesUpHeldRequests(t *testing.T) {
	e := newEnv(t, envOpts{clients: vpn, policy: plainPushPolicy})
	_, d := e.enrolled("alice")
	n := e.nas(e.nodes[0], secret)
	n.send(n.encode(n.accessRequest("alice", password)))
	d.waitPrompt()
	eventually(t, "the request held", func() bool { return e.r().Stats().Waiting == 1 })
	e.srv().Close()
	eventually(t, "the held request given up", func() bool { return e.r().Stats().Working == 0 })
	e.r().Close()
	if e.r().Stats().Answered != 0 {
		t.Fatal("a request given up at close was answered")
	}
}

package radius

import (
	"encoding/hex"
	"net/netip"
	"testing"
	"unicode/utf8"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// FuzzReceive feeds datagrams to the server's entry point — the checks
// before the engine (admit), the reading of the request, and the engine's
// sign-in behind them (handle) — as they come from a registered client's
// address. With resign set, a datagram that parses is signed with the
// client's secret first, so the fuzzer gets past the Message-Authenticator
// into the request handling. Whatever comes in: no panic, an answer only
// to a request signed with the secret, and every answer carries a right
// Message-Authenticator and Response Authenticator.
//
//	go test -fuzz FuzzReceive ./server/radius/
func FuzzReceive(f *testing.F) {
	e := newEnv(f, envOpts{clients: vpn, opts: Options{RatePerMinute: 1 << 30}})
	e.addUser("alice")
	r := e.r()
	src := netip.MustParseAddrPort("127.0.0.1:40000")
	sec := []byte(secret)

	b, _ := hex.DecodeString(fromRadclient)
	f.Add(b, false)
	f.Add(b, true)
	seed := func(code radius.Code, attrs func(*radius.Packet)) {
		p := radius.New(code, sec)
		attrs(p)
		raw, err := p.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw, true)
	}
	seed(radius.CodeAccessRequest, func(p *radius.Packet) {
		rfc2865.UserName_SetString(p, "alice")
		rfc2865.UserPassword_SetString(p, password+",123456")
		rfc2865.CallingStationID_SetString(p, "198.51.100.7[4500]")
		rfc2865.NASIdentifier_SetString(p, "vpn-gw")
		p.Add(rfc2865.ProxyState_Type, radius.Attribute("x"))
	})
	seed(radius.CodeAccessRequest, func(p *radius.Packet) {
		rfc2865.UserName_SetString(p, "alice")
		rfc2865.UserPassword_SetString(p, "123456")
		rfc2865.State_SetString(p, "as1.abc")
	})
	seed(radius.CodeAccessRequest, func(p *radius.Packet) {
		rfc2865.UserName_SetString(p, "alice")
		rfc2869.EAPMessage_Set(p, []byte{2, 0, 0, 5, 1})
	})
	seed(radius.CodeStatusServer, func(p *radius.Packet) {})
	seed(radius.CodeAccountingRequest, func(p *radius.Packet) {})

	f.Fuzz(func(t *testing.T, b []byte, resign bool) {
		if len(b) > radius.MaxPacketLength {
			return
		}
		if resign {
			if p, err := radius.Parse(b, sec); err == nil {
				if _, err := p.Encode(); err == nil {
					b = signRequest(t, p, sec)
				}
			}
		}
		in := append([]byte(nil), b...)
		w, ans := r.admit(b, src)
		if w != nil && ans != nil {
			t.Fatal("admit both answered and started work")
		}
		if w != nil {
			if err := check(t, in, secret); err != nil {
				t.Fatalf("admitted a request whose Message-Authenticator does not check out: %v", err)
			}
			if req, res := readRequest(w); req != nil {
				if res != nil || !utf8.ValidString(req.login) || req.login == "" {
					t.Fatalf("read %+v, %+v", req, res)
				}
				if _, err := netip.ParseAddr(req.meta.IP); err != nil {
					t.Fatalf("meta.IP %q: %v", req.meta.IP, err)
				}
			} else if res == nil || res.code != radius.CodeAccessReject || res.msg == "" {
				t.Fatalf("a request that cannot be read got %+v", res)
			}
			ans = r.handle(r.ctx, w)
			r.release(w, ans)
		}
		if ans != nil {
			if !radius.IsAuthenticResponse(ans, in, sec) {
				t.Fatal("an answer's Response Authenticator is wrong")
			}
			checkAnswerMA(t, ans, in, sec)
		}
	})
}

package server

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustNets(t testing.TB, list string) []*net.IPNet {
	t.Helper()
	n, err := ParseTrustedProxies(list)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestForwardedClient(t *testing.T) {
	trusted := mustNets(t, "10.0.0.0/8, 192.0.2.7, 2001:db8:1::/48, ::1")
	for _, c := range []struct {
		name, remote string
		xff, fwd     []string
		want         string
	}{
		{name: "no proxies configured", remote: "203.0.113.5:4000", want: "203.0.113.5"},
		{name: "spoofed X-Forwarded-For from an untrusted peer is ignored", remote: "203.0.113.5:4000", xff: []string{"198.51.100.9"}, want: "203.0.113.5"},
		{name: "spoofed Forwarded from an untrusted peer is ignored", remote: "203.0.113.5:4000", fwd: []string{"for=198.51.100.9"}, want: "203.0.113.5"},
		{name: "a trusted peer without a header is the client", remote: "10.1.2.3:4000", want: "10.1.2.3"},
		{name: "one trusted proxy", remote: "10.1.2.3:4000", xff: []string{"198.51.100.9"}, want: "198.51.100.9"},
		{name: "what the client wrote left of the proxy's entry is not believed", remote: "10.1.2.3:4000",
			xff: []string{"6.6.6.6, 10.9.9.9, 198.51.100.9"}, want: "198.51.100.9"},
		{name: "a chain of trusted proxies is walked from the right", remote: "192.0.2.7:4000",
			xff: []string{"6.6.6.6, 198.51.100.9, 10.0.0.2, 10.0.0.1"}, want: "198.51.100.9"},
		{name: "header lines are one list, the last line last", remote: "10.1.2.3:4000",
			xff: []string{"6.6.6.6", "198.51.100.9, 10.0.0.1"}, want: "198.51.100.9"},
		{name: "all trusted: the left-most", remote: "10.1.2.3:4000", xff: []string{"10.0.0.5, 10.0.0.1"}, want: "10.0.0.5"},
		{name: "entries with ports", remote: "10.1.2.3:4000", xff: []string{"198.51.100.9:5555"}, want: "198.51.100.9"},
		{name: "IPv6 in X-Forwarded-For", remote: "[::1]:4000", xff: []string{"2001:db8:9::1"}, want: "2001:db8:9::1"},
		{name: "bracketed IPv6 with a port", remote: "[::1]:4000", xff: []string{"[2001:db8:9::1]:443"}, want: "2001:db8:9::1"},
		{name: "IPv4-mapped IPv6 is the IPv4 address", remote: "[::ffff:10.1.2.3]:4000", xff: []string{"::ffff:198.51.100.9"}, want: "198.51.100.9"},
		{name: "a zone is dropped", remote: "[::1]:4000", xff: []string{"fe80::1%eth0"}, want: "fe80::1"},
		{name: "an IPv6 proxy network", remote: "[2001:db8:1:2::5]:4000", xff: []string{"198.51.100.9, 2001:db8:1:3::1"}, want: "198.51.100.9"},
		{name: "garbage: the proxy that wrote it", remote: "10.1.2.3:4000", xff: []string{"not an address"}, want: "10.1.2.3"},
		{name: "garbage left of the client is never read", remote: "10.1.2.3:4000", xff: []string{"<script>, 198.51.100.9"}, want: "198.51.100.9"},
		{name: "garbage deeper in the chain: the trusted hop that wrote it", remote: "10.1.2.3:4000", xff: []string{"junk, 10.0.0.9"}, want: "10.0.0.9"},
		{name: "unknown", remote: "10.1.2.3:4000", xff: []string{"unknown"}, want: "10.1.2.3"},
		{name: "empty entries are skipped", remote: "10.1.2.3:4000", xff: []string{" , 198.51.100.9,, "}, want: "198.51.100.9"},
		{name: "an empty header is no header", remote: "10.1.2.3:4000", xff: []string{""}, want: "10.1.2.3"},
		{name: "X-Forwarded-For wins over Forwarded", remote: "10.1.2.3:4000", xff: []string{"198.51.100.9"}, fwd: []string{"for=6.6.6.6"}, want: "198.51.100.9"},
		{name: "Forwarded", remote: "10.1.2.3:4000", fwd: []string{"for=198.51.100.9;proto=https;by=10.1.2.3"}, want: "198.51.100.9"},
		{name: "Forwarded, case and spaces", remote: "10.1.2.3:4000", fwd: []string{"For = 198.51.100.9 ; Proto=https"}, want: "198.51.100.9"},
		{name: "Forwarded chain", remote: "10.1.2.3:4000", fwd: []string{"for=6.6.6.6, for=198.51.100.9, for=10.0.0.1"}, want: "198.51.100.9"},
		{name: "Forwarded quoted IPv6 with a port", remote: "10.1.2.3:4000", fwd: []string{`for="[2001:db8:cafe::17]:4711"`}, want: "2001:db8:cafe::17"},
		{name: "Forwarded quoted IPv6 without a port", remote: "10.1.2.3:4000", fwd: []string{`for="[2001:db8:cafe::17]"`}, want: "2001:db8:cafe::17"},
		{name: "Forwarded quoted IPv4 with a port", remote: "10.1.2.3:4000", fwd: []string{`for="198.51.100.9:80"`}, want: "198.51.100.9"},
		{name: "Forwarded unknown", remote: "10.1.2.3:4000", fwd: []string{"for=unknown"}, want: "10.1.2.3"},
		{name: "Forwarded obfuscated", remote: "10.1.2.3:4000", fwd: []string{"for=_hidden, for=10.0.0.1"}, want: "10.0.0.1"},
		{name: "Forwarded element without for", remote: "10.1.2.3:4000", fwd: []string{"proto=https"}, want: "10.1.2.3"},
		{name: "Forwarded with two for in one element", remote: "10.1.2.3:4000", fwd: []string{"for=198.51.100.9;for=6.6.6.6"}, want: "10.1.2.3"},
		{name: "Forwarded with an unclosed quote of the client's", remote: "10.1.2.3:4000",
			fwd: []string{`for="6.6.6.6, for=198.51.100.9`}, want: "198.51.100.9"},
		{name: "Forwarded with a comma in a client's quoted string", remote: "10.1.2.3:4000",
			fwd: []string{`for="6.6.6.6, 7.7.7.7", for=198.51.100.9`}, want: "198.51.100.9"},
		{name: "Forwarded unclosed quote where the walk reads", remote: "10.1.2.3:4000", fwd: []string{`for="198.51.100.9`}, want: "10.1.2.3"},
		{name: "Forwarded trailing garbage", remote: "10.1.2.3:4000", fwd: []string{`for=198.51.100.9 x`}, want: "10.1.2.3"},
		{name: "Forwarded bare equals", remote: "10.1.2.3:4000", fwd: []string{`=`}, want: "10.1.2.3"},
		{name: "Forwarded escaped quote", remote: "10.1.2.3:4000", fwd: []string{`for="198.51.100\".9"`}, want: "10.1.2.3"},
		{name: "a peer that is no address", remote: "@", xff: []string{"198.51.100.9"}, want: "@"},
		{name: "a peer without a port", remote: "10.1.2.3", xff: []string{"198.51.100.9"}, want: "198.51.100.9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range c.xff {
				h.Add("X-Forwarded-For", v)
			}
			for _, v := range c.fwd {
				h.Add("Forwarded", v)
			}
			if got := forwardedClient(c.remote, h, trusted); got != c.want {
				t.Fatalf("client of %s with %v = %q, want %q", c.remote, h, got, c.want)
			}
			if got := forwardedClient(c.remote, h, nil); c.remote != "@" && got != peerIP(c.remote) {
				t.Fatalf("without trusted proxies the client is %q, not the peer", got)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	nets, err := ParseTrustedProxies(" 10.0.0.0/8 ,192.0.2.7,, 2001:db8::/32, ::1, ::ffff:172.16.0.0/108, 10.1.2.3/16")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range nets {
		got = append(got, n.String())
	}
	if want := "10.0.0.0/8 192.0.2.7/32 2001:db8::/32 ::1/128 172.16.0.0/12 10.1.0.0/16"; strings.Join(got, " ") != want {
		t.Fatalf("parsed %v, want %s", got, want)
	}
	if nets, err := ParseTrustedProxies(""); err != nil || len(nets) != 0 {
		t.Fatalf("empty list = %v, %v", nets, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.com", "10.0.0", "0.0.0.0/0", "::/0", "fe80::1%eth0", "10.0.0.0/8 192.0.2.7"} {
		if _, err := ParseTrustedProxies(bad); err == nil || !strings.Contains(err.Error(), "address") {
			t.Errorf("%q: want an error naming the problem, got %v", bad, err)
		}
	}
}

func TestAddressKeyGroupsAnIPv6SlashSixtyFour(t *testing.T) {
	for in, want := range map[string]string{
		"198.51.100.9":         "198.51.100.9",
		"::ffff:198.51.100.9":  "198.51.100.9",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2::9":      "2001:db8:1:2::/64",
		"@":                    "@",
	} {
		if got := addressKey(in); got != want {
			t.Errorf("addressKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// The handler chain works the client address out once and every handler
// reads it with clientIP.
func TestClientIPComesFromTheHandlerChain(t *testing.T) {
	var seen string
	s := &Server{opts: Options{TrustedProxies: mustNets(t, "127.0.0.1")}}
	h := s.withClientIP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = clientIP(r) }))
	for _, c := range []struct{ remote, xff, want string }{
		{"127.0.0.1:1000", "198.51.100.9", "198.51.100.9"},
		{"203.0.113.5:1000", "198.51.100.9", "203.0.113.5"},
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = c.remote
		req.Header.Set("X-Forwarded-For", c.xff)
		h.ServeHTTP(httptest.NewRecorder(), req)
		if seen != c.want {
			t.Fatalf("from %s with X-Forwarded-For %s: clientIP = %q, want %q", c.remote, c.xff, seen, c.want)
		}
	}
	// Outside the chain: the peer, never a header.
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "127.0.0.1:1000"
	req.Header.Set("X-Forwarded-For", "198.51.100.9")
	if got := clientIP(req); got != "127.0.0.1" {
		t.Fatalf("clientIP outside the chain = %q", got)
	}
}

// FuzzForwardedClient feeds the forwarding headers anything: the answer is
// always an address, the peer's unless the peer is trusted, and whatever
// a client writes before a trusted proxy's entry cannot change it.
func FuzzForwardedClient(f *testing.F) {
	for _, s := range []string{"198.51.100.9", "for=198.51.100.9", `for="[2001:db8::1]:80"`, `for="`, `"`, ",,,", "for=a;for=b", `\`, "[::1]", "unknown", "for=_x;by=y, for=10.0.0.1"} {
		f.Add("10.1.2.3:4000", s, s)
		f.Add("[::1]:4000", s, "")
		f.Add("203.0.113.5:1", "", s)
	}
	trusted := mustNets(f, "10.0.0.0/8, ::1")
	f.Fuzz(func(t *testing.T, remote, xff, fwd string) {
		h := http.Header{}
		if xff != "" {
			h.Set("X-Forwarded-For", xff)
		}
		if fwd != "" {
			h.Set("Forwarded", fwd)
		}
		got := forwardedClient(remote, h, trusted)
		peer, ok := peerAddr(remote)
		if !ok {
			if got != peerIP(remote) {
				t.Fatalf("peer %q is no address, but the client is %q", remote, got)
			}
			return
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("client %q is not an address", got)
		}
		if !isTrusted(peer, trusted) && got != peer.String() {
			t.Fatalf("untrusted peer %s, but the client is %q", remote, got)
		}
		if !isTrusted(peer, trusted) {
			return
		}
		// A proxy that appends to what the client sent.
		h = http.Header{"X-Forwarded-For": {xff + ", 198.51.100.9"}}
		if got := forwardedClient(remote, h, trusted); got != "198.51.100.9" {
			t.Fatalf("X-Forwarded-For %q + the proxy's entry: client %q", xff, got)
		}
		h = http.Header{"Forwarded": {fwd + ", for=198.51.100.9"}}
		if got := forwardedClient(remote, h, trusted); got != "198.51.100.9" {
			t.Fatalf("Forwarded %q + the proxy's element: client %q", fwd, got)
		}
	})
}

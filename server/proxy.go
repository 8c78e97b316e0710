package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Client addresses behind reverse proxies.
//
// Everything that judges a request by where it comes from — risk (new
// network), network zones, the audit log, the throttles, the pages — reads
// clientIP(r), which the handler chain works out once per request
// (withClientIP). Without trusted proxies it is the TCP peer, whatever the
// request's headers say. With them (Options.TrustedProxies,
// --trusted-proxies), and only when the peer is one of them, the
// forwarding header is believed as far as it was written by trusted
// proxies: the chain is walked from the right, past every trusted proxy,
// and the first address that is not one is the client. An attacker can
// put anything at the left of the chain; a proxy appends the address it
// saw on the right, so the walk stops before the attacker's part.
//
// X-Forwarded-For is read when the request has one, else Forwarded (RFC
// 7239, its for= parameters). A proxy that writes only Forwarded must
// drop an X-Forwarded-For the client sent, and the other way round:
// otherwise the header the proxy leaves alone is the client's to forge.
//
// An entry that cannot be read where the walk needs it (garbage, "unknown",
// an obfuscated node name) ends the walk at the proxy that wrote it: the
// client address is then that proxy's, never something the client chose.

// clientIPKey is where withClientIP keeps the client address in a
// request's context.
type clientIPKey struct{}

// withClientIP works out the client address once per request and hands it
// to every handler through the request's context (clientIP reads it).
func (s *Server) withClientIP(next http.Handler) http.Handler {
	trusted := s.opts.TrustedProxies
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ip := forwardedClient(r.RemoteAddr, r.Header, trusted)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientIPKey{}, ip)))
	})
}

// ParseTrustedProxies reads a comma-separated list of addresses and CIDRs
// (10.0.0.0/8, 192.0.2.7, 2001:db8::/32, ::1). An empty list is no
// proxies. A network that holds every address is refused: anyone could
// then name any client address.
func ParseTrustedProxies(list string) ([]*net.IPNet, error) {
	var out []*net.IPNet
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		var p netip.Prefix
		if strings.Contains(item, "/") {
			pp, err := netip.ParsePrefix(item)
			if err != nil || pp.Addr().Zone() != "" {
				return nil, fmt.Errorf("%q is not an address or CIDR such as 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32", item)
			}
			p = pp.Masked()
		} else {
			a, err := netip.ParseAddr(item)
			if err != nil || a.Zone() != "" {
				return nil, fmt.Errorf("%q is not an address or CIDR such as 10.0.0.0/8, 192.0.2.7 or 2001:db8::/32", item)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0))
		}
		if p.Bits() == 0 {
			return nil, fmt.Errorf("%q trusts every address, so any client could claim any address; list only your proxies' addresses", item)
		}
		out = append(out, &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())})
	}
	return out, nil
}

// isTrusted says whether a is in one of the networks.
func isTrusted(a netip.Addr, nets []*net.IPNet) bool {
	if !a.IsValid() || len(nets) == 0 {
		return false
	}
	ip := net.IP(a.AsSlice())
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// peerAddr reads the address of http.Request.RemoteAddr (host:port).
func peerAddr(remote string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return norm(ap.Addr()), true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return norm(a), true
}

// norm drops an IPv6 zone and unmaps an IPv4-mapped address, so that one
// client has one spelling everywhere (throttles, risk, the audit log).
func norm(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

// peerIP is the TCP peer's address as text; RemoteAddr itself when it is
// not host:port (a Unix socket, a test).
func peerIP(remote string) string {
	if a, ok := peerAddr(remote); ok {
		return a.String()
	}
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// forwardedClient is the client address of a request from the TCP peer
// remote with header h (see the comment at the top of this file).
func forwardedClient(remote string, h http.Header, trusted []*net.IPNet) string {
	peer, ok := peerAddr(remote)
	if !ok {
		return peerIP(remote)
	}
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	var hops func(yield func(string) bool)
	if xff := h.Values("X-Forwarded-For"); len(xff) > 0 {
		hops = xffHops(xff)
	} else if fwd := h.Values("Forwarded"); len(fwd) > 0 {
		hops = forwardedHops(fwd)
	} else {
		return peer.String()
	}
	// client is the best answer so far: the last trusted hop walked past.
	client := peer
	for node := range hops {
		a, err := parseNode(node)
		if err != nil {
			return client.String()
		}
		client = a
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client.String()
}

// xffHops yields the entries of X-Forwarded-For from the right: the last
// header line first, each line's last entry first. Empty entries are
// skipped.
func xffHops(lines []string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for i := len(lines) - 1; i >= 0; i-- {
			rest := lines[i]
			for rest != "" {
				var item string
				if j := strings.LastIndexByte(rest, ','); j >= 0 {
					item, rest = rest[j+1:], rest[:j]
				} else {
					item, rest = rest, ""
				}
				item = strings.TrimSpace(item)
				if item == "" {
					continue
				}
				if !yield(item) {
					return
				}
			}
		}
	}
}

var unbracket = strings.NewReplacer("[", "", "]", "")

// errBadForwarded is an element of Forwarded that cannot be read.
var errBadForwarded = errors.New("malformed Forwarded element")

// forwardedHops yields the for= node of each element of Forwarded (RFC
// 7239) from the right. Elements are split from the right, outside quoted
// strings, so that a malformed part that a client sent (an unclosed quote,
// say) cannot swallow what a proxy appended after it. An element that
// cannot be read, or that has no for=, yields "" (which ends the walk).
func forwardedHops(lines []string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		for i := len(lines) - 1; i >= 0; i-- {
			rest := lines[i]
			for rest != "" {
				j, quoted := len(rest)-1, false
				for ; j >= 0; j-- {
					if rest[j] == '"' {
						quoted = !quoted
					} else if rest[j] == ',' && !quoted {
						break
					}
				}
				var elem string
				if j >= 0 {
					elem, rest = rest[j+1:], rest[:j]
				} else {
					elem, rest = rest, ""
				}
				if strings.TrimSpace(elem) == "" {
					continue
				}
				node, err := forwardedFor(elem)
				if err != nil {
					node = ""
				}
				if !yield(node) {
					return
				}
			}
		}
	}
}

// forwardedFor reads one Forwarded element (pairs token=value separated by
// semicolons; a value is a token or a quoted string) and returns its for=
// value.
func forwardedFor(elem string) (string, error) {
	var forVal string
	found := false
	s := elem
	for {
		s = strings.TrimLeft(s, " \t")
		if s == "" {
			break
		}
		if s[0] == ';' {
			s = s[1:]
			continue
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return "", errBadForwarded
		}
		name := strings.TrimRight(s[:eq], " \t")
		if !isToken(name) {
			return "", errBadForwarded
		}
		s = strings.TrimLeft(s[eq+1:], " \t")
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			closed := false
			k := 1
			for ; k < len(s); k++ {
				c := s[k]
				if c == '\\' {
					if k+1 >= len(s) {
						return "", errBadForwarded
					}
					k++
					b.WriteByte(s[k])
					continue
				}
				if c == '"' {
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return "", errBadForwarded
			}
			val, s = b.String(), s[k+1:]
		} else {
			end := strings.IndexAny(s, "; \t")
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
			// Brackets are not token characters, but some proxies write
			// for=[2001:db8::1] unquoted.
			if !isToken(unbracket.Replace(val)) {
				return "", errBadForwarded
			}
		}
		s = strings.TrimLeft(s, " \t")
		if s != "" && s[0] != ';' {
			return "", errBadForwarded
		}
		if strings.EqualFold(name, "for") {
			if found {
				return "", errBadForwarded // one for= per element
			}
			forVal, found = val, true
		}
	}
	if !found {
		return "", errBadForwarded
	}
	return forVal, nil
}

// isToken says whether s is a non-empty HTTP token (RFC 9110 tchar), with
// the characters an unquoted IPv4 address and port need.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~:", c) >= 0:
			// ':' is not a tchar, but proxies write for=192.0.2.1:8080
			// unquoted; accept it.
		default:
			return false
		}
	}
	return true
}

// errBadNode is a forwarding entry that is not an address.
var errBadNode = errors.New("not an IP address")

// parseNode reads one hop: 192.0.2.1, 192.0.2.1:8080, 2001:db8::1,
// [2001:db8::1], [2001:db8::1]:8080. "unknown" and obfuscated names
// ("_hidden") are not addresses.
func parseNode(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil {
		return norm(a), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return norm(ap.Addr()), nil
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		if a, err := netip.ParseAddr(s[1 : len(s)-1]); err == nil && a.Is6() {
			return norm(a), nil
		}
	}
	return netip.Addr{}, errBadNode
}

// addressKey is what the per-address caps count by: an IPv4 address, or
// the /64 of an IPv6 one (one machine may hold a whole /64, as one
// household or office does). Text that is no address counts as itself.
func addressKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = norm(a)
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}

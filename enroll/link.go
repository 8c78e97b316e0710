package enroll

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Link is a version 1 Assent enrollment link:
//
//	assent://enroll?v=1&server=<URL>&token=<base64url>&user=<login>&org=<name>&exp=<unix seconds>&pin=<base64url>
type Link struct {
	Version int       // always 1
	Server  string    // https URL (http only on loopback), optional path prefix, no trailing slash
	Token   string    // single-use enrollment token: unpadded base64url of 16 to 64 bytes
	User    string    // login of the person enrolling
	Org     string    // organisation name to show; may be empty
	Expires time.Time // in UTC, whole seconds
	Pin     string    // unpadded base64url RFC 7638 SHA-256 thumbprint of the server signing key (32 bytes)
}

const (
	linkVersion   = 1
	minTokenBytes = 16 // 128 bits, what DESIGN.md asks of the server
	maxTokenBytes = 64
	pinBytes      = 32 // SHA-256

	// maxServerLen keeps the canonical link under maxURILen even when every
	// byte of server, user and org needs percent-encoding (3 bytes each).
	maxServerLen = 512

	// maxUnix is 9999-12-31T23:59:59Z. Beyond it time.Unix(exp, 0).Unix()
	// no longer gives exp back, and no real link expires that late.
	maxUnix = 253402300799
)

const wantLink = "want assent://enroll?v=1&server=..."

// ParseLink parses an enrollment link, as scanned or pasted. It trims
// surrounding white space, ignores parameters it does not know, and returns
// a *FieldError for a missing, repeated or malformed parameter.
//
// ParseLink does not check expiry: the caller has the clock (see
// [Link.Expired]), and an expired link deserves its own message.
func ParseLink(s string) (*Link, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxURILen {
		return nil, fmt.Errorf("%s is %d bytes long: want at most %d", kindLink, len(s), maxURILen)
	}
	u, ok := splitURI(s)
	switch {
	case !ok:
		return nil, errors.New("not an Assent enrollment link: " + wantLink + ", got text that is not a link")
	case u.scheme != "assent":
		return nil, fmt.Errorf("not an Assent enrollment link: %s, got scheme %s", wantLink, quoteShort(u.scheme))
	case !u.slashes || !strings.EqualFold(u.authority, "enroll") || (u.path != "" && u.path != "/"):
		before, _, _ := strings.Cut(s, "?")
		return nil, fmt.Errorf("not an Assent enrollment link: %s, got %s", wantLink, quoteShort(before))
	case u.fragment:
		return nil, fmt.Errorf("%s: has a #fragment: want nothing after the parameters", kindLink)
	}

	q, err := parseQuery(kindLink, u.query, "v", "server", "token", "user", "org", "exp", "pin")
	if err != nil {
		return nil, err
	}
	l := &Link{Version: linkVersion}

	// The version comes first: a link from a newer server should say "update
	// the app", not complain about whichever field changed.
	v, err := q.require("v", "1")
	if err != nil {
		return nil, err
	}
	if v != "1" {
		if isDigits(v) {
			return nil, fieldError(kindLink, "v", "version %s is not supported: want 1 (a newer version of the app may read it)", quoteShort(v))
		}
		return nil, fieldError(kindLink, "v", "is %s: want 1", quoteShort(v))
	}

	server, err := q.require("server", "the server's https URL")
	if err != nil {
		return nil, err
	}
	if l.Server, err = parseServer(server); err != nil {
		return nil, err
	}

	if l.Token, err = q.require("token", "unpadded base64url of 16 to 64 bytes"); err != nil {
		return nil, err
	}
	if err := checkBase64URL(kindLink, "token", l.Token, minTokenBytes, maxTokenBytes); err != nil {
		return nil, err
	}

	if l.User, err = q.require("user", "the login name"); err != nil {
		return nil, err
	}
	if err := checkText(kindLink, "user", "login", l.User, true); err != nil {
		return nil, err
	}

	// org is optional: a single-tenant server may have no name to show.
	if l.Org, _, err = q.get("org"); err != nil {
		return nil, err
	}
	if err := checkText(kindLink, "org", "organisation name", l.Org, false); err != nil {
		return nil, err
	}

	exp, err := q.require("exp", "the expiry time in unix seconds")
	if err != nil {
		return nil, err
	}
	if l.Expires, err = parseUnix(exp); err != nil {
		return nil, err
	}

	if l.Pin, err = q.require("pin", "the server key's SHA-256 thumbprint, unpadded base64url of 32 bytes"); err != nil {
		return nil, err
	}
	if err := checkBase64URL(kindLink, "pin", l.Pin, pinBytes, pinBytes); err != nil {
		return nil, err
	}
	return l, nil
}

// String formats l as a link that ParseLink reads back to the same value.
// Parameters come in the documented order; org is always written, even
// empty, so the link matches DESIGN.md literally.
func (l *Link) String() string {
	v := l.Version
	if v == 0 {
		v = linkVersion
	}
	var b strings.Builder
	b.WriteString("assent://enroll?v=")
	b.WriteString(strconv.Itoa(v))
	// ':' '/' '@' are legal in a query (RFC 3986 3.4); leaving them keeps
	// the server URL and logins readable to a person checking the link.
	b.WriteString("&server=")
	b.WriteString(escape(l.Server, ":/@"))
	b.WriteString("&token=")
	b.WriteString(escape(l.Token, ""))
	b.WriteString("&user=")
	b.WriteString(escape(l.User, ":/@"))
	b.WriteString("&org=")
	b.WriteString(escape(l.Org, ":/@"))
	b.WriteString("&exp=")
	b.WriteString(strconv.FormatInt(l.Expires.Unix(), 10))
	b.WriteString("&pin=")
	b.WriteString(escape(l.Pin, ""))
	return b.String()
}

// Expired reports whether the link can no longer be used at now. Like a JWT
// exp, the expiry instant itself is already too late.
func (l *Link) Expired(now time.Time) bool {
	return !now.Before(l.Expires)
}

// parseServer checks the server parameter and returns it without trailing
// slashes, so that callers can append "/v1/enroll" to it directly.
func parseServer(s string) (string, error) {
	const want = "want an absolute https URL such as https://assent.example.com"
	bad := func(format string, args ...any) error {
		return fieldError(kindLink, "server", format, args...)
	}
	if len(s) > maxServerLen {
		return "", bad("is %d bytes long: want at most %d", len(s), maxServerLen)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return "", bad("contains a space or control character: %s", want)
		}
	}
	if !utf8.ValidString(s) {
		return "", bad("is not valid UTF-8: %s", want)
	}
	// A query or fragment in the base URL would end up in the middle of
	// every API path built from it.
	if strings.ContainsAny(s, "?#") {
		return "", bad("has a query or fragment: %s, optionally with a path prefix", want)
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL itself is in the field already
		}
		return "", bad("is not a valid URL (%v): %s", err, want)
	}
	if u.Scheme == "" || u.Opaque != "" || u.Host == "" {
		return "", bad("is %s, not an absolute URL: %s", quoteShort(s), want)
	}
	// Credentials in a QR code end up in screenshots and logs.
	if u.User != nil {
		return "", bad("contains user info (user@host): want no credentials in the URL")
	}
	host := u.Hostname()
	if host == "" || strings.Contains(u.Host, "%") {
		return "", bad("has host %s: %s", quoteShort(u.Host), want)
	}
	if port := u.Port(); port != "" || strings.HasSuffix(u.Host, ":") {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return "", bad("has port %s: want a number from 1 to 65535", quoteShort(port))
		}
	}
	switch u.Scheme {
	case "https":
	case "http":
		// Plain http is for a developer's own machine only: anywhere else it
		// would expose the enrollment token and the push channel.
		if !isLoopback(host) {
			return "", bad("uses http with host %s: want https (plain http is allowed only for localhost, 127.0.0.0/8 and ::1)", quoteShort(host))
		}
	default:
		return "", bad("has scheme %s: %s", quoteShort(u.Scheme), want)
	}
	return strings.TrimRight(s, "/"), nil
}

// isLoopback reports whether host names this machine without DNS:
// "localhost", 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z).
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// checkBase64URL checks that s is canonical unpadded base64url of min to
// max bytes. Canonical (no padding, no line breaks, zero trailing bits) so
// that one token has exactly one spelling: the server compares strings.
func checkBase64URL(kind, field, s string, min, max int) error {
	want := fmt.Sprintf("unpadded base64url of %d to %d bytes", min, max)
	if min == max {
		want = fmt.Sprintf("unpadded base64url of exactly %d bytes", min)
	}
	for i, r := range s {
		if !('A' <= r && r <= 'Z' || 'a' <= r && r <= 'z' || '0' <= r && r <= '9' || r == '-' || r == '_') {
			return fieldError(kind, field, "contains %q at byte %d: want %s (A-Z a-z 0-9 - _)", r, i, want)
		}
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return fieldError(kind, field, "is not valid base64url (%d characters cannot be a whole number of bytes, or the last character has stray bits): want %s", len(s), want)
	}
	if len(b) < min || len(b) > max {
		return fieldError(kind, field, "decodes to %d bytes: want %s", len(b), want)
	}
	return nil
}

// parseUnix reads the exp parameter.
func parseUnix(s string) (time.Time, error) {
	const want = "want the expiry time as a positive whole number of unix seconds"
	if !isDigits(s) {
		return time.Time{}, fieldError(kindLink, "exp", "is %s: %s", quoteShort(s), want)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > maxUnix {
		// The likeliest cause is a server writing milliseconds.
		return time.Time{}, fieldError(kindLink, "exp", "is %s, after the year 9999 (milliseconds rather than seconds?): %s", quoteShort(s), want)
	}
	if n == 0 {
		return time.Time{}, fieldError(kindLink, "exp", "is 0: %s", want)
	}
	return time.Unix(n, 0).UTC(), nil
}

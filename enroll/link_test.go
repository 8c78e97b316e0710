package enroll

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

const (
	testToken = "q83vEjRWeJCrze8SNFZ4kA"                      // 16 bytes
	testPin   = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" // 32 bytes
	testExp   = 1767225600                                    // 2026-01-01T00:00:00Z
)

// linkParams are the raw (already escaped) parameters of a valid link, in
// the documented order.
var linkParams = [][2]string{
	{"v", "1"},
	{"server", "https://assent.example.com"},
	{"token", testToken},
	{"user", "alice@example.com"},
	{"org", "ACME%20Co"},
	{"exp", "1767225600"},
	{"pin", testPin},
}

// link builds a link from linkParams with key set to raw, or removed when
// raw is "-". Extra "k=v" parts are appended as they are.
func link(key, raw string, extra ...string) string {
	var parts []string
	for _, p := range linkParams {
		switch {
		case p[0] != key:
			parts = append(parts, p[0]+"="+p[1])
		case raw != "-":
			parts = append(parts, p[0]+"="+raw)
		}
	}
	return "assent://enroll?" + strings.Join(append(parts, extra...), "&")
}

var validLink = link("", "")

func wantLinkValue() *Link {
	return &Link{
		Version: 1,
		Server:  "https://assent.example.com",
		Token:   testToken,
		User:    "alice@example.com",
		Org:     "ACME Co",
		Expires: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		Pin:     testPin,
	}
}

func TestParseLinkReadsEveryField(t *testing.T) {
	got, err := ParseLink(validLink)
	if err != nil {
		t.Fatal(err)
	}
	if want := wantLinkValue(); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseLink:\n got %+v\nwant %+v", got, want)
	}
	if got.Expires.Location() != time.UTC {
		t.Errorf("Expires is in %v, want UTC", got.Expires.Location())
	}
}

func TestParseLinkAccepts(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		check func(t *testing.T, l *Link)
	}{
		{"surrounding white space, as pasted", " \n\t" + validLink + " \r\n", nil},
		{"upper-case scheme and host", strings.Replace(validLink, "assent://enroll", "ASSENT://Enroll", 1), nil},
		{"a slash before the query", strings.Replace(validLink, "enroll?", "enroll/?", 1), nil},
		{"parameters in another order", "assent://enroll?pin=" + testPin + "&exp=1767225600&org=ACME%20Co&user=alice@example.com&token=" + testToken + "&server=https://assent.example.com&v=1", nil},
		{"unknown parameters, for forward compatibility", link("", "", "color=blue", "color=red", "x=%zz", "=", "novalue"), nil},
		{"empty parameter segments", strings.Replace(validLink, "&", "&&", -1) + "&", nil},
		{"escaped parameter names", strings.Replace(validLink, "token=", "t%6Fken=", 1), nil},
		{"no org", link("org", "-"), func(t *testing.T, l *Link) {
			if l.Org != "" {
				t.Errorf("Org = %q, want empty", l.Org)
			}
		}},
		{"empty org", link("org", ""), nil},
		{"percent-encoded server", link("server", "https%3A%2F%2Fassent.example.com"), nil},
		{"server trailing slash removed", link("server", "https://assent.example.com/"), func(t *testing.T, l *Link) {
			if l.Server != "https://assent.example.com" {
				t.Errorf("Server = %q", l.Server)
			}
		}},
		{"server path prefix kept, trailing slashes removed", link("server", "https://example.com:8443/auth/assent//"), func(t *testing.T, l *Link) {
			if l.Server != "https://example.com:8443/auth/assent" {
				t.Errorf("Server = %q", l.Server)
			}
		}},
		{"http on localhost", link("server", "http://localhost:8080"), nil},
		{"http on LOCALHOST", link("server", "http://LOCALHOST:8080"), nil},
		{"http on 127.0.0.1", link("server", "http://127.0.0.1:8080"), nil},
		{"http anywhere in 127.0.0.0/8", link("server", "http://127.200.3.4"), nil},
		{"http on ::1", link("server", "http://[::1]:8080/x"), nil},
		{"http on IPv4-mapped loopback", link("server", "http://[::ffff:127.0.0.1]"), nil},
		{"https on an IP address", link("server", "https://192.0.2.10"), nil},
		{"'+' in user as a space", link("user", "alice+smith"), func(t *testing.T, l *Link) {
			if l.User != "alice smith" {
				t.Errorf("User = %q", l.User)
			}
		}},
		{"%2B in user as a plus", link("user", "alice%2Btag@example.com"), func(t *testing.T, l *Link) {
			if l.User != "alice+tag@example.com" {
				t.Errorf("User = %q", l.User)
			}
		}},
		{"non-ASCII user and org", strings.Replace(link("user", "zo%C3%AB"), "ACME%20Co", "%E6%97%A5%E6%9C%AC", 1), nil},
		{"raw UTF-8 user", link("user", "zoë"), nil},
		{"user of 256 bytes", link("user", strings.Repeat("a", 256)), nil},
		{"64-byte token", link("token", strings.Repeat("A", 86)), nil},
		{"exp of 1", link("exp", "1"), nil},
		{"exp in the year 9999", link("exp", "253402300799"), nil},
		{"already expired (expiry is the caller's business)", link("exp", "1000"), nil},
		{"server of 512 bytes", link("server", "https://a.example/"+strings.Repeat("p", 512-len("https://a.example/"))), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseLink(tt.in)
			if err != nil {
				t.Fatalf("ParseLink(%q): %v", tt.in, err)
			}
			if tt.check != nil {
				tt.check(t, l)
			}
		})
	}
}

func TestParseLinkRejectsBadFields(t *testing.T) {
	tests := []struct {
		name, in, field, problem string // problem: a substring of FieldError.Problem
	}{
		{"missing version", link("v", "-"), "v", "missing"},
		{"empty version", link("v", ""), "v", "empty"},
		{"newer version", link("v", "2"), "v", "newer version of the app"},
		{"version 01", link("v", "01"), "v", "not supported"},
		{"non-numeric version", link("v", "one"), "v", "want 1"},
		{"repeated version", link("", "", "v=1"), "v", "exactly once"},

		{"missing server", link("server", "-"), "server", "missing"},
		{"empty server", link("server", ""), "server", "empty"},
		{"repeated server", link("", "", "server=https://evil.example"), "server", "appears 2 times"},
		{"http on a public host", link("server", "http://assent.example.com"), "server", "want https"},
		{"http on a private address", link("server", "http://10.0.0.1"), "server", "want https"},
		{"http on a localhost look-alike", link("server", "http://localhost.evil.example"), "server", "want https"},
		{"http on short-form 127.1", link("server", "http://127.1"), "server", "want https"},
		{"http on 0.0.0.0", link("server", "http://0.0.0.0"), "server", "want https"},
		{"ftp scheme", link("server", "ftp://assent.example.com"), "server", `scheme "ftp"`},
		{"no scheme", link("server", "assent.example.com"), "server", "not an absolute URL"},
		{"relative path", link("server", "/enroll"), "server", "not an absolute URL"},
		{"opaque URL", link("server", "https:assent.example.com"), "server", "not an absolute URL"},
		{"no host", link("server", "https://"), "server", "not an absolute URL"},
		{"no host but a port", link("server", "https://:443"), "server", "host"},
		{"user info", link("server", "https://bob:pw@assent.example.com"), "server", "user info"},
		{"empty user info", link("server", "https://@assent.example.com"), "server", "user info"},
		{"query", link("server", "https://assent.example.com/%3Fa%3Db"), "server", "query or fragment"},
		{"empty query", link("server", "https://assent.example.com%3F"), "server", "query or fragment"},
		{"fragment", link("server", "https://assent.example.com%23top"), "server", "query or fragment"},
		{"port 0", link("server", "https://assent.example.com:0"), "server", "port"},
		{"port too large", link("server", "https://assent.example.com:65536"), "server", "port"},
		{"empty port", link("server", "https://assent.example.com:"), "server", "port"},
		{"space", link("server", "https://assent.example.com/a%20b"), "server", "space"},
		{"control character", link("server", "https://assent.example.com/%0A"), "server", "control"},
		{"percent-encoded host", link("server", "https://assent%252Eexample.com"), "server", "not a valid URL"},
		{"IPv6 zone", link("server", "http://[::1%2525lo]"), "server", "host"},
		{"bad escape in path", link("server", "https://assent.example.com/%25zz"), "server", "not a valid URL"},
		{"invalid UTF-8", link("server", "https://assent.example.com/%FF"), "server", "UTF-8"},
		{"too long", link("server", "https://a.example/"+strings.Repeat("p", 513-len("https://a.example/"))), "server", "at most 512"},

		{"missing token", link("token", "-"), "token", "missing"},
		{"empty token", link("token", ""), "token", "empty"},
		{"repeated token", link("", "", "token="+testToken), "token", "exactly once"},
		{"padded token", link("token", testToken+"%3D%3D"), "token", `'='`},
		{"standard base64 token", link("token", "q83vEjRWeJCrze8SNFZ4k%2B"), "token", `'+'`},
		{"token with a line break", link("token", "q83vEjRWeJCr%0Aze8SNFZ4kA"), "token", `'\n'`},
		{"token with stray bits", link("token", "q83vEjRWeJCrze8SNFZ4kB"), "token", "stray bits"},
		{"token of impossible length", link("token", "q83vEjRWeJCrze8SNFZ4k"), "token", "not valid base64url"},
		{"15-byte token", link("token", "q83vEjRWeJCrze8SNFZ4"), "token", "decodes to 15 bytes"},
		{"65-byte token", link("token", strings.Repeat("A", 87)), "token", "decodes to 65 bytes"},

		{"missing user", link("user", "-"), "user", "missing"},
		{"empty user", link("user", ""), "user", "empty"},
		{"repeated user", link("", "", "user=bob"), "user", "exactly once"},
		{"user with NUL", link("user", "alice%00"), "user", "U+0000"},
		{"user with newline", link("user", "alice%0Abob"), "user", "control"},
		{"user with escape", link("user", "%1B[31malice"), "user", "control"},
		{"user with DEL", link("user", "alice%7F"), "user", "control"},
		{"user with C1 control", link("user", "alice%C2%85"), "user", "control"},
		{"user with right-to-left override", link("user", "alice%E2%80%AEnimda"), "user", "U+202E"},
		{"user with line separator", link("user", "alice%E2%80%A8"), "user", "control"},
		{"user not UTF-8", link("user", "alice%FF"), "user", "UTF-8"},
		{"user of 257 bytes", link("user", strings.Repeat("a", 257)), "user", "at most 256"},
		{"user with bad escape", link("user", "alice%zz"), "user", "percent-encoding"},
		{"user with truncated escape", link("user", "alice%4"), "user", "percent-encoding"},

		{"repeated org", link("", "", "org="), "org", "exactly once"},
		{"org with control character", link("org", "ACME%09Co"), "org", "control"},
		{"org not UTF-8", link("org", "%C3"), "org", "UTF-8"},
		{"org of 257 bytes", link("org", strings.Repeat("%C3%A9", 128)+"x"), "org", "at most 256"},

		{"missing exp", link("exp", "-"), "exp", "missing"},
		{"empty exp", link("exp", ""), "exp", "empty"},
		{"repeated exp", link("", "", "exp=1767225600"), "exp", "exactly once"},
		{"exp of 0", link("exp", "0"), "exp", "is 0"},
		{"negative exp", link("exp", "-5"), "exp", "positive whole number"},
		{"signed exp", link("exp", "%2B100"), "exp", "positive whole number"},
		{"exp past 9999", link("exp", "253402300800"), "exp", "after the year 9999"},
		{"exp in milliseconds", link("exp", "1767225600000"), "exp", "milliseconds rather than seconds"},
		{"exp overflowing int64", link("exp", "99999999999999999999"), "exp", "after the year 9999"},
		{"exp as a date", link("exp", "2026-01-01"), "exp", "unix seconds"},
		{"fractional exp", link("exp", "1767225600.5"), "exp", "unix seconds"},

		{"missing pin", link("pin", "-"), "pin", "missing"},
		{"empty pin", link("pin", ""), "pin", "empty"},
		{"repeated pin", link("", "", "pin="+testPin), "pin", "exactly once"},
		{"30-byte pin", link("pin", testPin[:40]), "pin", "decodes to 30 bytes"},
		{"33-byte pin", link("pin", testPin+"AA"), "pin", "exactly 32 bytes"},
		{"pin in hex", link("pin", strings.Repeat("ab", 32)), "pin", "exactly 32 bytes"},
		{"pin with padding", link("pin", testPin+"="), "pin", `'='`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ParseLink(tt.in)
			if err == nil {
				t.Fatalf("ParseLink(%q) = %+v, want an error about %s", tt.in, l, tt.field)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseLink(%q): %v (%T), want a *FieldError", tt.in, err, err)
			}
			if fe.Kind != "enrollment link" || fe.Field != tt.field {
				t.Errorf("got Kind %q Field %q, want %q %q (%v)", fe.Kind, fe.Field, "enrollment link", tt.field, err)
			}
			if !strings.Contains(fe.Problem, tt.problem) {
				t.Errorf("Problem %q does not mention %q", fe.Problem, tt.problem)
			}
			if prefix := `enrollment link: field "` + tt.field + `": `; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", err, prefix)
			}
			if !strings.Contains(fe.Problem, "want") {
				t.Errorf("Problem %q does not say what is expected", fe.Problem)
			}
		})
	}
}

func TestParseLinkRejectsOtherLinks(t *testing.T) {
	tests := []struct{ name, in, msg string }{
		{"http URL", "http://assent.example.com/enroll?v=1", `not an Assent enrollment link: want assent://enroll?v=1&server=..., got scheme "http"`},
		{"otpauth URI", "otpauth://totp/x?secret=JBSWY3DPEHPK3PXP", `got scheme "otpauth"`},
		{"plain text", "hello there", "got text that is not a link"},
		{"empty", "   ", "got text that is not a link"},
		{"other host", strings.Replace(validLink, "//enroll", "//login", 1), `got "assent://login"`},
		{"host with port", strings.Replace(validLink, "//enroll", "//enroll:80", 1), `got "assent://enroll:80"`},
		{"user info", strings.Replace(validLink, "//enroll", "//x@enroll", 1), `got "assent://x@enroll"`},
		{"no slashes", strings.Replace(validLink, "//", "", 1), `got "assent:enroll"`},
		{"a path", strings.Replace(validLink, "enroll?", "enroll/more?", 1), `got "assent://enroll/more"`},
		{"a fragment", validLink + "#x", "fragment"},
		{"over 4096 bytes", link("", "", "x="+strings.Repeat("a", 4096)), "at most 4096"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseLink(tt.in)
			if err == nil {
				t.Fatalf("ParseLink(%q) succeeded", tt.in)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestParseLinkErrorMessagesReadWell(t *testing.T) {
	_, err := ParseLink(link("token", "AAAAAAAAAAA"))
	want := `enrollment link: field "token": decodes to 8 bytes: want unpadded base64url of 16 to 64 bytes`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

func TestParseLinkErrorsDoNotEchoTheToken(t *testing.T) {
	secret := strings.Repeat("S", 40)
	for _, in := range []string{
		"https://x/?token=" + secret,
		"assent://" + secret + "?token=" + secret,
		"assent:" + secret,
		link("user", "", "token="+secret),
	} {
		_, err := ParseLink(in)
		if err == nil || strings.Contains(err.Error(), secret) {
			t.Errorf("ParseLink(%q): error %v echoes the input", in, err)
		}
	}
}

func TestLinkStringRoundTrips(t *testing.T) {
	links := []*Link{
		wantLinkValue(),
		{Version: 1, Server: "http://[::1]:8080/prefix/x", Token: strings.Repeat("_-", 42) + "_w", User: "Zoë 🙂 O'Brien", Org: "", Expires: time.Unix(1, 0).UTC(), Pin: testPin},
		{Version: 1, Server: "https://bücher.example/a%20b/~c", Token: testToken, User: "a&b=c+d#e%f?g/h:i@j k", Org: "Dept. \"R&D\" <lab>", Expires: time.Unix(maxUnix, 0).UTC(), Pin: testPin},
		{Version: 1, Server: "HTTPS://Assent.Example.com:443", Token: testToken, User: strings.Repeat("é", 128), Org: strings.Repeat("\U0001F600", 64), Expires: time.Unix(testExp, 0).UTC(), Pin: testPin},
	}
	for _, l := range links {
		s := l.String()
		got, err := ParseLink(s)
		if err != nil {
			t.Errorf("ParseLink(%q): %v", s, err)
			continue
		}
		if !reflect.DeepEqual(got, l) {
			t.Errorf("round trip of %q:\n got %+v\nwant %+v", s, got, l)
		}
		if s2 := got.String(); s2 != s {
			t.Errorf("String is not stable:\n%s\n%s", s, s2)
		}
	}
}

func TestLinkStringWritesTheDocumentedForm(t *testing.T) {
	want := "assent://enroll?v=1&server=https://assent.example.com&token=" + testToken +
		"&user=alice@example.com&org=ACME%20Co&exp=1767225600&pin=" + testPin
	if got := wantLinkValue().String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestLinkStringWritesVersion1ForZeroVersion(t *testing.T) {
	l := wantLinkValue()
	l.Version = 0
	if !strings.HasPrefix(l.String(), "assent://enroll?v=1&") {
		t.Errorf("String() = %q", l.String())
	}
}

func TestLinkExpired(t *testing.T) {
	l := wantLinkValue()
	exp := l.Expires
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"a minute before", exp.Add(-time.Minute), false},
		{"a nanosecond before", exp.Add(-1), false},
		{"at the expiry instant", exp, true},
		{"after", exp.Add(time.Second), true},
		{"in another time zone, before", exp.Add(-time.Second).In(time.FixedZone("X", 5*3600)), false},
	}
	for _, tt := range tests {
		if got := l.Expired(tt.now); got != tt.want {
			t.Errorf("%s: Expired(%v) = %v, want %v", tt.name, tt.now, got, tt.want)
		}
	}
}

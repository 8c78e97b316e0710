package enroll

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxURILen bounds both link formats. Real links are a few hundred bytes;
// the limit keeps a hostile QR code or paste from costing much to parse, and
// field limits below keep every canonical String() well inside it.
const maxURILen = 4096

// maxTextLen bounds user, org, issuer and account names.
const maxTextLen = 256

// rawURI is a URI split into its parts, still percent-encoded. The parsers
// split by hand rather than with net/url so that every problem can be
// reported against the field it concerns, and so that nothing is silently
// normalised between what was scanned and what is checked.
type rawURI struct {
	scheme    string // lower-cased (schemes are case-insensitive)
	slashes   bool   // "//" followed the scheme
	authority string
	path      string
	query     string
	fragment  bool // a '#' was present
}

// splitURI splits s at the generic RFC 3986 delimiters. ok is false when s
// does not start with a syntactically valid scheme.
func splitURI(s string) (u rawURI, ok bool) {
	scheme, rest, found := strings.Cut(s, ":")
	if !found || !validScheme(scheme) {
		return rawURI{}, false
	}
	u.scheme = strings.ToLower(scheme)
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		u.fragment = true
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		u.query = rest[i+1:]
		rest = rest[:i]
	}
	if r, ok := strings.CutPrefix(rest, "//"); ok {
		u.slashes = true
		rest = r
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			u.authority, rest = rest[:i], rest[i:]
		} else {
			u.authority, rest = rest, ""
		}
	}
	u.path = rest
	return u, true
}

// validScheme reports whether s is an RFC 3986 scheme:
// ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func validScheme(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}

// query holds the raw (still escaped) values of the parameters a parser
// knows. Values are unescaped on demand so that an encoding error is
// reported against its field, and only for fields that matter.
type query struct {
	kind   string
	values map[string][]string
}

// parseQuery collects the parameters named in known. Others are skipped
// without looking at them: they are for newer versions of the format.
func parseQuery(kind, raw string, known ...string) (query, error) {
	q := query{kind: kind, values: make(map[string][]string, len(known))}
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			// Which field this was meant to be is unknowable, so no FieldError.
			return query{}, fmt.Errorf("%s: parameter name %s has invalid percent-encoding: want %%XX with two hex digits", kind, quoteShort(k))
		}
		for _, name := range known {
			if key == name {
				q.values[key] = append(q.values[key], v)
				break
			}
		}
	}
	return q, nil
}

// get returns the unescaped value of field, and whether it was present. A
// parameter given twice is an error, not "last one wins": two values for
// the server or the secret mean the link was tampered with or built wrong,
// and guessing which one was meant is how confusion attacks work.
func (q query) get(field string) (value string, present bool, err error) {
	vs := q.values[field]
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
	default:
		return "", true, fieldError(q.kind, field, "appears %d times: want it exactly once", len(vs))
	}
	v, err := url.QueryUnescape(vs[0])
	if err != nil {
		return "", true, fieldError(q.kind, field, "has invalid percent-encoding: want %%XX with two hex digits")
	}
	return v, true, nil
}

// require is get for a parameter that must be present and non-empty.
func (q query) require(field, want string) (string, error) {
	v, present, err := q.get(field)
	if err != nil {
		return "", err
	}
	if !present {
		return "", fieldError(q.kind, field, "is missing: want %s", want)
	}
	if v == "" {
		return "", fieldError(q.kind, field, "is empty: want %s", want)
	}
	return v, nil
}

// small returns the optional numeric parameter field, or def when it is
// absent. Out-of-range numbers are left for validate, which knows the range.
func (q query) small(field string, def int, want string) (int, error) {
	s, present, err := q.get(field)
	if err != nil || !present {
		return def, err
	}
	// Nine digits always fit an int and are far beyond any valid value.
	if !isDigits(s) || len(s) > 9 {
		return 0, fieldError(q.kind, field, "is %s: %s", quoteShort(s), want)
	}
	n, _ := strconv.Atoi(s)
	return n, nil
}

// checkText applies the rules shared by every human-readable name (user,
// org, issuer, account): bounded, UTF-8, and nothing that could change how
// the name, or the text around it, is displayed.
func checkText(kind, field, what, s string, required bool) error {
	if s == "" {
		if required {
			return fieldError(kind, field, "%s is empty: want a non-empty name", what)
		}
		return nil
	}
	if len(s) > maxTextLen {
		return fieldError(kind, field, "%s is %d bytes long: want at most %d", what, len(s), maxTextLen)
	}
	if !utf8.ValidString(s) {
		return fieldError(kind, field, "%s is not valid UTF-8: want UTF-8 text", what)
	}
	for _, r := range s {
		if isDisplayControl(r) {
			return fieldError(kind, field, "%s contains the control character %U: want printable text", what, r)
		}
	}
	return nil
}

// isDisplayControl reports control characters (C0, DEL, C1), line and
// paragraph separators, and the bidirectional overrides and isolates. The
// last group is not strictly "control" in Unicode's sense, but it lets a
// name like "alice\u202Enimda" render as something else in an approval
// prompt, which is exactly the confusion an authenticator must not allow.
func isDisplayControl(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u2028', r == '\u2029':
		return true
	case '\u202A' <= r && r <= '\u202E', '\u2066' <= r && r <= '\u2069':
		return true
	}
	return false
}

// isDigits reports whether s is a non-empty run of ASCII digits. strconv
// alone would also accept a sign, and "+30" is not a period anyone meant.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// escape percent-encodes s for a query value or label segment, leaving the
// RFC 3986 unreserved characters and those in keep as they are. Spaces
// become %20, never '+': some authenticator apps read '+' literally.
func escape(s, keep string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

package enroll

import (
	"encoding/base32"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
)

// OTPAuth is an otpauth:// key URI, the format of TOTP and HOTP enrollment
// QR codes shown by most web sites.
//
// Type "steam" is Steam Guard: TOTP whose codes are five characters from
// Steam's alphabet (crypto.SteamAlphabet) instead of digits. Aegis writes
// it as otpauth://steam/..., KeePassXC as otpauth://totp/...&encoder=steam;
// both read as Type "steam", written back in Aegis's form.
type OTPAuth struct {
	Type      string // "totp", "hotp" or "steam"
	Issuer    string // who issued the key; may be empty
	Account   string // the account name, usually a login or e-mail address; no leading spaces
	Secret    []byte // the shared key, 10 to 128 bytes
	Algorithm string // "SHA1", "SHA256" or "SHA512"
	Digits    int    // 5 to 10 (6 or 8 nearly everywhere); 5 for Steam
	Period    int    // TOTP and Steam step in seconds, 1 to 3600; 0 for HOTP
	Counter   uint64 // HOTP moving factor; 0 for TOTP
}

// Code types.
const (
	TypeTOTP  = "totp"
	TypeHOTP  = "hotp"
	TypeSteam = "steam"
)

// IsTimeBased says whether codes change with time (TOTP and Steam) rather
// than with a counter (HOTP).
func (o *OTPAuth) IsTimeBased() bool { return o.Type != TypeHOTP }

const (
	// RFC 4226 asks for at least 128 bits and recommends 160, but real
	// issuers hand out 80-bit secrets (16 base32 characters, as in the Google
	// example), so 80 is the floor an authenticator has to accept.
	minSecretBytes = 10
	maxSecretBytes = 128

	defaultAlgorithm = "SHA1"
	defaultDigits    = 6
	defaultPeriod    = 30
	maxPeriod        = 3600

	// Code lengths: what real exports carry (Aegis, andOTP and FreeOTP+
	// accept them all). The same bounds as crypto.MinDigits/MaxDigits.
	minDigits   = 5
	maxDigits   = 10
	steamDigits = 5
)

const wantDigits = "want 5 to 10 (usually 6 or 8)"

const wantOTPAuth = "want otpauth://totp/Issuer:account?secret=... or otpauth://hotp/..."

// b32 is base32 as written in otpauth URIs: no padding.
var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// ParseOTPAuth parses an otpauth:// key URI as described at
// https://github.com/google/google-authenticator/wiki/Key-Uri-Format. It
// trims surrounding white space, fills in the documented defaults
// (SHA1, 6 digits, 30 seconds), ignores parameters it does not know (image,
// color, ...) and returns a *FieldError for a bad or repeated one.
func ParseOTPAuth(s string) (*OTPAuth, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxURILen {
		return nil, fmt.Errorf("%s is %d bytes long: want at most %d", kindOTPAuth, len(s), maxURILen)
	}
	u, ok := splitURI(s)
	switch {
	case !ok:
		return nil, errors.New("not an otpauth URI: " + wantOTPAuth + ", got text that is not a link")
	case u.scheme != "otpauth":
		return nil, fmt.Errorf("not an otpauth URI: %s, got scheme %s", wantOTPAuth, quoteShort(u.scheme))
	case !u.slashes:
		return nil, fmt.Errorf("not an otpauth URI: %s, got no // after otpauth:", wantOTPAuth)
	case u.fragment:
		return nil, fmt.Errorf("%s: has a #fragment: want nothing after the parameters", kindOTPAuth)
	}

	o := &OTPAuth{Type: strings.ToLower(u.authority)}
	if o.Type != TypeTOTP && o.Type != TypeHOTP && o.Type != TypeSteam {
		return nil, fieldError(kindOTPAuth, "type", "is %s: want totp, hotp or steam (otpauth://totp/...)", quoteShort(u.authority))
	}

	label, ok := strings.CutPrefix(u.path, "/")
	if !ok || label == "" {
		return nil, fieldError(kindOTPAuth, "label", "is missing: want otpauth://%s/Issuer:account?...", o.Type)
	}
	label, err := url.PathUnescape(label)
	if err != nil {
		return nil, fieldError(kindOTPAuth, "label", "has invalid percent-encoding: want %%XX with two hex digits")
	}
	if len(label) > maxTextLen {
		return nil, fieldError(kindOTPAuth, "label", "is %d bytes long: want at most %d", len(label), maxTextLen)
	}
	// "Issuer:account", where the colon may also arrive as %3A (already
	// decoded here) and spaces may follow it.
	prefix, account, hasPrefix := strings.Cut(label, ":")
	if !hasPrefix {
		prefix, account = "", label
	}
	// Trimmed with or without an issuer, so that String(), which writes no
	// spaces after the colon, reads back the same account.
	o.Account = strings.TrimLeft(account, " ")

	// Only the parameters that mean something for this type are known;
	// counter on a TOTP URI is as irrelevant as image.
	known := []string{"secret", "issuer", "algorithm", "digits"}
	switch o.Type {
	case TypeTOTP:
		known = append(known, "period", "encoder")
	case TypeSteam:
		known = append(known, "period")
	default:
		known = append(known, "counter")
	}
	q, err := parseQuery(kindOTPAuth, u.query, known...)
	if err != nil {
		return nil, err
	}

	secret, err := q.require("secret", "the shared key in base32")
	if err != nil {
		return nil, err
	}
	if o.Secret, err = decodeSecret(secret); err != nil {
		return nil, err
	}

	// The wiki recommends both an issuer parameter and a label prefix; when
	// both are there and differ, one of them is lying about who the account
	// belongs to, so refuse rather than pick one.
	issuer, _, err := q.get("issuer")
	if err != nil {
		return nil, err
	}
	switch {
	case issuer != "" && prefix != "" && issuer != prefix:
		return nil, fieldError(kindOTPAuth, "issuer", "is %s but the label says %s: want the same issuer in both", quoteShort(issuer), quoteShort(prefix))
	case issuer != "":
		o.Issuer = issuer
	default:
		o.Issuer = prefix
	}

	alg, present, err := q.get("algorithm")
	if err != nil {
		return nil, err
	}
	o.Algorithm = defaultAlgorithm
	if present {
		o.Algorithm = strings.ToUpper(alg)
	}

	if o.Type == TypeTOTP {
		// KeePassXC's way of writing a Steam account.
		enc, present, err := q.get("encoder")
		if err != nil {
			return nil, err
		}
		switch {
		case !present:
		case strings.EqualFold(enc, "steam"):
			o.Type = TypeSteam
		default:
			return nil, fieldError(kindOTPAuth, "encoder", "is %s: want steam, or no encoder", quoteShort(enc))
		}
	}

	defDigits := defaultDigits
	if o.Type == TypeSteam {
		defDigits = steamDigits
	}
	if o.Digits, err = q.small("digits", defDigits, wantDigits); err != nil {
		return nil, err
	}
	if o.IsTimeBased() {
		if o.Period, err = q.small("period", defaultPeriod, "want the time step in seconds, usually 30"); err != nil {
			return nil, err
		}
	} else {
		// A counter is required: guessing 0 would put the app out of step
		// with a server that started elsewhere, and every code would fail.
		c, err := q.require("counter", "the initial counter value, a whole number")
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseUint(c, 10, 64)
		if err != nil {
			return nil, fieldError(kindOTPAuth, "counter", "is %s: want a whole number from 0 to %d", quoteShort(c), uint64(math.MaxUint64))
		}
		o.Counter = n
	}

	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

// DecodeSecret reads a shared key typed by hand: base32 in any case, with
// or without '=' padding, grouped with spaces. It returns a *FieldError
// for the "secret" field.
func DecodeSecret(s string) ([]byte, error) { return decodeSecret(s) }

// decodeSecret accepts base32 the way people and issuers write it: any
// case, with or without '=' padding, grouped with spaces.
func decodeSecret(s string) ([]byte, error) {
	const want = "want the shared key in base32 (A-Z, 2-7)"
	s = strings.ReplaceAll(s, " ", "")
	s = strings.TrimRight(s, "=")
	if s == "" {
		return nil, fieldError(kindOTPAuth, "secret", "is empty: %s", want)
	}
	up := make([]byte, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		if !('A' <= c && c <= 'Z' || '2' <= c && c <= '7') {
			return nil, fieldError(kindOTPAuth, "secret", "contains %s: %s", quoteShort(s[i:i+1]), want)
		}
		up[i] = c
	}
	b, err := b32.DecodeString(string(up))
	// 1, 3 or 6 characters left over cannot end a base32 string, but the
	// decoder quietly drops some of them.
	if rem := len(up) % 8; err != nil || rem == 1 || rem == 3 || rem == 6 {
		return nil, fieldError(kindOTPAuth, "secret", "has %d base32 characters, which is not a whole number of bytes: %s", len(s), want)
	}
	if len(b) < minSecretBytes || len(b) > maxSecretBytes {
		return nil, fieldError(kindOTPAuth, "secret", "decodes to %d bytes: want %d to %d bytes (%d to %d bits)",
			len(b), minSecretBytes, maxSecretBytes, minSecretBytes*8, maxSecretBytes*8)
	}
	return b, nil
}

// validate checks the fields ParseOTPAuth cannot get wrong by construction.
func (o *OTPAuth) validate() error {
	if err := checkText(kindOTPAuth, "issuer", "issuer", o.Issuer, false); err != nil {
		return err
	}
	if strings.Contains(o.Issuer, ":") {
		return fieldError(kindOTPAuth, "issuer", "contains a colon: want an issuer without ':' (the label uses it to separate issuer and account)")
	}
	if err := checkText(kindOTPAuth, "label", "account name", o.Account, true); err != nil {
		return err
	}
	if strings.Contains(o.Account, ":") {
		return fieldError(kindOTPAuth, "label", "account name contains a colon: want Issuer:account with no other ':'")
	}
	// The canonical label repeats the issuer; it must fit the same limit a
	// parsed label has, or String() would write what ParseOTPAuth refuses.
	if n := len(o.label()); n > maxTextLen {
		return fieldError(kindOTPAuth, "label", "issuer and account name together are %d bytes: want at most %d", n, maxTextLen)
	}
	switch o.Algorithm {
	case "SHA1", "SHA256", "SHA512":
	default:
		return fieldError(kindOTPAuth, "algorithm", "is %s: want SHA1, SHA256 or SHA512", quoteShort(o.Algorithm))
	}
	switch {
	case o.Type == TypeSteam && o.Digits != steamDigits:
		return fieldError(kindOTPAuth, "digits", "is %d: want %d for a Steam account", o.Digits, steamDigits)
	case o.Digits < minDigits || o.Digits > maxDigits:
		return fieldError(kindOTPAuth, "digits", "is %d: %s", o.Digits, wantDigits)
	}
	if o.IsTimeBased() && (o.Period < 1 || o.Period > maxPeriod) {
		return fieldError(kindOTPAuth, "period", "is %d: want the time step in seconds, from 1 to %d (usually 30)", o.Period, maxPeriod)
	}
	return nil
}

// label is the decoded canonical label, "Issuer:account" or "account".
func (o *OTPAuth) label() string {
	if o.Issuer == "" {
		return o.Account
	}
	return o.Issuer + ":" + o.Account
}

// String formats o in canonical form:
//
//	otpauth://totp/Issuer:account?secret=BASE32&issuer=Issuer&algorithm=SHA1&digits=6&period=30
//
// with counter instead of period for HOTP, otpauth://steam/... for Steam,
// and without the issuer when there is none. Zero values of Type,
// Algorithm, Digits and Period are written as the defaults (totp, SHA1, 6
// — 5 for Steam — and 30), so a hand-built OTPAuth needs only the issuer,
// account and secret.
func (o *OTPAuth) String() string {
	typ, alg, digits, period := o.Type, o.Algorithm, o.Digits, o.Period
	if typ == "" {
		typ = "totp"
	}
	if alg == "" {
		alg = defaultAlgorithm
	}
	if digits == 0 {
		digits = defaultDigits
		if typ == TypeSteam {
			digits = steamDigits
		}
	}
	if period == 0 {
		period = defaultPeriod
	}
	var b strings.Builder
	b.WriteString("otpauth://")
	b.WriteString(escape(typ, ""))
	b.WriteByte('/')
	// The issuer and account are escaped separately so that the colon
	// between them stays literal, as every authenticator expects.
	if o.Issuer != "" {
		b.WriteString(escape(o.Issuer, "@"))
		b.WriteByte(':')
	}
	b.WriteString(escape(o.Account, "@"))
	b.WriteString("?secret=")
	b.WriteString(b32.EncodeToString(o.Secret))
	if o.Issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(escape(o.Issuer, "@"))
	}
	b.WriteString("&algorithm=")
	b.WriteString(escape(alg, ""))
	b.WriteString("&digits=")
	b.WriteString(strconv.Itoa(digits))
	if typ == "hotp" {
		b.WriteString("&counter=")
		b.WriteString(strconv.FormatUint(o.Counter, 10))
	} else {
		b.WriteString("&period=")
		b.WriteString(strconv.Itoa(period))
	}
	return b.String()
}

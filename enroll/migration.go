package enroll

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Google Authenticator's "Transfer accounts" QR codes hold
//
//	otpauth-migration://offline?data=<base64 of a MigrationPayload>
//
// where MigrationPayload is this protobuf message (field numbers as Google
// Authenticator writes them):
//
//	message MigrationPayload {
//	  repeated OtpParameters otp_parameters = 1;
//	  int32 version = 2; int32 batch_size = 3; int32 batch_index = 4; int32 batch_id = 5;
//	}
//	message OtpParameters {
//	  bytes secret = 1; string name = 2; string issuer = 3;
//	  Algorithm algorithm = 4;  // 0 unspecified, 1 SHA1, 2 SHA256, 3 SHA512, 4 MD5
//	  DigitCount digits = 5;    // 0 unspecified, 1 six, 2 eight
//	  OtpType type = 6;         // 0 unspecified, 1 HOTP, 2 TOTP
//	  int64 counter = 7;
//	}
//
// The message is read with protowire, field by field, so that nothing but
// these fields is trusted and every malformed byte is an error rather than
// a guess.

// Sources of an [Import].
const (
	SourceGoogle  = "Google Authenticator"
	SourceAegis   = "Aegis"
	SourceURIList = "otpauth URI list"
)

// Import is what an export from another authenticator holds: the accounts
// that can be added, and those that cannot, with why. Nothing is added
// until the person has seen it.
type Import struct {
	Source   string
	Accounts []*OTPAuth
	Skipped  []Skipped
	// BatchIndex and BatchSize number the QR codes of a Google export that
	// did not fit one (0-based index); BatchSize is 0 or 1 otherwise.
	BatchIndex, BatchSize int
}

// Skipped is an entry of an export that will not be imported.
type Skipped struct {
	Label  string // "Issuer:name" as the export names it
	Reason string
}

// maxImportEntries bounds one export: far beyond any real one, small
// enough that a hostile file cannot make the preview unusable.
const maxImportEntries = 1000

// maxMigrationURILen bounds a migration link. A QR code holds at most
// about 4.3 KB of text; exports typed or pasted by tools can be longer.
const maxMigrationURILen = 64 << 10

// The protobuf field numbers of the migration payload.
const (
	migPayloadOTP        = 1
	migPayloadVersion    = 2
	migPayloadBatchSize  = 3
	migPayloadBatchIndex = 4
	migPayloadBatchID    = 5

	migOTPSecret    = 1
	migOTPName      = 2
	migOTPIssuer    = 3
	migOTPAlgorithm = 4
	migOTPDigits    = 5
	migOTPType      = 6
	migOTPCounter   = 7
)

// errMigration prefixes every problem with a migration link.
func errMigration(format string, args ...any) error {
	return fmt.Errorf("Google Authenticator export: "+format, args...)
}

// ParseMigration reads a Google Authenticator export link
// (otpauth-migration://offline?data=…). Accounts Assent cannot use (MD5,
// unknown types, secrets out of range) are listed in Skipped with the
// reason; a link that is not well formed is an error.
func ParseMigration(s string) (*Import, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxMigrationURILen {
		return nil, errMigration("link is %d bytes long: want at most %d", len(s), maxMigrationURILen)
	}
	u, ok := splitURI(s)
	if !ok || u.scheme != "otpauth-migration" || !u.slashes {
		return nil, errors.New("not a Google Authenticator export: want otpauth-migration://offline?data=...")
	}
	if !strings.EqualFold(u.authority, "offline") {
		return nil, errMigration("is otpauth-migration://%s: want otpauth-migration://offline?data=...", quoteShort(u.authority))
	}
	var data []string
	for part := range strings.SplitSeq(u.query, "&") {
		if k, v, _ := strings.Cut(part, "="); k == "data" {
			data = append(data, v)
		}
	}
	switch len(data) {
	case 0:
		return nil, errMigration("the data parameter is missing")
	case 1:
	default:
		return nil, errMigration("the data parameter appears %d times: want it once", len(data))
	}
	// PathUnescape, not QueryUnescape: a '+' that was not escaped is part
	// of the base64, not a space.
	raw, err := url.PathUnescape(data[0])
	if err != nil {
		return nil, errMigration("the data parameter has invalid percent-encoding")
	}
	payload, err := decodeBase64Any(raw)
	if err != nil {
		return nil, errMigration("the data parameter is not base64: %v", err)
	}
	return decodeMigrationPayload(payload)
}

// decodeBase64Any accepts the base64 variants exports are seen with:
// standard or URL alphabet, padded or not, with spaces from line breaks.
func decodeBase64Any(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\n', '\r', '\t':
			return -1
		case '-':
			return '+'
		case '_':
			return '/'
		}
		return r
	}, s)
	return base64.RawStdEncoding.Strict().DecodeString(strings.TrimRight(s, "="))
}

func decodeMigrationPayload(b []byte) (*Import, error) {
	imp := &Import{Source: SourceGoogle}
	version := int64(-1)
	var entries [][]byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, errMigration("damaged data: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case num == migPayloadOTP && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, errMigration("damaged account entry: %v", protowire.ParseError(n))
			}
			if len(entries) == maxImportEntries {
				return nil, errMigration("holds more than %d accounts", maxImportEntries)
			}
			entries = append(entries, v)
			b = b[n:]
		case (num == migPayloadVersion || num == migPayloadBatchSize || num == migPayloadBatchIndex || num == migPayloadBatchID) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, errMigration("damaged data: %v", protowire.ParseError(n))
			}
			b = b[n:]
			// int32 fields: negative values arrive as ten-byte varints.
			iv := int64(int32(v))
			switch num {
			case migPayloadVersion:
				version = iv
			case migPayloadBatchSize:
				imp.BatchSize = int(iv)
			case migPayloadBatchIndex:
				imp.BatchIndex = int(iv)
			}
		default:
			// Unknown fields (and known ones with an unexpected wire type,
			// which a later version may have redefined) are skipped whole.
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, errMigration("damaged data: %v", protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if version > 1 {
		return nil, errMigration("format version %d is newer than Assent understands (1)", version)
	}
	if imp.BatchSize < 0 || imp.BatchIndex < 0 || imp.BatchIndex >= max(imp.BatchSize, 1) {
		return nil, errMigration("batch %d of %d makes no sense", imp.BatchIndex, imp.BatchSize)
	}
	for i, e := range entries {
		o, label, err := decodeMigrationOTP(e)
		if err != nil {
			if label == unnamed {
				// Nothing to show from the entry itself: say which one
				// it is, as a person counts.
				label = fmt.Sprintf("entry %d", i+1)
			}
			imp.Skipped = append(imp.Skipped, Skipped{Label: label, Reason: err.Error()})
			continue
		}
		imp.Accounts = append(imp.Accounts, o)
	}
	if len(imp.Accounts) == 0 && len(imp.Skipped) == 0 {
		return nil, errMigration("holds no accounts")
	}
	return imp, nil
}

// decodeMigrationOTP reads one OtpParameters message. label names the
// entry for a person even when the entry cannot be used.
func decodeMigrationOTP(b []byte) (o *OTPAuth, label string, err error) {
	var (
		secret       []byte
		name, issuer string
		alg, digits  uint64
		typ, counter uint64
	)
	for len(b) > 0 {
		num, wt, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, labelOf(issuer, name), fmt.Errorf("damaged entry: %v", protowire.ParseError(n))
		}
		b = b[n:]
		switch {
		case (num == migOTPSecret || num == migOTPName || num == migOTPIssuer) && wt == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, labelOf(issuer, name), fmt.Errorf("damaged entry: %v", protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case migOTPSecret:
				secret = append([]byte(nil), v...)
			case migOTPName:
				name = string(v)
			case migOTPIssuer:
				issuer = string(v)
			}
		case num >= migOTPAlgorithm && num <= migOTPCounter && wt == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return nil, labelOf(issuer, name), fmt.Errorf("damaged entry: %v", protowire.ParseError(n))
			}
			b = b[n:]
			switch num {
			case migOTPAlgorithm:
				alg = v
			case migOTPDigits:
				digits = v
			case migOTPType:
				typ = v
			case migOTPCounter:
				counter = v
			}
		default:
			n := protowire.ConsumeFieldValue(num, wt, b)
			if n < 0 {
				return nil, labelOf(issuer, name), fmt.Errorf("damaged entry: %v", protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	label = labelOf(issuer, name)
	o = &OTPAuth{Secret: secret, Period: defaultPeriod}
	switch typ {
	case 0, 2: // unspecified means TOTP, as in Google Authenticator
		o.Type = "totp"
	case 1:
		o.Type, o.Period = "hotp", 0
		if int64(counter) < 0 {
			return nil, label, errors.New("the HOTP counter is negative")
		}
		o.Counter = counter
	default:
		return nil, label, fmt.Errorf("unknown code type %d", typ)
	}
	switch alg {
	case 0, 1:
		o.Algorithm = "SHA1"
	case 2:
		o.Algorithm = "SHA256"
	case 3:
		o.Algorithm = "SHA512"
	case 4:
		return nil, label, errors.New("MD5 codes are not supported")
	default:
		return nil, label, fmt.Errorf("unknown algorithm %d", alg)
	}
	switch digits {
	case 0, 1:
		o.Digits = 6
	case 2:
		o.Digits = 8
	default:
		return nil, label, fmt.Errorf("unknown digit count %d", digits)
	}
	o.Issuer, o.Account = splitLabel(issuer, name)
	if len(o.Secret) < minSecretBytes || len(o.Secret) > maxSecretBytes {
		return nil, label, fmt.Errorf("the secret is %d bytes: want %d to %d", len(o.Secret), minSecretBytes, maxSecretBytes)
	}
	if err := o.validate(); err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, label, fmt.Errorf("%s %s", fe.Field, fe.Problem)
		}
		return nil, label, err
	}
	return o, label, nil
}

// splitLabel turns an export's issuer and name into Assent's: a name of
// "Issuer:account" loses the prefix when it repeats the issuer, and gives
// the issuer when there is none.
func splitLabel(issuer, name string) (string, string) {
	name = strings.TrimSpace(name)
	issuer = strings.TrimSpace(issuer)
	if prefix, rest, ok := strings.Cut(name, ":"); ok {
		prefix = strings.TrimSpace(prefix)
		if issuer == "" || strings.EqualFold(prefix, issuer) {
			if issuer == "" {
				issuer = prefix
			}
			name = strings.TrimSpace(rest)
		}
	}
	if name == "" {
		// Some exports carry only an issuer; the account still needs a name.
		name = issuer
	}
	return issuer, name
}

// unnamed is the label of an entry with no name or issuer to show.
const unnamed = "(unnamed)"

// labelOf names an entry for a person; never "", even when nothing of the
// name and issuer is printable.
func labelOf(issuer, name string) string {
	var l string
	switch {
	case issuer == "":
		l = name
	case name == "" || strings.HasPrefix(name, issuer+":"):
		l = name
		if l == "" {
			l = issuer
		}
	default:
		l = issuer + ":" + name
	}
	if l = displaySafe(l); l == "" {
		return unnamed
	}
	return l
}

// displaySafe cuts a name from an export to a printable length for the
// preview: what cannot be imported is still named, but never lets a
// hostile export draw control characters or pages of text.
func displaySafe(s string) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if isDisplayControl(r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 80 {
		s = string(r[:80]) + "…"
	}
	return s
}

// EncodeMigration writes accounts as one Google Authenticator export link,
// the format Google Authenticator and other apps import. Assent uses it in
// tests and to move accounts out; TOTP periods other than 30 seconds have
// no field in the format and are refused.
func EncodeMigration(accounts []*OTPAuth) (string, error) {
	var b []byte
	for _, o := range accounts {
		if o.Type == TypeSteam {
			return "", fmt.Errorf("%s: Steam accounts cannot be written to a Google Authenticator export", o.label())
		}
		if o.Digits != 0 && o.Digits != 6 && o.Digits != 8 {
			return "", fmt.Errorf("%s: %d-digit codes cannot be written to a Google Authenticator export (6 or 8 only)", o.label(), o.Digits)
		}
		if o.Type == "totp" && o.Period != 0 && o.Period != defaultPeriod {
			return "", fmt.Errorf("%s: a %d-second period cannot be written to a Google Authenticator export", o.label(), o.Period)
		}
		var e []byte
		e = protowire.AppendTag(e, migOTPSecret, protowire.BytesType)
		e = protowire.AppendBytes(e, o.Secret)
		e = protowire.AppendTag(e, migOTPName, protowire.BytesType)
		e = protowire.AppendString(e, o.label())
		if o.Issuer != "" {
			e = protowire.AppendTag(e, migOTPIssuer, protowire.BytesType)
			e = protowire.AppendString(e, o.Issuer)
		}
		alg := map[string]uint64{"": 1, "SHA1": 1, "SHA256": 2, "SHA512": 3}[o.Algorithm]
		if alg == 0 {
			return "", fmt.Errorf("%s: algorithm %q has no Google Authenticator equivalent", o.label(), o.Algorithm)
		}
		e = protowire.AppendTag(e, migOTPAlgorithm, protowire.VarintType)
		e = protowire.AppendVarint(e, alg)
		digits := uint64(1)
		if o.Digits == 8 {
			digits = 2
		}
		e = protowire.AppendTag(e, migOTPDigits, protowire.VarintType)
		e = protowire.AppendVarint(e, digits)
		typ := uint64(2)
		if o.Type == "hotp" {
			typ = 1
		}
		e = protowire.AppendTag(e, migOTPType, protowire.VarintType)
		e = protowire.AppendVarint(e, typ)
		if o.Type == "hotp" {
			e = protowire.AppendTag(e, migOTPCounter, protowire.VarintType)
			e = protowire.AppendVarint(e, o.Counter)
		}
		b = protowire.AppendTag(b, migPayloadOTP, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	for _, f := range []struct {
		num protowire.Number
		v   uint64
	}{{migPayloadVersion, 1}, {migPayloadBatchSize, 1}, {migPayloadBatchIndex, 0}} {
		b = protowire.AppendTag(b, f.num, protowire.VarintType)
		b = protowire.AppendVarint(b, f.v)
	}
	return "otpauth-migration://offline?data=" + url.QueryEscape(base64.StdEncoding.EncodeToString(b)), nil
}

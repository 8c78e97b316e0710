package enroll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// More sources of an [Import]: the authenticators whose plain-file exports
// Assent reads, besides Google Authenticator and Aegis.
const (
	Source2FAS        = "2FAS"
	SourceAndOTP      = "andOTP"
	SourceFreeOTPPlus = "FreeOTP+"
	SourceBitwarden   = "Bitwarden"
)

// maxExportBytes bounds any export file. Entries may carry icons, so real
// files reach megabytes; tens of them do not.
const maxExportBytes = maxAegisBytes

// ErrPasswordNeeded matches (errors.Is) the error for an encrypted export
// read without a password: ask for it and read the export again with
// [ParseImportPassword]. ErrWrongPassword matches the error for a password
// that does not open it. Both come as a [*PasswordError] naming the source.
var (
	ErrPasswordNeeded = errors.New("this export is encrypted: enter the password it was exported with")
	ErrWrongPassword  = errors.New("the password is wrong: it did not open the export")
)

// ErrEncryptedExport is the old name of [ErrPasswordNeeded].
var ErrEncryptedExport = ErrPasswordNeeded

// PasswordError says an export is encrypted and the password was missing
// or wrong.
type PasswordError struct {
	Source string // "Aegis", "2FAS"
	Wrong  bool   // a password was given and did not open the export
}

func (e *PasswordError) Error() string {
	if e.Wrong {
		return fmt.Sprintf("wrong password for this %s export: enter the password set when the export was made", e.Source)
	}
	return fmt.Sprintf("this %s export is encrypted: enter the password set when the export was made", e.Source)
}

// Is makes errors.Is(err, ErrPasswordNeeded) and errors.Is(err,
// ErrWrongPassword) work.
func (e *PasswordError) Is(target error) bool {
	return target == ErrPasswordNeeded && !e.Wrong || target == ErrWrongPassword && e.Wrong
}

// ParseImport reads any export Assent imports, by its content: a Google
// Authenticator link, a JSON export of Aegis, 2FAS, andOTP, FreeOTP+ or
// Bitwarden, Bitwarden's CSV, or a list of otpauth:// URIs. An encrypted
// export gives a [*PasswordError] (errors.Is ErrPasswordNeeded).
func ParseImport(data []byte) (*Import, error) { return ParseImportPassword(data, "") }

// ParseImportPassword is [ParseImport] for an export that may be
// encrypted (Aegis, 2FAS): password opens it. "" is no password. An
// unencrypted export ignores the password.
func ParseImportPassword(data []byte, password string) (*Import, error) {
	if len(data) > maxExportBytes {
		return nil, fmt.Errorf("the export is %d MiB: want at most %d MiB", len(data)>>20, maxExportBytes>>20)
	}
	t := bytes.TrimSpace(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))) // a BOM, from Windows editors
	switch {
	case len(t) == 0:
		return nil, errors.New("nothing to import: the input is empty")
	case hasPrefixFold(t, "otpauth-migration:"):
		return ParseMigration(string(t))
	case t[0] == '{':
		return parseJSONExport(t, password)
	case t[0] == '[':
		return ParseAndOTP(t)
	case hasPrefixFold(firstLine(t), "otpauth:"):
		return ParseURIList(t)
	case isBitwardenCSV(t):
		return ParseBitwardenCSV(t)
	}
	return nil, ErrNotAnExport
}

// ErrNotAnExport is ParseImport's error for input in none of the formats
// it reads.
var ErrNotAnExport = errors.New("not an export Assent reads: want an export of Google Authenticator (otpauth-migration://), Aegis, 2FAS, andOTP, FreeOTP+ or Bitwarden, or otpauth:// URIs one a line")

// parseJSONExport tells the JSON exports apart by their top-level keys.
func parseJSONExport(data []byte, password string) (*Import, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return nil, fmt.Errorf("the export is not valid JSON: %w", err)
	}
	has := func(k string) bool { _, ok := top[k]; return ok }
	switch {
	case has("db"):
		return ParseAegisPassword(data, password)
	case has("services") || has("servicesEncrypted"):
		return Parse2FASPassword(data, password)
	case has("tokens"):
		return ParseFreeOTPPlus(data)
	case has("items") || has("encrypted"):
		return ParseBitwardenJSON(data)
	}
	return nil, errors.New("a JSON file Assent does not recognise: want an export of Aegis, 2FAS, andOTP, FreeOTP+ or Bitwarden")
}

// jsonEntries splits a JSON array into its elements, so that one damaged
// entry is skipped with its number instead of failing the whole file.
func jsonEntries(what string, raw json.RawMessage) ([]json.RawMessage, error) {
	var entries []json.RawMessage
	n, err := eachJSONEntry(raw, func(e json.RawMessage) {
		if len(entries) <= maxImportEntries {
			entries = append(entries, e)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("the %s list is damaged: %w", what, err)
	}
	if n > maxImportEntries {
		return nil, fmt.Errorf("the export holds %d entries: want at most %d", n, maxImportEntries)
	}
	return entries, nil
}

// eachJSONEntry calls f with each element of the JSON array raw, in turn,
// and returns how many there were. It checks raw with json.Valid and then
// cuts the elements out of it in place: a file of millions of tiny
// elements ("[0,0,0,...]") costs nothing per element, where decoding it
// into a slice costs a header and a copy each — gigabytes for 32 MiB.
func eachJSONEntry(raw json.RawMessage, f func(json.RawMessage)) (int, error) {
	const space = " \t\r\n" // JSON's white space, no more
	t := bytes.Trim(raw, space)
	if !json.Valid(t) || len(t) == 0 || t[0] != '[' {
		// Not an array: json.Unmarshal words the error as before.
		var entries []json.RawMessage
		if err := json.Unmarshal(raw, &entries); err != nil {
			return 0, err
		}
		return 0, nil // null: no entries
	}
	n, depth, start, inString, escaped := 0, 0, 1, false, false
	for i := 1; i < len(t); i++ {
		c := t[i]
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
		case depth > 0 && (c == ']' || c == '}'):
			depth--
		case depth == 0 && (c == ',' || c == ']'):
			if e := bytes.Trim(t[start:i], space); len(e) > 0 {
				n++
				f(json.RawMessage(e))
			}
			start = i + 1
		}
	}
	return n, nil
}

// entryLabel names entry i (0-based) of an export for a person: its issuer
// and name, or its number when it has neither.
func entryLabel(i int, issuer, name string) string {
	if l := labelOf(issuer, name); l != unnamed {
		return l
	}
	return fmt.Sprintf("entry %d", i+1)
}

// damaged is the reason for an entry that is not what its format says.
func damaged(err error) string {
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field != "":
		return fmt.Sprintf("the entry is damaged: %s is a JSON %s, want %s", te.Field, te.Value, te.Type)
	case te != nil:
		return fmt.Sprintf("the entry is damaged: it is a JSON %s, want an object", te.Value)
	}
	return "the entry is damaged: " + err.Error()
}

// add records one entry: the account, or why it is skipped.
func (imp *Import) add(label string, o *OTPAuth, err error) {
	if err != nil {
		imp.Skipped = append(imp.Skipped, Skipped{Label: label, Reason: problemOf(err).Error()})
		return
	}
	imp.Accounts = append(imp.Accounts, o)
}

// finish checks that an export held something at all.
func (imp *Import) finish() (*Import, error) {
	if len(imp.Accounts) == 0 && len(imp.Skipped) == 0 {
		return nil, fmt.Errorf("the %s export holds no accounts", imp.Source)
	}
	return imp, nil
}

// exportEntry is an entry of any export, as the exports spell it, before it
// is checked.
type exportEntry struct {
	Type      string // totp, hotp, steam in any case; "" is totp
	Issuer    string
	Name      string
	Secret    string // base32
	Algorithm string // "" is SHA1
	Digits    int    // 0 is the default (6; 5 for Steam)
	Period    int    // 0 is 30
	Counter   uint64
}

// otpAuth checks an entry like a scanned URI and fills in the defaults.
func (e exportEntry) otpAuth() (*OTPAuth, error) {
	o := &OTPAuth{Type: strings.ToLower(strings.TrimSpace(e.Type)), Algorithm: strings.ToUpper(strings.TrimSpace(e.Algorithm)), Digits: e.Digits}
	switch o.Type {
	case "", TypeTOTP:
		o.Type = TypeTOTP
		o.Period = e.Period
	case TypeSteam:
		o.Period = e.Period
		if o.Digits == 0 {
			o.Digits = steamDigits
		}
	case TypeHOTP:
		o.Counter = e.Counter
	case "motp", "yandex":
		return nil, fmt.Errorf("%s codes are not supported", strings.ToLower(e.Type))
	default:
		return nil, fmt.Errorf("unknown code type %s", quoteShort(e.Type))
	}
	if o.IsTimeBased() && o.Period == 0 {
		o.Period = defaultPeriod
	}
	if o.Algorithm == "" {
		o.Algorithm = defaultAlgorithm
	}
	// Some exports write "SHA-256".
	o.Algorithm = strings.ReplaceAll(o.Algorithm, "-", "")
	if o.Digits == 0 {
		o.Digits = defaultDigits
	}
	secret, err := decodeSecret(e.Secret)
	if err != nil {
		return nil, err
	}
	o.Secret = secret
	o.Issuer, o.Account = splitLabel(e.Issuer, e.Name)
	if err := o.validate(); err != nil {
		return nil, err
	}
	return o, nil
}

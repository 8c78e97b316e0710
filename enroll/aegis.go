package enroll

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Aegis (the Android authenticator) exports its vault as JSON:
//
//	{"version": 1,
//	 "header": {"slots": null, "params": null},
//	 "db": {"version": 3, "entries": [
//	   {"type": "totp", "name": "alice@example.com", "issuer": "Example",
//	    "info": {"secret": "JBSWY3DPEHPK3PXP", "algo": "SHA1", "digits": 6, "period": 30}}]}}
//
// An encrypted export has key slots in the header and db as a base64
// string; Assent reads only plain exports and says so.

// maxAegisBytes bounds an export file. Entries may carry icons, so real
// files reach megabytes; tens of them do not.
const maxAegisBytes = 32 << 20

type aegisFile struct {
	Version *int `json:"version"`
	Header  struct {
		Slots json.RawMessage `json:"slots"`
	} `json:"header"`
	DB json.RawMessage `json:"db"`
}

type aegisDB struct {
	Version int          `json:"version"`
	Entries []aegisEntry `json:"entries"`
}

type aegisEntry struct {
	Type   string `json:"type"`
	Name   string `json:"name"`
	Issuer string `json:"issuer"`
	Info   struct {
		Secret  string `json:"secret"`
		Algo    string `json:"algo"`
		Digits  int    `json:"digits"`
		Period  int    `json:"period"`
		Counter uint64 `json:"counter"`
	} `json:"info"`
}

// ErrEncryptedExport means an Aegis export is encrypted.
var ErrEncryptedExport = errors.New("this Aegis export is encrypted: in Aegis, export again without encryption (plain JSON), import that file, then delete it")

// ParseAegis reads a plain (unencrypted) Aegis JSON export. Entries Assent
// cannot use (Steam, mOTP, Yandex, bad secrets) are listed in Skipped.
func ParseAegis(data []byte) (*Import, error) {
	if len(data) > maxAegisBytes {
		return nil, fmt.Errorf("Aegis export is %d MiB: want at most %d MiB", len(data)>>20, maxAegisBytes>>20)
	}
	var f aegisFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not an Aegis export: %w", err)
	}
	if f.Version == nil || len(f.DB) == 0 {
		return nil, errors.New("not an Aegis export: want a JSON object with version, header and db")
	}
	if *f.Version != 1 {
		return nil, fmt.Errorf("Aegis export version %d is not one Assent reads (1)", *f.Version)
	}
	if s := bytes.TrimSpace(f.Header.Slots); len(s) > 0 && !bytes.Equal(s, []byte("null")) && !bytes.Equal(s, []byte("[]")) {
		return nil, ErrEncryptedExport
	}
	if bytes.HasPrefix(bytes.TrimSpace(f.DB), []byte(`"`)) {
		return nil, ErrEncryptedExport
	}
	var db aegisDB
	if err := json.Unmarshal(f.DB, &db); err != nil {
		return nil, fmt.Errorf("Aegis export: the db is damaged: %w", err)
	}
	if db.Version < 1 || db.Version > 3 {
		return nil, fmt.Errorf("Aegis export: database version %d is not one Assent reads (1 to 3)", db.Version)
	}
	if len(db.Entries) > maxImportEntries {
		return nil, fmt.Errorf("Aegis export holds %d entries: want at most %d", len(db.Entries), maxImportEntries)
	}
	imp := &Import{Source: SourceAegis}
	for _, e := range db.Entries {
		o, err := e.otpAuth()
		if err != nil {
			imp.Skipped = append(imp.Skipped, Skipped{Label: labelOf(e.Issuer, e.Name), Reason: err.Error()})
			continue
		}
		imp.Accounts = append(imp.Accounts, o)
	}
	if len(imp.Accounts) == 0 && len(imp.Skipped) == 0 {
		return nil, errors.New("Aegis export holds no entries")
	}
	return imp, nil
}

func (e aegisEntry) otpAuth() (*OTPAuth, error) {
	o := &OTPAuth{Type: strings.ToLower(e.Type), Algorithm: strings.ToUpper(e.Info.Algo), Digits: e.Info.Digits}
	switch o.Type {
	case "totp":
		o.Period = e.Info.Period
		if o.Period == 0 {
			o.Period = defaultPeriod
		}
	case "hotp":
		o.Counter = e.Info.Counter
	case "steam", "motp", "yandex":
		return nil, fmt.Errorf("%s codes are not supported", e.Type)
	default:
		return nil, fmt.Errorf("unknown code type %s", quoteShort(e.Type))
	}
	if o.Algorithm == "" {
		o.Algorithm = defaultAlgorithm
	}
	if o.Digits == 0 {
		o.Digits = defaultDigits
	}
	secret, err := decodeSecret(e.Info.Secret)
	if err != nil {
		return nil, problemOf(err)
	}
	o.Secret = secret
	o.Issuer, o.Account = splitLabel(e.Issuer, e.Name)
	if err := o.validate(); err != nil {
		return nil, problemOf(err)
	}
	return o, nil
}

// problemOf shortens a FieldError for a preview line: the entry is already
// named there.
func problemOf(err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("%s %s", fe.Field, fe.Problem)
	}
	return err
}

// ParseURIList reads a text file of otpauth:// URIs, one a line (Aegis's
// and other apps' "plain text" export). Blank lines and lines starting
// with # are ignored; a line that does not parse is skipped with why.
func ParseURIList(data []byte) (*Import, error) {
	if len(data) > maxAegisBytes {
		return nil, fmt.Errorf("list is %d MiB: want at most %d MiB", len(data)>>20, maxAegisBytes>>20)
	}
	imp := &Import{Source: SourceURIList}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if len(imp.Accounts)+len(imp.Skipped) == maxImportEntries {
			return nil, fmt.Errorf("list holds more than %d entries", maxImportEntries)
		}
		o, err := ParseOTPAuth(line)
		if err != nil {
			imp.Skipped = append(imp.Skipped, Skipped{Label: fmt.Sprintf("line %d", i+1), Reason: err.Error()})
			continue
		}
		imp.Accounts = append(imp.Accounts, o)
	}
	if len(imp.Accounts) == 0 && len(imp.Skipped) == 0 {
		return nil, errors.New("the list holds no otpauth:// URIs")
	}
	return imp, nil
}

// ParseImport reads any export Assent imports, by its content: a Google
// Authenticator link, an Aegis JSON export, or a list of otpauth:// URIs.
func ParseImport(data []byte) (*Import, error) {
	t := bytes.TrimSpace(data)
	switch {
	case len(t) == 0:
		return nil, errors.New("nothing to import: the input is empty")
	case hasPrefixFold(t, "otpauth-migration:"):
		return ParseMigration(string(t))
	case t[0] == '{':
		return ParseAegis(t)
	case hasPrefixFold(firstLine(t), "otpauth:"):
		return ParseURIList(t)
	}
	return nil, errors.New("not an export Assent reads: want a Google Authenticator export (otpauth-migration://), an Aegis plain JSON export, or otpauth:// URIs one a line")
}

// firstLine is the first line that is neither blank nor a # comment.
func firstLine(b []byte) []byte {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		if line = bytes.TrimSpace(line); len(line) > 0 && line[0] != '#' {
			return line
		}
		b = rest
	}
	return nil
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && strings.EqualFold(string(b[:len(prefix)]), prefix)
}

// Label is how an imported account is named in a preview.
func (o *OTPAuth) Label() string { return o.label() }

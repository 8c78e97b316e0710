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
// string: see aegis_encrypted.go. The format is described in Aegis's
// docs/vault.md.

// maxAegisBytes bounds an export file. Entries may carry icons, so real
// files reach megabytes; tens of them do not.
const maxAegisBytes = 32 << 20

type aegisFile struct {
	Version *int `json:"version"`
	Header  struct {
		Slots  json.RawMessage `json:"slots"`
		Params json.RawMessage `json:"params"`
	} `json:"header"`
	DB json.RawMessage `json:"db"`
}

type aegisDB struct {
	Version int             `json:"version"`
	Entries json.RawMessage `json:"entries"`
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

// ParseAegis reads a plain Aegis JSON export; an encrypted one gives a
// [*PasswordError] (see [ParseAegisPassword]). Entries Assent cannot use
// (mOTP, Yandex, bad secrets) are listed in Skipped.
func ParseAegis(data []byte) (*Import, error) { return ParseAegisPassword(data, "") }

// ParseAegisPassword reads an Aegis JSON export, plain or encrypted with
// password.
func ParseAegisPassword(data []byte, password string) (*Import, error) {
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
	db := f.DB
	if isJSONString(f.DB) || !isNullOrEmpty(f.Header.Slots) {
		if password == "" {
			return nil, &PasswordError{Source: SourceAegis}
		}
		plain, err := decryptAegis(&f, password)
		if err != nil {
			return nil, err
		}
		db = plain
	}
	return parseAegisDB(db)
}

func isJSONString(b json.RawMessage) bool { return bytes.HasPrefix(bytes.TrimSpace(b), []byte(`"`)) }

func isNullOrEmpty(b json.RawMessage) bool {
	s := bytes.TrimSpace(b)
	return len(s) == 0 || bytes.Equal(s, []byte("null")) || bytes.Equal(s, []byte("[]"))
}

func parseAegisDB(raw []byte) (*Import, error) {
	var db aegisDB
	if err := json.Unmarshal(raw, &db); err != nil {
		return nil, fmt.Errorf("Aegis export: the db is damaged: %w", err)
	}
	if db.Version < 1 || db.Version > 3 {
		return nil, fmt.Errorf("Aegis export: database version %d is not one Assent reads (1 to 3)", db.Version)
	}
	entries, err := jsonEntries("Aegis entry", db.Entries)
	if err != nil {
		return nil, fmt.Errorf("Aegis export: %w", err)
	}
	imp := &Import{Source: SourceAegis}
	for i, raw := range entries {
		var e aegisEntry
		if err := json.Unmarshal(raw, &e); err != nil {
			imp.Skipped = append(imp.Skipped, Skipped{Label: entryLabel(i, e.Issuer, e.Name), Reason: damaged(err)})
			continue
		}
		o, err := exportEntry{
			Type: e.Type, Issuer: e.Issuer, Name: e.Name, Secret: e.Info.Secret, Algorithm: e.Info.Algo,
			Digits: e.Info.Digits, Period: e.Info.Period, Counter: e.Info.Counter,
		}.otpAuth()
		imp.add(entryLabel(i, e.Issuer, e.Name), o, err)
	}
	if len(imp.Accounts) == 0 && len(imp.Skipped) == 0 {
		return nil, errors.New("Aegis export holds no entries")
	}
	return imp, nil
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

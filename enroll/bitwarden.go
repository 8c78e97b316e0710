package enroll

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bitwarden exports a vault as JSON ({"encrypted": false, "items": [...]},
// each login item with login.totp) or as CSV with a login_totp column. The
// TOTP field holds an otpauth:// URI, "steam://SECRET", or a bare base32
// secret (TOTP, SHA1, 6 digits, 30 s). Items without one are passwords,
// not authenticator entries, and are left out without a word. Bitwarden's
// own encrypted exports ("encrypted": true) are not read.

type bitwardenFile struct {
	Encrypted *bool           `json:"encrypted"`
	Items     json.RawMessage `json:"items"`
}

type bitwardenItem struct {
	Name  string `json:"name"`
	Login *struct {
		Username *string `json:"username"`
		TOTP     *string `json:"totp"`
	} `json:"login"`
}

// ParseBitwardenJSON reads an unencrypted Bitwarden JSON export.
func ParseBitwardenJSON(data []byte) (*Import, error) {
	if len(data) > maxExportBytes {
		return nil, fmt.Errorf("Bitwarden export is %d MiB: want at most %d MiB", len(data)>>20, maxExportBytes>>20)
	}
	var f bitwardenFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a Bitwarden export: %w", err)
	}
	if f.Encrypted != nil && *f.Encrypted {
		return nil, errors.New("this Bitwarden export is encrypted: in Bitwarden, export the vault again as .json (not encrypted), import that file, then delete it")
	}
	if len(f.Items) == 0 {
		return nil, errors.New("not a Bitwarden export: want a JSON object with items")
	}
	// A password vault may be large; only items with a TOTP count towards
	// the bound on accounts. The items are read one at a time, not into
	// a slice: a vault of millions of tiny items costs no more than its size.
	imp := &Import{Source: SourceBitwarden}
	i := -1
	tooMany := false
	if _, err := eachJSONEntry(f.Items, func(raw json.RawMessage) {
		i++
		if tooMany {
			return
		}
		var it bitwardenItem
		if err := json.Unmarshal(raw, &it); err != nil {
			imp.Skipped = append(imp.Skipped, Skipped{Label: entryLabel(i, "", it.Name), Reason: damaged(err)})
		} else if it.Login != nil && it.Login.TOTP != nil && strings.TrimSpace(*it.Login.TOTP) != "" {
			user := ""
			if it.Login.Username != nil {
				user = *it.Login.Username
			}
			o, err := bitwardenTOTP(it.Name, user, *it.Login.TOTP)
			imp.add(entryLabel(i, it.Name, user), o, err)
		}
		tooMany = len(imp.Accounts)+len(imp.Skipped) > maxImportEntries
	}); err != nil {
		return nil, fmt.Errorf("Bitwarden export: the items list is damaged: %w", err)
	}
	if tooMany {
		return nil, fmt.Errorf("Bitwarden export holds more than %d TOTP entries", maxImportEntries)
	}
	return bitwardenFinish(imp)
}

// bitwardenFinish says so when a vault has no TOTP at all: a password
// vault is not empty just because no item has a TOTP key.
func bitwardenFinish(imp *Import) (*Import, error) {
	if len(imp.Accounts) == 0 && len(imp.Skipped) == 0 {
		return nil, errors.New("the Bitwarden export has no item with a TOTP key (Authenticator key) to import")
	}
	return imp, nil
}

// isBitwardenCSV says whether data starts with the header of Bitwarden's
// CSV export.
func isBitwardenCSV(data []byte) bool {
	line, _, _ := bytes.Cut(data, []byte("\n"))
	cols := strings.Split(strings.TrimSpace(string(line)), ",")
	var name, totp bool
	for _, c := range cols {
		switch strings.TrimSpace(c) {
		case "name":
			name = true
		case "login_totp":
			totp = true
		}
	}
	return name && totp
}

// ParseBitwardenCSV reads Bitwarden's CSV export.
func ParseBitwardenCSV(data []byte) (*Import, error) {
	if len(data) > maxExportBytes {
		return nil, fmt.Errorf("Bitwarden export is %d MiB: want at most %d MiB", len(data)>>20, maxExportBytes>>20)
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("not a Bitwarden CSV export: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	nameCol, ok1 := col["name"]
	totpCol, ok2 := col["login_totp"]
	if !ok1 || !ok2 {
		return nil, errors.New("not a Bitwarden CSV export: want a header with name and login_totp")
	}
	userCol, hasUser := col["login_username"]
	field := func(rec []string, i int) string {
		if i < len(rec) {
			return rec[i]
		}
		return ""
	}
	imp := &Import{Source: SourceBitwarden}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("Bitwarden CSV export: line %d is damaged: %v", pe.StartLine, pe.Err)
			}
			return nil, fmt.Errorf("Bitwarden CSV export: %w", err)
		}
		totp := strings.TrimSpace(field(rec, totpCol))
		if totp == "" {
			continue
		}
		name, user := field(rec, nameCol), ""
		if hasUser {
			user = field(rec, userCol)
		}
		label := labelOf(name, user)
		if label == unnamed {
			line, _ := r.FieldPos(0)
			label = fmt.Sprintf("line %d", line)
		}
		o, err := bitwardenTOTP(name, user, totp)
		imp.add(label, o, err)
		if len(imp.Accounts)+len(imp.Skipped) > maxImportEntries {
			return nil, fmt.Errorf("Bitwarden export holds more than %d TOTP entries", maxImportEntries)
		}
	}
	return bitwardenFinish(imp)
}

// bitwardenTOTP reads a Bitwarden TOTP field of the item called name.
func bitwardenTOTP(name, user, totp string) (*OTPAuth, error) {
	totp = strings.TrimSpace(totp)
	switch {
	case hasPrefixFold([]byte(totp), "otpauth:"):
		o, err := ParseOTPAuth(totp)
		if err != nil {
			return nil, err
		}
		if o.Issuer == "" && strings.TrimSpace(name) != "" && !strings.Contains(name, ":") {
			// The item's name says whose account it is better than nothing.
			o.Issuer = strings.TrimSpace(name)
			if err := o.validate(); err != nil {
				return nil, err
			}
		}
		return o, nil
	case hasPrefixFold([]byte(totp), "steam://"):
		return exportEntry{Type: TypeSteam, Issuer: name, Name: user, Secret: totp[len("steam://"):]}.otpAuth()
	}
	return exportEntry{Type: TypeTOTP, Issuer: name, Name: user, Secret: totp}.otpAuth()
}

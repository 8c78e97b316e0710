package enroll

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
)

// FreeOTP+ exports its tokens as JSON:
//
//	{"tokenOrder": ["Deno:Mason"], "tokens": [
//	  {"algo": "SHA1", "counter": 0, "digits": 6, "issuerExt": "Deno", "label": "Mason",
//	   "period": 30, "secret": [-28, -110, 112, ...], "type": "TOTP"}]}
//
// The secret is the key's bytes as Java's signed bytes. FreeOTP keeps an
// HOTP counter one behind the next code's (it stores counter-1 when it
// reads a URI and counts up before each code), so the next code is
// counter+1's.

type freeOTPFile struct {
	Tokens json.RawMessage `json:"tokens"`
}

type freeOTPToken struct {
	Algo      string `json:"algo"`
	Counter   int64  `json:"counter"`
	Digits    int    `json:"digits"`
	IssuerExt string `json:"issuerExt"`
	IssuerInt string `json:"issuerInt"`
	Label     string `json:"label"`
	Period    int    `json:"period"`
	Secret    []int  `json:"secret"`
	Type      string `json:"type"`
}

// ParseFreeOTPPlus reads a FreeOTP+ JSON export.
func ParseFreeOTPPlus(data []byte) (*Import, error) {
	if len(data) > maxExportBytes {
		return nil, fmt.Errorf("FreeOTP+ export is %d MiB: want at most %d MiB", len(data)>>20, maxExportBytes>>20)
	}
	var f freeOTPFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a FreeOTP+ export: %w", err)
	}
	if len(f.Tokens) == 0 {
		return nil, errors.New("not a FreeOTP+ export: want a JSON object with tokens")
	}
	entries, err := jsonEntries("FreeOTP+ token", f.Tokens)
	if err != nil {
		return nil, fmt.Errorf("FreeOTP+ export: %w", err)
	}
	imp := &Import{Source: SourceFreeOTPPlus}
	for i, raw := range entries {
		var t freeOTPToken
		err := json.Unmarshal(raw, &t)
		issuer := t.IssuerExt
		if issuer == "" {
			issuer = t.IssuerInt
		}
		label := entryLabel(i, issuer, t.Label)
		if err != nil {
			imp.Skipped = append(imp.Skipped, Skipped{Label: label, Reason: damaged(err)})
			continue
		}
		o, err := t.otpAuth(issuer)
		imp.add(label, o, err)
	}
	return imp.finish()
}

func (t freeOTPToken) otpAuth(issuer string) (*OTPAuth, error) {
	if len(t.Secret) > maxSecretBytes {
		return nil, fieldError(kindOTPAuth, "secret", "is %d bytes: want %d to %d bytes", len(t.Secret), minSecretBytes, maxSecretBytes)
	}
	secret := make([]byte, len(t.Secret))
	for i, v := range t.Secret {
		if v < math.MinInt8 || v > math.MaxUint8 {
			return nil, fieldError(kindOTPAuth, "secret", "holds %d: want bytes (-128 to 255)", v)
		}
		secret[i] = byte(v)
	}
	e := exportEntry{
		Type: t.Type, Issuer: issuer, Name: t.Label, Secret: b32.EncodeToString(secret), Algorithm: t.Algo,
		Digits: t.Digits, Period: t.Period,
	}
	if len(secret) == 0 {
		e.Secret = ""
	}
	if strings.EqualFold(strings.TrimSpace(e.Type), TypeHOTP) {
		if t.Counter < -1 || t.Counter == math.MaxInt64 {
			return nil, fieldError(kindOTPAuth, "counter", "is %d: want a whole number from -1 (FreeOTP's counter before the first code)", t.Counter)
		}
		e.Counter = uint64(t.Counter + 1)
	}
	return e.otpAuth()
}

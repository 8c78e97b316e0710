package enroll

import (
	"encoding/json"
	"fmt"
)

// andOTP's plain JSON backup is an array of entries:
//
//	[{"secret": "4SJHB4GSD43FZBAI7C2HLRJGPQ======", "issuer": "Deno", "label": "Mason",
//	  "digits": 6, "type": "TOTP", "algorithm": "SHA1", "period": 30, "counter": 0}]
//
// type is TOTP, HOTP, STEAM or MOTP. Its encrypted backups (.json.aes)
// are binary and not read.

type andOTPEntry struct {
	Secret    string `json:"secret"`
	Issuer    string `json:"issuer"`
	Label     string `json:"label"`
	Digits    int    `json:"digits"`
	Type      string `json:"type"`
	Algorithm string `json:"algorithm"`
	Period    int    `json:"period"`
	Counter   uint64 `json:"counter"`
}

// ParseAndOTP reads an andOTP plain JSON backup.
func ParseAndOTP(data []byte) (*Import, error) {
	if len(data) > maxExportBytes {
		return nil, fmt.Errorf("andOTP backup is %d MiB: want at most %d MiB", len(data)>>20, maxExportBytes>>20)
	}
	entries, err := jsonEntries("andOTP entry", data)
	if err != nil {
		return nil, fmt.Errorf("not an andOTP backup: %w", err)
	}
	imp := &Import{Source: SourceAndOTP}
	for i, raw := range entries {
		var e andOTPEntry
		err := json.Unmarshal(raw, &e)
		label := entryLabel(i, e.Issuer, e.Label)
		if err != nil {
			imp.Skipped = append(imp.Skipped, Skipped{Label: label, Reason: damaged(err)})
			continue
		}
		o, err := exportEntry{
			Type: e.Type, Issuer: e.Issuer, Name: e.Label, Secret: e.Secret, Algorithm: e.Algorithm,
			Digits: e.Digits, Period: e.Period, Counter: e.Counter,
		}.otpAuth()
		imp.add(label, o, err)
	}
	return imp.finish()
}

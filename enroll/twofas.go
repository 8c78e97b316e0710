package enroll

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// 2FAS Authenticator backups (.2fas, JSON):
//
//	{"schemaVersion": 4, "services": [
//	  {"name": "Deno", "secret": "4SJHB4GSD43FZBAI7C2HLRJGPQ",
//	   "otp": {"account": "Mason", "issuer": "Deno", "digits": 6, "period": 30,
//	           "algorithm": "SHA1", "tokenType": "TOTP", "counter": 0}}]}
//
// Schema 1 has no digits, period, algorithm or type: TOTP with the
// defaults. A backup with a password has "services": [] and
// "servicesEncrypted": "<ciphertext+tag>:<salt>:<iv>", each part base64:
// AES-256-GCM under PBKDF2-HMAC-SHA256(password, salt, 10000 rounds).

const twoFASIterations = 10000

type twoFASFile struct {
	SchemaVersion     int             `json:"schemaVersion"`
	Services          json.RawMessage `json:"services"`
	ServicesEncrypted string          `json:"servicesEncrypted"`
}

type twoFASService struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
	OTP    struct {
		Label     string `json:"label"`
		Account   string `json:"account"`
		Issuer    string `json:"issuer"`
		Digits    int    `json:"digits"`
		Period    int    `json:"period"`
		Algorithm string `json:"algorithm"`
		TokenType string `json:"tokenType"`
		Counter   uint64 `json:"counter"`
	} `json:"otp"`
}

// Parse2FAS reads a 2FAS backup without a password.
func Parse2FAS(data []byte) (*Import, error) { return Parse2FASPassword(data, "") }

// Parse2FASPassword reads a 2FAS backup, opening an encrypted one with
// password.
func Parse2FASPassword(data []byte, password string) (*Import, error) {
	if len(data) > maxExportBytes {
		return nil, fmt.Errorf("2FAS backup is %d MiB: want at most %d MiB", len(data)>>20, maxExportBytes>>20)
	}
	var f twoFASFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("not a 2FAS backup: %w", err)
	}
	services := f.Services
	if f.ServicesEncrypted != "" {
		if password == "" {
			return nil, &PasswordError{Source: Source2FAS}
		}
		plain, err := decrypt2FAS(f.ServicesEncrypted, password)
		if err != nil {
			return nil, err
		}
		services = plain
	}
	if len(services) == 0 {
		return nil, errors.New("not a 2FAS backup: want a JSON object with services")
	}
	entries, err := jsonEntries("2FAS service", services)
	if err != nil {
		return nil, fmt.Errorf("2FAS backup: %w", err)
	}
	imp := &Import{Source: Source2FAS}
	for i, raw := range entries {
		var s twoFASService
		err := json.Unmarshal(raw, &s)
		issuer, name := s.OTP.Issuer, s.OTP.Account
		if issuer == "" {
			issuer = s.Name
		}
		if name == "" {
			name = s.OTP.Label
		}
		label := entryLabel(i, issuer, name)
		if err != nil {
			imp.Skipped = append(imp.Skipped, Skipped{Label: label, Reason: damaged(err)})
			continue
		}
		o, err := exportEntry{
			Type: s.OTP.TokenType, Issuer: issuer, Name: name, Secret: s.Secret, Algorithm: s.OTP.Algorithm,
			Digits: s.OTP.Digits, Period: s.OTP.Period, Counter: s.OTP.Counter,
		}.otpAuth()
		imp.add(label, o, err)
	}
	return imp.finish()
}

// decrypt2FAS opens servicesEncrypted; the result is the JSON array of
// services.
func decrypt2FAS(enc, password string) ([]byte, error) {
	parts := strings.Split(enc, ":")
	if len(parts) != 3 {
		return nil, fmt.Errorf("the 2FAS backup's encrypted services are damaged: want 3 parts separated by ':', got %d", len(parts))
	}
	var b [3][]byte
	for i, p := range parts {
		var err error
		if b[i], err = base64.StdEncoding.DecodeString(p); err != nil {
			return nil, fmt.Errorf("the 2FAS backup's encrypted services are damaged: part %d is not base64", i+1)
		}
	}
	sealed, salt, iv := b[0], b[1], b[2]
	if len(iv) != 12 || len(salt) == 0 || len(salt) > 1024 || len(sealed) < 16 {
		return nil, errors.New("the 2FAS backup's encrypted services are damaged: the salt, nonce or ciphertext has the wrong length")
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, twoFASIterations, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	plain, err := aead.Open(nil, iv, sealed, nil)
	if err != nil {
		// GCM cannot tell a wrong key from damaged data; a wrong password
		// is by far the likelier.
		return nil, &PasswordError{Source: Source2FAS, Wrong: true}
	}
	return plain, nil
}

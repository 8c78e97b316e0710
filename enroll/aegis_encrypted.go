package enroll

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/crypto/scrypt"
)

// An encrypted Aegis export, as Aegis's docs/vault.md describes it: db is
// the base64 of the vault contents sealed with AES-256-GCM under a random
// master key (nonce and tag in header.params, hex); each slot of
// header.slots holds that master key sealed the same way (key, with
// key_params.nonce and .tag). A password slot (type 1) seals it under
// scrypt(password, salt, n, r, p) with a 32-byte output.

// Slot types.
const (
	aegisSlotRaw       = 0
	aegisSlotPassword  = 1
	aegisSlotBiometric = 2
)

// Bounds on what an export may ask of scrypt. Aegis uses N=2^15, r=8, p=1
// (32 MiB, a fraction of a second); a hostile file must not make the app
// allocate gigabytes or spin for minutes.
const (
	maxScryptMemory = 128 << 20 // 128·(N+p)·r bytes (table and block): four times what Aegis uses, and phones have little memory
	maxScryptP      = 4
	maxPasswordSlot = 4 // password slots tried, each costing one scrypt
)

type aegisParams struct {
	Nonce string `json:"nonce"`
	Tag   string `json:"tag"`
}

type aegisSlot struct {
	Type      int         `json:"type"`
	Key       string      `json:"key"`
	KeyParams aegisParams `json:"key_params"`
	N         int         `json:"n"`
	R         int         `json:"r"`
	P         int         `json:"p"`
	Salt      string      `json:"salt"`
}

var errAegisDamaged = errors.New("the Aegis export is damaged: its encrypted contents do not match their checksum")

// decryptAegis opens the db of an encrypted export with password and
// returns the vault contents (JSON). A password that opens no slot is a
// *PasswordError with Wrong set.
func decryptAegis(f *aegisFile, password string) ([]byte, error) {
	var slots []aegisSlot
	if err := json.Unmarshal(f.Header.Slots, &slots); err != nil {
		return nil, fmt.Errorf("the Aegis export's key slots are damaged: %w", err)
	}
	var params aegisParams
	if err := json.Unmarshal(f.Header.Params, &params); err != nil {
		return nil, fmt.Errorf("the Aegis export's encryption parameters are damaged: %w", err)
	}
	var b64 string
	if err := json.Unmarshal(f.DB, &b64); err != nil {
		return nil, fmt.Errorf("the Aegis export's db is damaged: %w", err)
	}
	sealed, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("the Aegis export's db is damaged: not base64: %w", err)
	}
	tried := 0
	var slotErr error
	for i, s := range slots {
		if s.Type != aegisSlotPassword {
			continue
		}
		if tried == maxPasswordSlot {
			break
		}
		tried++
		master, err := s.open(password)
		if err != nil {
			if !errors.Is(err, ErrWrongPassword) {
				slotErr = fmt.Errorf("the Aegis export's key slot %d is damaged: %w", i+1, err)
			}
			continue
		}
		plain, err := gcmOpen(master, params, sealed)
		if err != nil {
			if errors.Is(err, errAuth) {
				return nil, errAegisDamaged
			}
			return nil, fmt.Errorf("the Aegis export's encryption parameters are damaged: %w", err)
		}
		return plain, nil
	}
	switch {
	case slotErr != nil && tried == 1:
		return nil, slotErr
	case tried == 0:
		return nil, errors.New("this Aegis export has no password slot (it opens only with biometrics on the phone): in Aegis, set a password, or export without encryption, then import that file")
	}
	return nil, &PasswordError{Source: SourceAegis, Wrong: true}
}

// open unwraps the master key of a password slot.
func (s aegisSlot) open(password string) ([]byte, error) {
	salt, err := hex.DecodeString(s.Salt)
	if err != nil || len(salt) == 0 || len(salt) > 1024 {
		return nil, errors.New("the salt is not 1 to 1024 bytes of hex")
	}
	n, r, p := s.N, s.R, s.P
	if n < 2 || n&(n-1) != 0 || r < 1 || p < 1 || p > maxScryptP || n > maxScryptMemory/128/r-p {
		return nil, fmt.Errorf("scrypt parameters N=%d r=%d p=%d are out of range: want N a power of two, at most %d MiB of memory, p at most %d", n, r, p, maxScryptMemory>>20, maxScryptP)
	}
	key, err := scrypt.Key([]byte(password), salt, n, r, p, 32)
	if err != nil {
		return nil, err
	}
	wrapped, err := hex.DecodeString(s.Key)
	if err != nil || len(wrapped) != 32 {
		return nil, errors.New("the wrapped key is not 32 bytes of hex")
	}
	master, err := gcmOpen(key, s.KeyParams, wrapped)
	if errors.Is(err, errAuth) {
		return nil, ErrWrongPassword
	}
	return master, err
}

var errAuth = errors.New("message authentication failed")

// gcmOpen decrypts AES-256-GCM ciphertext with the nonce and tag stored
// apart from it, in hex, as Aegis writes them.
func gcmOpen(key []byte, p aegisParams, ciphertext []byte) ([]byte, error) {
	nonce, err := hex.DecodeString(p.Nonce)
	if err != nil || len(nonce) != 12 {
		return nil, errors.New("the nonce is not 12 bytes of hex")
	}
	tag, err := hex.DecodeString(p.Tag)
	if err != nil || len(tag) != 16 {
		return nil, errors.New("the tag is not 16 bytes of hex")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sealed := make([]byte, 0, len(ciphertext)+len(tag))
	sealed = append(append(sealed, ciphertext...), tag...)
	plain, err := aead.Open(nil, nonce, sealed, nil)
	if err != nil {
		return nil, errAuth
	}
	return plain, nil
}

package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
)

// SealKeySize is the size of an AES-256 key.
const SealKeySize = 32

// ErrOpen is returned when sealed data does not open: wrong key, or data
// that was changed.
var ErrOpen = errors.New("sealed data does not open (wrong key or damaged data)")

// Sealer seals secrets at rest with AES-256-GCM. Sealed data is the random
// nonce followed by the ciphertext; aad binds it to where it is stored, so a
// sealed value moved to another row does not open.
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer makes a Sealer from a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != SealKeySize {
		return nil, fmt.Errorf("sealing key must be %d bytes, got %d", SealKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plaintext bound to aad.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	nonce := RandomBytes(s.aead.NonceSize())
	return s.aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal made with the same key and aad.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrOpen
	}
	out, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

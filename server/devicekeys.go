package server

import (
	"bytes"
	"crypto/ecdsa"
	"sync"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store"
)

// deviceKeys keeps devices' public keys parsed. A device's key never
// changes (a new key is a new device), so each JWK is parsed once rather
// than at every connect and answer; the entry is used only while the
// stored JWK is byte for byte the one it was parsed from. It holds keys,
// not devices: whether a device is revoked is read at every use, as
// before.
type deviceKeys struct {
	mu sync.Mutex
	m  map[string]parsedKey
}

type parsedKey struct {
	jwk []byte // the stored JWK (shared with the device read, never changed)
	pub *ecdsa.PublicKey
}

func newDeviceKeys() *deviceKeys { return &deviceKeys{m: map[string]parsedKey{}} }

// of returns d's public key.
func (k *deviceKeys) of(d store.Device) (*ecdsa.PublicKey, error) {
	k.mu.Lock()
	e, ok := k.m[d.ID]
	k.mu.Unlock()
	if ok && bytes.Equal(e.jwk, d.PublicKey) {
		return e.pub, nil
	}
	pub, err := crypto.ParsePublicJWK(d.PublicKey)
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if len(k.m) < maxCachedDevices || ok {
		k.m[d.ID] = parsedKey{d.PublicKey, pub}
	}
	k.mu.Unlock()
	return pub, nil
}

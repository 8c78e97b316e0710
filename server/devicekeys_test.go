package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store"
)

func jwkOf(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := json.Marshal(crypto.PublicJWK(&k.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A key is parsed once per device, and an entry is never used for a
// device whose stored key is not the one it was parsed from.
func TestDeviceKeysAreParsedOnceAndOnlyForTheirJWK(t *testing.T) {
	a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k := newDeviceKeys()
	d := store.Device{ID: "dev_1", PublicKey: jwkOf(t, a)}
	p1, err := k.of(d)
	if err != nil || !p1.Equal(&a.PublicKey) {
		t.Fatalf("first read: %v, %v", p1, err)
	}
	if p2, _ := k.of(d); p2 != p1 {
		t.Fatal("second read parsed the key again")
	}
	// Same ID, another key (a store that was swapped under the node): the
	// cached key must not answer for it.
	other := store.Device{ID: "dev_1", PublicKey: jwkOf(t, b)}
	if p3, err := k.of(other); err != nil || !p3.Equal(&b.PublicKey) {
		t.Fatalf("other key under the same ID: got %v, %v", p3, err)
	}
	if _, err := k.of(store.Device{ID: "dev_2", PublicKey: []byte(`{"kty":"EC"}`)}); err == nil {
		t.Fatal("a malformed JWK was accepted")
	}
}

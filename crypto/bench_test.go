package crypto

import (
	gocrypto "crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"testing"
)

// BenchmarkECDSAVerifyP256 is the physical floor of every answer the server
// checks: one P-256 verification. Other benchmarks compare against it.
func BenchmarkECDSAVerifyP256(b *testing.B) {
	k, _ := NewDeviceKey()
	digest := sha256.Sum256([]byte("assent"))
	sig, _ := k.Sign(rand.Reader, digest[:], gocrypto.SHA256)
	b.ResetTimer()
	for b.Loop() {
		if !ecdsa.VerifyASN1(&k.PublicKey, digest[:], sig) {
			b.Fatal("verify failed")
		}
	}
}

type benchClaims struct {
	Issuer  string `json:"iss"`
	ID      string `json:"jti"`
	Nonce   string `json:"nonce"`
	Consent string `json:"consent"`
	Number  int    `json:"number"`
}

var sampleClaims = benchClaims{Issuer: "dev_0123456789abcdef", ID: "chl_0123456789abcdef", Nonce: "n0123456789abcdef", Consent: "approved", Number: 42}

func BenchmarkSignJWS(b *testing.B) {
	k, _ := NewDeviceKey()
	for b.Loop() {
		if _, err := SignJWS(k, "assent-response+jwt", sampleClaims, SignOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyJWS is a device response's signature check, parsing and
// claim decoding included.
func BenchmarkVerifyJWS(b *testing.B) {
	k, _ := NewDeviceKey()
	tok, _ := SignJWS(k, "assent-response+jwt", sampleClaims, SignOptions{})
	var out benchClaims
	for b.Loop() {
		if err := VerifyJWS(tok, &k.PublicKey, "assent-response+jwt", &out); err != nil {
			b.Fatal(err)
		}
	}
}

package crypto

import (
	gocrypto "crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"

	jose "github.com/go-jose/go-jose/v4"
)

// NewDeviceKey makes a fresh ECDSA P-256 key, the only key type Assent uses
// (ES256: what Secure Enclave, TPM and Android Keystore can hold).
func NewDeviceKey() (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate P-256 key: %w", err)
	}
	return k, nil
}

// MarshalPrivateKey encodes a P-256 private key as PKCS#8 DER, the form the
// key stores keep.
func MarshalPrivateKey(k *ecdsa.PrivateKey) ([]byte, error) {
	if k == nil || k.Curve != elliptic.P256() {
		return nil, errors.New("marshal private key: not a P-256 key")
	}
	return x509.MarshalPKCS8PrivateKey(k)
}

// ParsePrivateKey decodes PKCS#8 DER and insists on P-256.
func ParsePrivateKey(der []byte) (*ecdsa.PrivateKey, error) {
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("parse private key: not a P-256 ECDSA key")
	}
	return ek, nil
}

// PublicJWK is the public JWK of a P-256 key.
func PublicJWK(pub *ecdsa.PublicKey) jose.JSONWebKey {
	return jose.JSONWebKey{Key: pub, Algorithm: string(jose.ES256), Use: "sig"}
}

// MarshalPublicJWK encodes a P-256 public key as JWK JSON.
func MarshalPublicJWK(pub *ecdsa.PublicKey) ([]byte, error) {
	return json.Marshal(PublicJWK(pub))
}

// ParsePublicJWK decodes JWK JSON and insists on a P-256 public key.
func ParsePublicJWK(data []byte) (*ecdsa.PublicKey, error) {
	var k jose.JSONWebKey
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("parse JWK: %w", err)
	}
	return publicKeyOf(&k)
}

func publicKeyOf(k *jose.JSONWebKey) (*ecdsa.PublicKey, error) {
	if k == nil {
		return nil, errors.New("no key")
	}
	if !k.IsPublic() {
		return nil, errors.New("JWK holds a private key; only a public key is accepted")
	}
	pub, ok := k.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("JWK is not a P-256 public key")
	}
	return pub, nil
}

// Thumbprint is the base64url (unpadded) RFC 7638 SHA-256 thumbprint of a
// public key's JWK. The enrollment link's pin is the thumbprint of the
// server signing key.
func Thumbprint(pub *ecdsa.PublicKey) (string, error) {
	jwk := PublicJWK(pub)
	tp, err := jwk.Thumbprint(gocrypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// RandomBytes reads n bytes from the system's CSPRNG.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		// crypto/rand never fails on supported platforms; if it does, nothing
		// secure can continue.
		panic("crypto/rand: " + err.Error())
	}
	return b
}

// RandomToken is n random bytes, base64url without padding.
func RandomToken(n int) string {
	return base64.RawURLEncoding.EncodeToString(RandomBytes(n))
}

// HashToken is the hex-free base64url SHA-256 of a bearer token, the form in
// which tokens are stored so that a copy of the database grants nothing.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// joseSigner adapts any crypto.Signer holding a P-256 key to go-jose, so
// device keys can live behind crypto.Signer (software today, hardware later).
type joseSigner struct {
	s   gocrypto.Signer
	pub *ecdsa.PublicKey
}

func newJoseSigner(s gocrypto.Signer) (*joseSigner, error) {
	pub, ok := s.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errors.New("signer does not hold a P-256 key")
	}
	return &joseSigner{s: s, pub: pub}, nil
}

func (j *joseSigner) Public() *jose.JSONWebKey {
	k := PublicJWK(j.pub)
	return &k
}

func (j *joseSigner) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.ES256} }

func (j *joseSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.ES256 {
		return nil, jose.ErrUnsupportedAlgorithm
	}
	digest := sha256.Sum256(payload)
	der, err := j.s.Sign(rand.Reader, digest[:], gocrypto.SHA256)
	if err != nil {
		return nil, err
	}
	// crypto.Signer answers ASN.1; JWS wants r||s, 32 bytes each.
	var sig struct{ R, S *big.Int }
	if rest, err := asn1.Unmarshal(der, &sig); err != nil || len(rest) != 0 ||
		!validScalar(sig.R) || !validScalar(sig.S) {
		// Checked here because FillBytes panics on a value wider than 32
		// bytes, and a hardware or remote signer is not trusted to be sane.
		return nil, errors.New("signer returned a malformed ECDSA signature")
	}
	out := make([]byte, 64)
	sig.R.FillBytes(out[:32])
	sig.S.FillBytes(out[32:])
	return out, nil
}

// validScalar says whether v can be an ECDSA P-256 signature component:
// 0 < v < n.
func validScalar(v *big.Int) bool {
	return v.Sign() > 0 && v.Cmp(elliptic.P256().Params().N) < 0
}

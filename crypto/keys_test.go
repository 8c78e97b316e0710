package crypto

import (
	gocrypto "crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func mustDeviceKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustP384Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPrivateKeyRoundTripsThroughPKCS8(t *testing.T) {
	k := mustDeviceKey(t)
	der, err := MarshalPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equal(k) {
		t.Fatal("parsed key differs from the original")
	}
	// It is standard PKCS#8 that other tools read.
	if other, err := x509.ParsePKCS8PrivateKey(der); err != nil || !k.Equal(other) {
		t.Fatalf("x509 reads back %v, %v", other, err)
	}
}

func TestPrivateKeyRefusesOtherKeyTypes(t *testing.T) {
	if _, err := MarshalPrivateKey(mustP384Key(t)); err == nil {
		t.Error("MarshalPrivateKey accepted a P-384 key")
	}
	if _, err := MarshalPrivateKey(nil); err == nil {
		t.Error("MarshalPrivateKey accepted nil")
	}

	p384, err := x509.MarshalPKCS8PrivateKey(mustP384Key(t))
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	ed, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	for name, der := range map[string][]byte{
		"P-384":    p384,
		"Ed25519":  ed,
		"garbage":  []byte("not DER"),
		"empty":    nil,
		"truncate": p384[:len(p384)/2],
	} {
		if _, err := ParsePrivateKey(der); err == nil {
			t.Errorf("ParsePrivateKey accepted %s", name)
		}
	}
}

func TestPublicJWKRoundTrip(t *testing.T) {
	k := mustDeviceKey(t)
	data, err := MarshalPublicJWK(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), `"d"`) {
		t.Fatalf("public JWK holds a private part: %s", data)
	}
	pub, err := ParsePublicJWK(data)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.Equal(&k.PublicKey) {
		t.Fatal("parsed public key differs")
	}
}

func TestParsePublicJWKRefusesPrivateAndOtherCurves(t *testing.T) {
	priv, err := json.Marshal(jose.JSONWebKey{Key: mustDeviceKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	p384, err := json.Marshal(jose.JSONWebKey{Key: &mustP384Key(t).PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	ed, err := json.Marshal(jose.JSONWebKey{Key: edPub})
	if err != nil {
		t.Fatal(err)
	}
	oct, err := json.Marshal(jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"private P-256": priv,
		"P-384":         p384,
		"Ed25519":       ed,
		"symmetric":     oct,
		"garbage":       []byte(`{"kty":`),
		"off curve":     []byte(`{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}`),
	} {
		if _, err := ParsePublicJWK(data); err == nil {
			t.Errorf("ParsePublicJWK accepted %s", name)
		}
	}
}

// TestThumbprintFollowsRFC7638 computes the thumbprint by the RFC's method
// (SHA-256 over the required members in lexicographic order, no spaces) and
// compares with ours and with go-jose's on a bare JWK.
func TestThumbprintFollowsRFC7638(t *testing.T) {
	for i := 0; i < 5; i++ {
		k := mustDeviceKey(t)
		enc := func(v *big.Int) string {
			return base64.RawURLEncoding.EncodeToString(v.FillBytes(make([]byte, 32)))
		}
		canonical := `{"crv":"P-256","kty":"EC","x":"` + enc(k.X) + `","y":"` + enc(k.Y) + `"}`
		sum := sha256.Sum256([]byte(canonical))
		want := base64.RawURLEncoding.EncodeToString(sum[:])

		got, err := Thumbprint(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("Thumbprint = %s, RFC 7638 method gives %s", got, want)
		}
		bare := jose.JSONWebKey{Key: &k.PublicKey}
		tp, err := bare.Thumbprint(gocrypto.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if jt := base64.RawURLEncoding.EncodeToString(tp); jt != got {
			t.Fatalf("go-jose thumbprint %s differs from ours %s", jt, got)
		}
	}
}

func TestRandomTokensAreDistinctAndURLSafe(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		tok := RandomToken(32)
		if len(tok) != 43 || strings.ContainsAny(tok, "+/=") {
			t.Fatalf("token %q is not 32 bytes of unpadded base64url", tok)
		}
		if seen[tok] {
			t.Fatal("repeated token")
		}
		seen[tok] = true
	}
	if HashToken("a") != HashToken("a") || HashToken("a") == HashToken("b") {
		t.Fatal("HashToken is not a function of its input")
	}
}

// wrappedSigner is a crypto.Signer that is not *ecdsa.PrivateKey, like a
// hardware key would be.
type wrappedSigner struct {
	k     *ecdsa.PrivateKey
	calls int
}

func (w *wrappedSigner) Public() gocrypto.PublicKey { return &w.k.PublicKey }

func (w *wrappedSigner) Sign(r io.Reader, digest []byte, opts gocrypto.SignerOpts) ([]byte, error) {
	w.calls++
	return w.k.Sign(r, digest, opts)
}

// badSigner answers with a fixed, malformed signature.
type badSigner struct {
	pub *ecdsa.PublicKey
	sig []byte
	err error
}

func (b badSigner) Public() gocrypto.PublicKey { return b.pub }

func (b badSigner) Sign(io.Reader, []byte, gocrypto.SignerOpts) ([]byte, error) { return b.sig, b.err }

func TestJoseSignerRefusesMalformedSignerOutput(t *testing.T) {
	k := mustDeviceKey(t)
	der := func(r, s *big.Int) []byte {
		b, err := asn1Marshal(r, s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	huge := new(big.Int).Lsh(big.NewInt(1), 300)
	n := elliptic.P256().Params().N
	for name, s := range map[string]badSigner{
		"error":                 {pub: &k.PublicKey, err: errors.New("device unplugged")},
		"not DER":               {pub: &k.PublicKey, sig: []byte("xyz")},
		"trailing bytes":        {pub: &k.PublicKey, sig: append(der(big.NewInt(1), big.NewInt(1)), 0)},
		"r wider than 32 bytes": {pub: &k.PublicKey, sig: der(huge, big.NewInt(1))},
		"negative s":            {pub: &k.PublicKey, sig: der(big.NewInt(1), big.NewInt(-1))},
		"zero r":                {pub: &k.PublicKey, sig: der(big.NewInt(0), big.NewInt(1))},
		"s equal to n":          {pub: &k.PublicKey, sig: der(big.NewInt(1), n)},
	} {
		if _, err := SignJWS(s, "t", map[string]int{}, SignOptions{}); err == nil {
			t.Errorf("%s: SignJWS succeeded", name)
		}
	}
	if _, err := SignJWS(badSigner{pub: &mustP384Key(t).PublicKey}, "t", 1, SignOptions{}); err == nil {
		t.Error("SignJWS accepted a P-384 signer")
	}
}

func asn1Marshal(r, s *big.Int) ([]byte, error) {
	return asn1.Marshal(struct{ R, S *big.Int }{r, s})
}

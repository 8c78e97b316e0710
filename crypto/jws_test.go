package crypto

import (
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

type testClaims struct {
	Iss string `json:"iss"`
	N   int    `json:"n"`
}

const testTyp = "assent-test+jwt"

func mustSign(t testing.TB, k *ecdsa.PrivateKey, typ string, claims any, opts SignOptions) string {
	t.Helper()
	tok, err := SignJWS(k, typ, claims, opts)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

var b64 = base64.RawURLEncoding

// rawJWS assembles a compact JWS by hand, for tokens SignJWS would never
// make. sign gets the signing input and returns the signature.
func rawJWS(t testing.TB, header map[string]any, payload []byte, sign func(input []byte) []byte) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(payload)
	return input + "." + b64.EncodeToString(sign([]byte(input)))
}

func es256(k *ecdsa.PrivateKey) func([]byte) []byte {
	return func(input []byte) []byte {
		sum := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
		if err != nil {
			panic(err)
		}
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return out
	}
}

func TestJWSRoundTrip(t *testing.T) {
	k := mustDeviceKey(t)
	tok := mustSign(t, k, testTyp, testClaims{Iss: "dev", N: 7}, SignOptions{KeyID: "kid-1"})
	if strings.Count(tok, ".") != 2 {
		t.Fatalf("not compact: %s", tok)
	}
	var got testClaims
	if err := VerifyJWS(tok, &k.PublicKey, testTyp, &got); err != nil {
		t.Fatal(err)
	}
	if got != (testClaims{Iss: "dev", N: 7}) {
		t.Fatalf("claims %+v", got)
	}
	h, err := ParseJWSHeader(tok)
	if err != nil {
		t.Fatal(err)
	}
	if h.Type != testTyp || h.KeyID != "kid-1" || h.JWK != nil {
		t.Fatalf("header %+v", h)
	}
	var unverified testClaims
	if err := UnverifiedClaims(tok, &unverified); err != nil || unverified != got {
		t.Fatalf("UnverifiedClaims = %+v, %v", unverified, err)
	}
}

func TestVerifyJWSRefusesOtherKey(t *testing.T) {
	tok := mustSign(t, mustDeviceKey(t), testTyp, testClaims{}, SignOptions{})
	var c testClaims
	if err := VerifyJWS(tok, &mustDeviceKey(t).PublicKey, testTyp, &c); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("other key: %v, want ErrBadSignature", err)
	}
	if err := VerifyJWS(tok, nil, testTyp, &c); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("nil key: %v, want ErrBadSignature", err)
	}
	if err := VerifyJWS(tok, &mustP384Key(t).PublicKey, testTyp, &c); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("P-384 key: %v, want ErrBadSignature", err)
	}
}

func TestVerifyJWSRefusesOtherType(t *testing.T) {
	k := mustDeviceKey(t)
	var c testClaims
	for _, typ := range []string{"other+jwt", "", strings.ToUpper(testTyp)} {
		tok := mustSign(t, k, typ, testClaims{}, SignOptions{})
		if err := VerifyJWS(tok, &k.PublicKey, testTyp, &c); !errors.Is(err, ErrWrongJWSType) {
			t.Errorf("typ %q: %v, want ErrWrongJWSType", typ, err)
		}
	}
	// typ must be a string.
	tok := rawJWS(t, map[string]any{"alg": "ES256", "typ": 1}, []byte(`{}`), es256(k))
	if err := VerifyJWS(tok, &k.PublicKey, testTyp, &c); !errors.Is(err, ErrWrongJWSType) {
		t.Errorf("numeric typ: %v, want ErrWrongJWSType", err)
	}
}

func TestVerifyJWSRefusesTampering(t *testing.T) {
	k := mustDeviceKey(t)
	tok := mustSign(t, k, testTyp, testClaims{Iss: "dev", N: 1}, SignOptions{KeyID: "a"})
	parts := strings.Split(tok, ".")

	payload := b64.EncodeToString([]byte(`{"iss":"dev","n":2}`))
	var hdr map[string]any
	raw, _ := b64.DecodeString(parts[0])
	if err := json.Unmarshal(raw, &hdr); err != nil {
		t.Fatal(err)
	}
	hdr["kid"] = "b"
	h2, _ := json.Marshal(hdr)
	sig, _ := b64.DecodeString(parts[2])
	sig[10] ^= 1

	var c testClaims
	for name, bad := range map[string]string{
		"payload":   parts[0] + "." + payload + "." + parts[2],
		"header":    b64.EncodeToString(h2) + "." + parts[1] + "." + parts[2],
		"signature": parts[0] + "." + parts[1] + "." + b64.EncodeToString(sig),
		"no sig":    parts[0] + "." + parts[1] + ".",
	} {
		if err := VerifyJWS(bad, &k.PublicKey, testTyp, &c); !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrMalformedJWS) {
			t.Errorf("tampered %s: %v, want a refusal", name, err)
		} else if err == nil {
			t.Errorf("tampered %s verified", name)
		}
	}
	// The payload and header changes keep the token well formed, so the
	// refusal is the signature's.
	if err := VerifyJWS(parts[0]+"."+payload+"."+parts[2], &k.PublicKey, testTyp, &c); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered payload: %v, want ErrBadSignature", err)
	}
	if err := VerifyJWS(b64.EncodeToString(h2)+"."+parts[1]+"."+parts[2], &k.PublicKey, testTyp, &c); !errors.Is(err, ErrBadSignature) {
		t.Errorf("tampered header: %v, want ErrBadSignature", err)
	}
}

func TestVerifyJWSRefusesOtherAlgorithms(t *testing.T) {
	k := mustDeviceKey(t)
	claims := []byte(`{"iss":"dev","n":1}`)
	// HS256 keyed with the public key: the classic algorithm confusion.
	pubJWK, _ := MarshalPublicJWK(&k.PublicKey)
	hs256 := func(input []byte) []byte {
		m := hmac.New(sha256.New, pubJWK)
		m.Write(input)
		return m.Sum(nil)
	}
	none := func([]byte) []byte { return nil }
	for name, tok := range map[string]string{
		"none":       rawJWS(t, map[string]any{"alg": "none", "typ": testTyp}, claims, none),
		"None":       rawJWS(t, map[string]any{"alg": "None", "typ": testTyp}, claims, none),
		"HS256":      rawJWS(t, map[string]any{"alg": "HS256", "typ": testTyp}, claims, hs256),
		"ES384":      rawJWS(t, map[string]any{"alg": "ES384", "typ": testTyp}, claims, es256(k)),
		"no alg":     rawJWS(t, map[string]any{"typ": testTyp}, claims, es256(k)),
		"crit":       rawJWS(t, map[string]any{"alg": "ES256", "typ": testTyp, "crit": []string{"exp"}, "exp": 1}, claims, es256(k)),
		"b64 false":  rawJWS(t, map[string]any{"alg": "ES256", "typ": testTyp, "b64": false}, claims, es256(k)),
		"crit b64":   rawJWS(t, map[string]any{"alg": "ES256", "typ": testTyp, "b64": false, "crit": []string{"b64"}}, claims, es256(k)),
		"JSON form":  `{"payload":"e30","protected":"eyJhbGciOiJFUzI1NiJ9","signature":""}`,
		"two dots":   "a.b",
		"empty":      "",
		"four parts": mustSign(t, k, testTyp, 1, SignOptions{}) + ".x",
	} {
		var c testClaims
		if err := VerifyJWS(tok, &k.PublicKey, testTyp, &c); !errors.Is(err, ErrMalformedJWS) {
			t.Errorf("%s: VerifyJWS = %v, want ErrMalformedJWS", name, err)
		}
		if _, err := ParseJWSHeader(tok); !errors.Is(err, ErrMalformedJWS) {
			t.Errorf("%s: ParseJWSHeader = %v, want ErrMalformedJWS", name, err)
		}
		if err := UnverifiedClaims(tok, &c); !errors.Is(err, ErrMalformedJWS) {
			t.Errorf("%s: UnverifiedClaims = %v, want ErrMalformedJWS", name, err)
		}
	}
	// A hand-made ES256 token is accepted: the refusals above are about the
	// algorithm, not about hand-made tokens.
	good := rawJWS(t, map[string]any{"alg": "ES256", "typ": testTyp}, claims, es256(k))
	var c testClaims
	if err := VerifyJWS(good, &k.PublicKey, testTyp, &c); err != nil || c.N != 1 {
		t.Fatalf("hand-made ES256: %v", err)
	}
}

func TestVerifyJWSRefusesOversizedInput(t *testing.T) {
	k := mustDeviceKey(t)
	big := mustSign(t, k, testTyp, map[string]string{"pad": strings.Repeat("x", MaxJWSSize)}, SignOptions{})
	var c map[string]string
	if err := VerifyJWS(big, &k.PublicKey, testTyp, &c); !errors.Is(err, ErrMalformedJWS) {
		t.Fatalf("oversized: %v, want ErrMalformedJWS", err)
	}
	if _, err := ParseJWSHeader(big); !errors.Is(err, ErrMalformedJWS) {
		t.Fatalf("oversized header: %v, want ErrMalformedJWS", err)
	}
	if err := UnverifiedClaims(big, &c); !errors.Is(err, ErrMalformedJWS) {
		t.Fatalf("oversized claims: %v, want ErrMalformedJWS", err)
	}
}

func TestVerifyJWSRefusesClaimsThatAreNotJSON(t *testing.T) {
	k := mustDeviceKey(t)
	tok := rawJWS(t, map[string]any{"alg": "ES256", "typ": testTyp}, []byte("not json"), es256(k))
	var c testClaims
	if err := VerifyJWS(tok, &k.PublicKey, testTyp, &c); !errors.Is(err, ErrMalformedJWS) {
		t.Fatalf("%v, want ErrMalformedJWS", err)
	}
}

func TestEmbeddedJWKIsReadBack(t *testing.T) {
	k := mustDeviceKey(t)
	tok := mustSign(t, k, testTyp, testClaims{Iss: "x"}, SignOptions{EmbedJWK: true})
	h, err := ParseJWSHeader(tok)
	if err != nil {
		t.Fatal(err)
	}
	if h.JWK == nil || !h.JWK.Equal(&k.PublicKey) {
		t.Fatalf("embedded jwk %v, want the signer's key", h.JWK)
	}
	var c testClaims
	if err := VerifyJWS(tok, h.JWK, testTyp, &c); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedJWKMustBeP256Public(t *testing.T) {
	k := mustDeviceKey(t)
	claims := []byte(`{}`)
	jwkOf := func(key any) json.RawMessage {
		b, err := json.Marshal(jose.JSONWebKey{Key: key})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for name, jwk := range map[string]json.RawMessage{
		"private P-256": jwkOf(k),
		"P-384 public":  jwkOf(&mustP384Key(t).PublicKey),
		"symmetric":     jwkOf([]byte("0123456789abcdef0123456789abcdef")),
		"not a key":     json.RawMessage(`{"kty":"EC"}`),
	} {
		tok := rawJWS(t, map[string]any{"alg": "ES256", "typ": testTyp, "jwk": jwk}, claims, es256(k))
		if _, err := ParseJWSHeader(tok); !errors.Is(err, ErrMalformedJWS) {
			t.Errorf("%s: ParseJWSHeader = %v, want ErrMalformedJWS", name, err)
		}
		var c map[string]any
		if err := VerifyJWS(tok, &k.PublicKey, testTyp, &c); !errors.Is(err, ErrMalformedJWS) {
			t.Errorf("%s: VerifyJWS = %v, want ErrMalformedJWS", name, err)
		}
	}
}

func TestSignJWSWithOpaqueSigner(t *testing.T) {
	w := &wrappedSigner{k: mustDeviceKey(t)}
	tok, err := SignJWS(w, testTyp, testClaims{N: 3}, SignOptions{EmbedJWK: true})
	if err != nil {
		t.Fatal(err)
	}
	if w.calls != 1 {
		t.Fatalf("signer called %d times", w.calls)
	}
	var c testClaims
	if err := VerifyJWS(tok, &w.k.PublicKey, testTyp, &c); err != nil || c.N != 3 {
		t.Fatalf("VerifyJWS = %v, %+v", err, c)
	}
	// Our hand-rolled ES256 signature check agrees with go-jose's.
	parts := strings.Split(tok, ".")
	sig, _ := b64.DecodeString(parts[2])
	if len(sig) != 64 {
		t.Fatalf("signature is %d bytes, want 64 (r||s)", len(sig))
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	var r, s bigInt
	r.SetBytes(sig[:32])
	s.SetBytes(sig[32:])
	if !ecdsa.Verify(&w.k.PublicKey, sum[:], r.Int, s.Int) {
		t.Fatal("r||s does not verify with crypto/ecdsa")
	}
}

func TestSignJWSRefusesUnencodableClaims(t *testing.T) {
	if _, err := SignJWS(mustDeviceKey(t), testTyp, func() {}, SignOptions{}); err == nil {
		t.Fatal("SignJWS encoded a func")
	}
}

// FuzzVerifyJWS: no input makes the JWS functions panic, and every refusal
// wraps one of the sentinel errors.
func FuzzVerifyJWS(f *testing.F) {
	k, err := NewDeviceKey()
	if err != nil {
		f.Fatal(err)
	}
	good, _ := SignJWS(k, testTyp, testClaims{Iss: "a", N: 1}, SignOptions{EmbedJWK: true, KeyID: "k"})
	f.Add(good)
	f.Add(rawJWS(f, map[string]any{"alg": "none", "typ": testTyp}, []byte(`{}`), func([]byte) []byte { return nil }))
	f.Add("")
	f.Add("..")
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		var c testClaims
		err := VerifyJWS(tok, &k.PublicKey, testTyp, &c)
		if err != nil && !errors.Is(err, ErrMalformedJWS) && !errors.Is(err, ErrWrongJWSType) && !errors.Is(err, ErrBadSignature) {
			t.Fatalf("VerifyJWS error %v wraps no sentinel", err)
		}
		if _, err := ParseJWSHeader(tok); err != nil && !errors.Is(err, ErrMalformedJWS) {
			t.Fatalf("ParseJWSHeader error %v is not ErrMalformedJWS", err)
		}
		var m any
		if err := UnverifiedClaims(tok, &m); err != nil && !errors.Is(err, ErrMalformedJWS) {
			t.Fatalf("UnverifiedClaims error %v is not ErrMalformedJWS", err)
		}
	})
}

type bigInt struct{ *big.Int }

func (b *bigInt) SetBytes(p []byte) { b.Int = new(big.Int).SetBytes(p) }

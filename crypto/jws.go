package crypto

import (
	gocrypto "crypto"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// MaxJWSSize bounds every JWS Assent parses; nothing legitimate comes close.
const MaxJWSSize = 16 << 10

// Errors callers branch on. Every error from VerifyJWS wraps one of them.
var (
	ErrMalformedJWS = errors.New("malformed JWS")
	ErrWrongJWSType = errors.New("wrong JWS type")
	ErrBadSignature = errors.New("signature does not verify")
)

// SignOptions change what SignJWS puts in the protected header.
type SignOptions struct {
	// EmbedJWK puts the signer's public key in the `jwk` header (proof of
	// possession at enrollment).
	EmbedJWK bool
	// KeyID sets `kid`.
	KeyID string
}

// SignJWS signs claims (marshalled as JSON) with ES256 and returns compact JWS
// with `typ` in the protected header.
func SignJWS(signer gocrypto.Signer, typ string, claims any, opts SignOptions) (string, error) {
	js, err := newJoseSigner(signer)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", typ, err)
	}
	so := (&jose.SignerOptions{EmbedJWK: opts.EmbedJWK}).WithType(jose.ContentType(typ))
	if opts.KeyID != "" {
		so = so.WithHeader(jose.HeaderKey("kid"), opts.KeyID)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: js}, so)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", typ, err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("sign %s: encode claims: %w", typ, err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("sign %s: %w", typ, err)
	}
	return obj.CompactSerialize()
}

// JWSHeader is what can be read from a JWS before its signature is checked.
type JWSHeader struct {
	Type  string
	KeyID string
	// JWK is the embedded public key, nil when there is none. It is only
	// trustworthy once the signature verifies against it.
	JWK *ecdsa.PublicKey
}

func parseJWS(token string) (*jose.JSONWebSignature, JWSHeader, error) {
	if len(token) > MaxJWSSize {
		return nil, JWSHeader{}, fmt.Errorf("%w: larger than %d bytes", ErrMalformedJWS, MaxJWSSize)
	}
	obj, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return nil, JWSHeader{}, fmt.Errorf("%w: %v", ErrMalformedJWS, err)
	}
	if len(obj.Signatures) != 1 {
		return nil, JWSHeader{}, fmt.Errorf("%w: want exactly one signature", ErrMalformedJWS)
	}
	h := obj.Signatures[0].Protected
	// Assent never uses JWS extensions. go-jose would refuse "crit" only
	// at Verify (which reported it as a bad signature) and honours "b64"
	// even when "crit" does not list it, so both are refused here, where
	// ParseJWSHeader and UnverifiedClaims see them too.
	for _, ext := range []jose.HeaderKey{"crit", "b64"} {
		if _, ok := h.ExtraHeaders[ext]; ok {
			return nil, JWSHeader{}, fmt.Errorf("%w: %q header not supported", ErrMalformedJWS, ext)
		}
	}
	var out JWSHeader
	out.KeyID = h.KeyID
	if t, ok := h.ExtraHeaders[jose.HeaderType].(string); ok {
		out.Type = t
	}
	if h.JSONWebKey != nil {
		pub, err := publicKeyOf(h.JSONWebKey)
		if err != nil {
			return nil, JWSHeader{}, fmt.Errorf("%w: embedded jwk: %v", ErrMalformedJWS, err)
		}
		out.JWK = pub
	}
	return obj, out, nil
}

// JWS is a compact JWS parsed once, its signature not checked yet: read
// the claims that pick the key (UnverifiedClaims), then Verify, without
// parsing the token again.
type JWS struct {
	obj    *jose.JSONWebSignature
	Header JWSHeader
}

// ParseJWS parses a compact ES256 JWS without checking its signature.
func ParseJWS(token string) (*JWS, error) {
	obj, h, err := parseJWS(token)
	if err != nil {
		return nil, err
	}
	return &JWS{obj: obj, Header: h}, nil
}

// ParseJWSHeader reads the protected header without checking the signature.
func ParseJWSHeader(token string) (JWSHeader, error) {
	_, h, err := parseJWS(token)
	return h, err
}

// VerifyJWS checks that token is an ES256 compact JWS of type typ signed by
// pub, and decodes its claims into out.
func VerifyJWS(token string, pub *ecdsa.PublicKey, typ string, out any) error {
	j, err := ParseJWS(token)
	if err != nil {
		return err
	}
	return j.Verify(pub, typ, out)
}

// Verify checks that j is of type typ and signed by pub, and decodes its
// claims into out.
func (j *JWS) Verify(pub *ecdsa.PublicKey, typ string, out any) error {
	if j.Header.Type != typ {
		return fmt.Errorf("%w: got %q, want %q", ErrWrongJWSType, j.Header.Type, typ)
	}
	if pub == nil {
		return fmt.Errorf("%w: no key to verify with", ErrBadSignature)
	}
	payload, err := j.obj.Verify(pub)
	if err != nil {
		return fmt.Errorf("%w (%s)", ErrBadSignature, typ)
	}
	if err := json.Unmarshal(payload, out); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrMalformedJWS, err)
	}
	return nil
}

// UnverifiedClaims decodes the claims of a JWS without checking its
// signature: only for picking the key to verify with (the `iss` of a device
// token), never for a decision.
func UnverifiedClaims(token string, out any) error {
	j, err := ParseJWS(token)
	if err != nil {
		return err
	}
	return j.UnverifiedClaims(out)
}

// UnverifiedClaims decodes j's claims without checking its signature: only
// for picking the key to verify with, never for a decision.
func (j *JWS) UnverifiedClaims(out any) error {
	if err := json.Unmarshal(j.obj.UnsafePayloadWithoutVerification(), out); err != nil {
		return fmt.Errorf("%w: claims: %v", ErrMalformedJWS, err)
	}
	return nil
}

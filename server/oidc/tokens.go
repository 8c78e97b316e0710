package oidc

// Opaque tokens. Access tokens, refresh tokens and authorization codes are
// 256 random bits with a prefix that says what they are; the store keeps
// only their SHA-256 (a grant's Lookup), so a copy of the database holds
// nothing that signs anyone in, and revocation and introspection are real.
//
// zitadel's op makes bearer tokens and codes through its Crypto: a bearer
// token is Encrypt(tokenID + ":" + subject) and a code Encrypt(authRequestID),
// and Decrypt must turn a bearer token back into "tokenID:subject". This
// provider's CreateAccessToken answers the random token itself as the
// "token ID", so Encrypt of a bearer token is that token, Decrypt answers
// it with an empty subject (the storage finds the subject in the grant),
// and Encrypt of an auth request ID is a fresh random code, which
// SaveAuthCode then binds to the auth request. Nothing is encrypted.

import (
	"errors"
	"strings"

	"github.com/seed-3a5b824e/assent/crypto"
)

// Prefixes of the tokens and IDs the provider hands out.
const (
	prefixAccess      = "at_" // access token (secret)
	prefixRefresh     = "rt_" // refresh token (secret)
	prefixCode        = "ac_" // authorization code (secret)
	prefixAuthRequest = "ar_" // auth request ID (in the browser's URLs)
	prefixGrant       = "g_"  // any other grant's ID (never handed out)
	prefixDevice      = "dv_" // device authorization grant ID (hash of the device code)
	prefixLogout      = "lo_" // a logout waiting for the person's confirmation
)

// secretLen is the length of a token's random part: 32 bytes, base64url.
const secretLen = 43

func newSecret(prefix string) string { return prefix + crypto.RandomToken(32) }

func newID(prefix string) string { return prefix + crypto.RandomToken(16) }

// validSecret says whether s has the form of a token with that prefix, so
// that nothing else is hashed and looked up.
func validSecret(s, prefix string) bool {
	return len(s) == len(prefix)+secretLen && strings.HasPrefix(s, prefix) && isBase64URL(s[len(prefix):])
}

func isBase64URL(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	})
}

// tokenCrypto is the op.Crypto described above.
type tokenCrypto struct{}

var errNotOurs = errors.New("not a token of this server")

func (tokenCrypto) Encrypt(s string) (string, error) {
	if tok, _, ok := strings.Cut(s, ":"); ok && validSecret(tok, prefixAccess) {
		return tok, nil
	}
	if strings.HasPrefix(s, prefixAuthRequest) && !strings.Contains(s, ":") {
		return newSecret(prefixCode), nil
	}
	return "", errors.New("openid connect: asked to make a token of an unknown kind")
}

func (tokenCrypto) Decrypt(s string) (string, error) {
	if validSecret(s, prefixAccess) {
		return s + ":", nil
	}
	return "", errNotOurs
}

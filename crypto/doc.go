// Package crypto holds the cryptography both sides of Assent agree on: P-256
// device keys behind crypto.Signer, compact JWS (ES256) through go-jose,
// TOTP/HOTP with step matching, AES-256-GCM sealing of secrets at rest,
// Argon2id password hashing, and the key stores (OS keychain, encrypted file)
// that keep a device's private material.
package crypto

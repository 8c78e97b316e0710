package crypto

import (
	"errors"
	"fmt"
	"os"
	"unicode"
	"unicode/utf8"
)

// ErrKeyNotFound is wrapped by KeyStore errors for a name that holds nothing.
var ErrKeyNotFound = errors.New("key not found in key store")

// KeyStore keeps a device's private material (PKCS#8 keys, the vault key)
// by name. Implementations never keep values in plain text.
type KeyStore interface {
	Kind() string                    // "keychain" or "file"
	Get(name string) ([]byte, error) // ErrKeyNotFound (wrapped) when absent
	Set(name string, value []byte) error
	Delete(name string) error // ErrKeyNotFound (wrapped) when absent
}

var (
	_ KeyStore = (*KeychainStore)(nil)
	_ KeyStore = (*FileStore)(nil)
)

// EnvPassphrase names the environment variable holding the file key
// store's passphrase, for machines where nobody can type it.
const EnvPassphrase = "ASSENT_PASSPHRASE"

// PassphraseFromEnv reads ASSENT_PASSPHRASE; ok is false when it is unset
// or empty.
func PassphraseFromEnv() ([]byte, bool) {
	v := os.Getenv(EnvPassphrase)
	if v == "" {
		return nil, false
	}
	return []byte(v), true
}

// maxKeyNameLen keeps names well inside every keychain's attribute limits.
const maxKeyNameLen = 200

// checkKeyName accepts printable UTF-8 names. Control characters are refused
// so that a name can never collide with the store's own markers.
func checkKeyName(name string) error {
	if name == "" {
		return errors.New("empty key name")
	}
	if len(name) > maxKeyNameLen {
		return fmt.Errorf("key name longer than %d bytes", maxKeyNameLen)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("key name %q is not UTF-8", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("key name %q holds a control character", name)
		}
	}
	return nil
}

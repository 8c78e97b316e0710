package core

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/crypto"
)

const testKeychainService = "Assent core test"

// requireSecretService fails (it does not skip) when no Secret Service
// answers, saying how to run the test with one.
func requireSecretService(t *testing.T) {
	t.Helper()
	k := crypto.NewKeychainStore(testKeychainService, "probe-"+crypto.RandomToken(6))
	if err := k.Check(); err != nil {
		t.Fatalf("%v\nThis test uses the real OS keychain. Run it with 'make test', or:\n"+
			"  dbus-run-session -- sh -c 'echo -n test | gnome-keyring-daemon --unlock --components=secrets; go test ./app/core/'", err)
	}
}

func TestKeychainHomeKeepsItsVaultKeyInTheKeychain(t *testing.T) {
	requireSecretService(t)
	home := filepath.Join(t.TempDir(), "home")
	withService := func(s string) func(*Options) { return func(o *Options) { o.KeychainService = s } }
	c := mustOpen(t, home, withKeyStore(KeyStoreKeychain), withService(testKeychainService))
	t.Cleanup(func() { _ = c.keys.Delete(vaultKeyName) })
	if c.KeyStoreKind() != KeyStoreKeychain {
		t.Fatalf("KeyStoreKind = %q", c.KeyStoreKind())
	}
	if _, err := os.Stat(filepath.Join(home, keyStoreFile)); !os.IsNotExist(err) {
		t.Fatalf("a keychain home has a %s: %v", keyStoreFile, err)
	}
	a := mustAdd(t, c, "otpauth://totp/KeychainIssuer:kay?secret="+rfcSecretB32)
	vault, _ := os.ReadFile(filepath.Join(home, vaultFile))
	if bytes.Contains(vault, []byte("KeychainIssuer")) || bytes.Contains(vault, a.Secret) {
		t.Fatal("the vault holds readable account data")
	}

	// Reopened without --keystore, it finds the keychain and the account.
	c2 := mustOpen(t, home, withKeyStore(""), withService(testKeychainService))
	if c2.KeyStoreKind() != KeyStoreKeychain || len(c2.Accounts()) != 1 || c2.Accounts()[0].ID != a.ID {
		t.Fatalf("reopened: %s store, accounts %v", c2.KeyStoreKind(), labelsOf(c2.Accounts()))
	}

	before := snapshot(t, home)
	// The file store is refused, not switched to.
	if _, err := openHome(home, withKeyStore(KeyStoreFile)); err == nil || !strings.Contains(err.Error(), "keeps its keys in the keychain store") {
		t.Fatalf("Open with --keystore file = %v", err)
	}
	// A keychain without the vault key (another user, another machine)
	// is refused and the vault left alone.
	_, err := openHome(home, withKeyStore(""), withService(testKeychainService+" elsewhere"))
	if err == nil || !strings.Contains(err.Error(), "the keychain key store has no key for the vault") {
		t.Fatalf("Open with a keychain lacking the vault key = %v", err)
	}
	wantSameFiles(t, before, snapshot(t, home))
}

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
)

// requireSecretService fails (it does not skip) when no Secret Service
// answers, saying how to run the test with one.
func requireSecretService(t *testing.T) {
	t.Helper()
	k := crypto.NewKeychainStore("Assent test", "probe-"+crypto.RandomToken(6))
	if err := k.Check(); err != nil {
		t.Fatalf("%v\nThese tests use the real OS keychain. Run them with 'make test', or:\n"+
			"  dbus-run-session -- sh -c 'echo -n test | gnome-keyring-daemon --unlock --components=secrets; go test ./e2e/'", err)
	}
}

func TestDeviceWithKeysInTheOSKeychainSignsIn(t *testing.T) {
	requireSecretService(t)
	e := newEnv(t)
	e.addUser("kay", "correct horse battery")
	home := filepath.Join(t.TempDir(), "home")
	d, err := core.Open(core.Options{Home: home, KeyStore: core.KeyStoreKeychain, KeychainService: "Assent test", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	a, err := d.Enroll(e.ctx, e.link("kay"))
	if err != nil {
		t.Fatal(err)
	}
	// Nothing secret is on disk: the vault is sealed and the device key is
	// in the keychain.
	for _, name := range []string{"config.json", "vault.sealed"} {
		data, err := os.ReadFile(filepath.Join(home, name))
		if err != nil {
			t.Fatal(err)
		}
		if containsAny(data, "BEGIN", "PRIVATE", a.EnrollmentID, "kay") {
			t.Fatalf("%s holds readable account data", name)
		}
	}
	// Reopening the home finds the account and its key.
	d2, err := core.Open(core.Options{Home: home, KeychainService: "Assent test", Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	tx, number := e.startPush("kay")
	p := e.onlyPrompt(d2)
	if out, err := d2.Approve(e.ctx, p, number); err != nil || out != push.OutcomeApproved {
		t.Fatalf("approve = %q, %v", out, err)
	}
	if r, err := e.poll(tx); err != nil || r.Status != "success" {
		t.Fatalf("poll = %+v, %v", r, err)
	}
	// Asking for the other store on an existing home is an error, not a
	// silent switch.
	if _, err := core.Open(core.Options{Home: home, KeyStore: core.KeyStoreFile}); err == nil {
		t.Fatal("opened a keychain home with --keystore file")
	}
	if err := d2.Remove(e.ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
}

func containsAny(data []byte, words ...string) bool {
	for _, w := range words {
		if strings.Contains(string(data), w) {
			return true
		}
	}
	return false
}

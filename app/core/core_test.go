package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
)

// cheapArgon2 keeps the file key store fast under the race detector;
// production uses crypto.DefaultFileKDF.
var cheapArgon2 = crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}

const testPassphrase = "correct horse battery staple"

// openHome opens home with the file key store; change adjusts the options.
func openHome(home string, change ...func(*Options)) (*Core, error) {
	opts := Options{
		Home: home, KeyStore: KeyStoreFile, FileKDF: cheapArgon2, DeviceName: "unit test",
		Passphrase: func() ([]byte, error) { return []byte(testPassphrase), nil },
	}
	for _, f := range change {
		f(&opts)
	}
	return Open(opts)
}

func mustOpen(t *testing.T, home string, change ...func(*Options)) *Core {
	t.Helper()
	c, err := openHome(home, change...)
	if err != nil {
		t.Fatalf("open %s: %v", home, err)
	}
	return c
}

// newHome opens a fresh home in a temporary folder.
func newHome(t *testing.T, change ...func(*Options)) (*Core, string) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	return mustOpen(t, home, change...), home
}

func withClock(c *fakeclock.Clock) func(*Options) { return func(o *Options) { o.Now = c.Now } }

func withKeyStore(kind string) func(*Options) { return func(o *Options) { o.KeyStore = kind } }

func withPassphrase(p string) func(*Options) {
	return func(o *Options) { o.Passphrase = func() ([]byte, error) { return []byte(p), nil } }
}

func totpURI(issuer, name string) string {
	return fmt.Sprintf("otpauth://totp/%s:%s?secret=JBSWY3DPEHPK3PXP&issuer=%s", issuer, name, issuer)
}

func mustAdd(t *testing.T, c *Core, uri string) Account {
	t.Helper()
	a, err := c.AddOTP(uri)
	if err != nil {
		t.Fatalf("AddOTP(%s): %v", uri, err)
	}
	return a
}

// snapshot is every file of a home, name → mode and content, to show that
// something changed nothing.
func snapshot(t *testing.T, home string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(home)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(home, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		info, _ := e.Info()
		out[e.Name()] = info.Mode().String() + " " + string(data)
	}
	return out
}

func wantSameFiles(t *testing.T, before, after map[string]string) {
	t.Helper()
	var diff []string
	for name, b := range before {
		if a, ok := after[name]; !ok {
			diff = append(diff, name+" was removed")
		} else if a != b {
			diff = append(diff, name+" changed")
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok {
			diff = append(diff, name+" appeared")
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Fatalf("the home changed: %s", strings.Join(diff, ", "))
	}
}

// labelsOf lists the accounts' labels in order.
func labelsOf(accts []Account) []string {
	out := []string{}
	for _, a := range accts {
		out = append(out, a.Label())
	}
	return out
}

// encode is a stable form of an account list to compare (times read back
// from JSON carry no monotonic clock reading, fresh ones do).
func encode(t *testing.T, accts []Account) string {
	t.Helper()
	data, err := json.Marshal(accts)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestOpenMakesANewHomeWithConfigAndTheChosenKeyStore(t *testing.T) {
	c, home := newHome(t)
	if c.KeyStoreKind() != KeyStoreFile || c.Home() != home {
		t.Fatalf("KeyStoreKind, Home = %q, %q", c.KeyStoreKind(), c.Home())
	}
	st, err := os.Stat(filepath.Join(home, configFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("config.json mode = %v, want 0600", st.Mode().Perm())
	}
	if st, err := os.Stat(home); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("home mode = %v (%v), want 0700", st.Mode().Perm(), err)
	}
	data, _ := os.ReadFile(filepath.Join(home, configFile))
	var cfg homeConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Version != 1 || cfg.KeyStore != KeyStoreFile || len(cfg.Namespace) < 12 {
		t.Fatalf("config.json = %s", data)
	}
	if _, err := os.Stat(filepath.Join(home, keyStoreFile)); err != nil {
		t.Fatalf("no file key store was made: %v", err)
	}
	if n := len(c.Accounts()); n != 0 {
		t.Fatalf("a new home has %d accounts", n)
	}
	// Two homes get different namespaces (they may share one keychain).
	_, other := newHome(t)
	data2, _ := os.ReadFile(filepath.Join(other, configFile))
	var cfg2 homeConfig
	_ = json.Unmarshal(data2, &cfg2)
	if cfg2.Namespace == cfg.Namespace {
		t.Fatal("two homes share a namespace")
	}
}

func TestOpenRefusesOptionsWithoutWhatItNeeds(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string
	}{
		{"no home folder", func(o *Options) { o.Home = "" }, "no home folder given"},
		{"file store without a way to ask the passphrase", func(o *Options) { o.Passphrase = nil }, "needs a passphrase"},
		{"passphrase that cannot be read", func(o *Options) {
			o.Passphrase = func() ([]byte, error) { return nil, errors.New("no terminal") }
		}, "passphrase: no terminal"},
		{"empty passphrase", withPassphrase(""), "empty passphrase"},
		{"unknown key store", withKeyStore("floppy"), `unknown key store "floppy"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			_, err := openHome(home, tt.change)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open = %v, want an error saying %q", err, tt.wantErr)
			}
			if _, err := os.Stat(filepath.Join(home, configFile)); err == nil {
				t.Fatal("a home that did not open got a config.json")
			}
		})
	}
}

func TestReopenedHomeKeepsItsAccountsAndKeyStore(t *testing.T) {
	c, home := newHome(t)
	a := mustAdd(t, c, totpURI("Example", "alice@example.com"))
	b := mustAdd(t, c, totpURI("Other", "bob"))
	// No --keystore: the home says which.
	c2 := mustOpen(t, home, withKeyStore(""))
	if c2.KeyStoreKind() != KeyStoreFile {
		t.Fatalf("reopened home uses %q", c2.KeyStoreKind())
	}
	got := c2.Accounts()
	if len(got) != 2 || got[0].ID != a.ID || got[1].ID != b.ID || string(got[0].Secret) != string(a.Secret) {
		t.Fatalf("reopened accounts = %v, want %v", labelsOf(got), []string{a.Label(), b.Label()})
	}
}

func TestOpenRefusesAKeyStoreOtherThanTheHomes(t *testing.T) {
	tests := []struct {
		name, homeStore, asked, wantErr string
	}{
		{"keychain asked of a file home", KeyStoreFile, KeyStoreKeychain, "keeps its keys in the file store, not keychain"},
		{"file asked of a keychain home", KeyStoreKeychain, KeyStoreFile, "keeps its keys in the keychain store, not file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			if tt.homeStore == KeyStoreFile {
				mustOpen(t, home)
			} else {
				// Written by hand, so this test needs no Secret Service.
				os.MkdirAll(home, 0o700)
				cfg, _ := json.Marshal(homeConfig{Version: 1, KeyStore: KeyStoreKeychain, Namespace: "ns"})
				os.WriteFile(filepath.Join(home, configFile), cfg, 0o600)
			}
			before := snapshot(t, home)
			_, err := openHome(home, withKeyStore(tt.asked))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open = %v, want an error saying %q", err, tt.wantErr)
			}
			wantSameFiles(t, before, snapshot(t, home))
		})
	}
}

func TestOpenRefusesADamagedConfig(t *testing.T) {
	tests := []struct{ name, config string }{
		{"not JSON", "{\"version\": 1, \"keyStore\": "},
		{"empty", ""},
		{"another version", `{"version":2,"keyStore":"file","namespace":"abc"}`},
		{"unknown key store", `{"version":1,"keyStore":"floppy","namespace":"abc"}`},
		{"no namespace", `{"version":1,"keyStore":"file"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, home := newHome(t)
			mustAdd(t, c, totpURI("Example", "alice"))
			if err := os.WriteFile(filepath.Join(home, configFile), []byte(tt.config), 0o600); err != nil {
				t.Fatal(err)
			}
			before := snapshot(t, home)
			_, err := openHome(home, withKeyStore(""))
			want := fmt.Sprintf("config.json in %s is damaged; it says which key store holds this home's keys", home)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Open = %v, want %q", err, want)
			}
			wantSameFiles(t, before, snapshot(t, home))
		})
	}
}

func TestOpenWithTheWrongPassphraseFailsAndChangesNothing(t *testing.T) {
	c, home := newHome(t)
	mustAdd(t, c, totpURI("Example", "alice"))
	before := snapshot(t, home)
	_, err := openHome(home, withPassphrase("wrong horse"))
	if !errors.Is(err, crypto.ErrWrongPassphrase) {
		t.Fatalf("Open = %v, want ErrWrongPassphrase", err)
	}
	wantSameFiles(t, before, snapshot(t, home))
	// The right one still opens it.
	if n := len(mustOpen(t, home).Accounts()); n != 1 {
		t.Fatalf("%d accounts after a wrong passphrase, want 1", n)
	}
}

func TestOpenRefusesAVaultWhoseKeyTheKeyStoreLacks(t *testing.T) {
	tests := []struct {
		name    string
		lose    func(t *testing.T, home string)
		wantErr string
	}{
		{"key store file deleted", func(t *testing.T, home string) {
			os.Remove(filepath.Join(home, keyStoreFile))
		}, "keystore.json is missing from"},
		{"key store file replaced by a new, empty one", func(t *testing.T, home string) {
			path := filepath.Join(home, keyStoreFile)
			os.Remove(path)
			if _, err := crypto.OpenFileStore(path, []byte(testPassphrase), crypto.FileStoreOptions{KDF: cheapArgon2}); err != nil {
				t.Fatal(err)
			}
		}, "the file key store has no key for the vault in"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, home := newHome(t)
			mustAdd(t, c, totpURI("Example", "alice"))
			tt.lose(t, home)
			before := snapshot(t, home)
			_, err := openHome(home, withKeyStore(""))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("Open = %v, want an error saying %q and that nothing was changed", err, tt.wantErr)
			}
			wantSameFiles(t, before, snapshot(t, home))
		})
	}
}

func TestClientAndListenNeedAnAssentAccount(t *testing.T) {
	c, _ := newHome(t)
	a := mustAdd(t, c, totpURI("Example", "alice"))
	if _, err := c.Client(a); err == nil || !strings.Contains(err.Error(), "Example:alice is not an Assent account") {
		t.Fatalf("Client(totp account) = %v", err)
	}
	if err := c.Listen(t.Context(), Events{}); err == nil || !strings.Contains(err.Error(), "no Assent accounts") {
		t.Fatalf("Listen without Assent accounts = %v", err)
	}
	ps, err := c.Challenges(t.Context())
	if err != nil || len(ps) != 0 {
		t.Fatalf("Challenges without Assent accounts = %v, %v", ps, err)
	}
}

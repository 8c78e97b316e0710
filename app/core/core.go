package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
)

// Options open a home.
type Options struct {
	// Home is the folder holding config, vault and (file store) keys.
	Home string
	// KeyStore is "keychain" or "file"; empty means what the home already
	// uses, or DefaultKeyStore for a new home.
	KeyStore string
	// Passphrase is asked when the file store is opened.
	Passphrase func() ([]byte, error)
	// FileKDF overrides the file store's Argon2id costs (tests).
	FileKDF crypto.Argon2Params
	// KeychainService names the keychain service (tests use their own).
	KeychainService string
	HTTP            *http.Client
	Now             func() time.Time
	// DeviceName is how enrolled devices call themselves; the host name by
	// default.
	DeviceName string
	// LockKDF overrides the Argon2id costs of the app lock's hash (tests).
	LockKDF crypto.Argon2Params
}

// DefaultKeyStore is the key store of a new home: the OS keychain, except
// on Android, where the encrypted file store is the one that works
// everywhere.
func DefaultKeyStore() string {
	if runtime.GOOS == "android" {
		return KeyStoreFile
	}
	return KeyStoreKeychain
}

// DefaultHome is where accounts live when --home is not given.
func DefaultHome() (string, error) {
	if h := os.Getenv("ASSENT_HOME"); h != "" {
		return h, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no home folder for Assent: %w (give --home or ASSENT_HOME)", err)
	}
	return filepath.Join(dir, "assent"), nil
}

// Core is an opened home.
type Core struct {
	opts  Options
	home  string
	cfg   homeConfig
	keys  crypto.KeyStore
	seal  *crypto.Sealer
	mu    sync.Mutex
	vault vault
	// throttle slows down guessing the app lock.
	throttle throttle
	// clocks are what each enrollment knows of its server's clock (by
	// enrollment id), shared by the Clients made for it.
	clocks sync.Map
}

// Open opens (or creates) a home and its key store.
func Open(opts Options) (*Core, error) {
	if opts.Home == "" {
		return nil, errors.New("open: no home folder given")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.HTTP == nil {
		opts.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.KeychainService == "" {
		opts.KeychainService = "Assent"
	}
	if opts.DeviceName == "" {
		if h, err := os.Hostname(); err == nil {
			opts.DeviceName = h
		} else {
			opts.DeviceName = runtime.GOOS + " device"
		}
	}
	if err := os.MkdirAll(opts.Home, 0o700); err != nil {
		return nil, fmt.Errorf("create home %s: %w", opts.Home, err)
	}
	cfg, err := readHomeConfig(opts.Home)
	if err != nil {
		return nil, err
	}
	fresh := cfg == nil
	if fresh {
		kind := opts.KeyStore
		if kind == "" {
			kind = DefaultKeyStore()
		}
		cfg = &homeConfig{Version: 1, KeyStore: kind, Namespace: crypto.RandomToken(12)}
	}
	if opts.KeyStore != "" && opts.KeyStore != cfg.KeyStore {
		return nil, fmt.Errorf("home %s keeps its keys in the %s store, not %s; leave out --keystore or use another --home", opts.Home, cfg.KeyStore, opts.KeyStore)
	}
	c := &Core{opts: opts, home: opts.Home, cfg: *cfg}
	if err := c.openKeyStore(); err != nil {
		return nil, err
	}
	if fresh {
		data, _ := json.MarshalIndent(cfg, "", "  ")
		if err := writeFileAtomic(filepath.Join(opts.Home, configFile), data, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", configFile, err)
		}
	}
	if err := c.openVault(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Core) openKeyStore() error {
	switch c.cfg.KeyStore {
	case KeyStoreKeychain:
		k := crypto.NewKeychainStore(c.opts.KeychainService, c.cfg.Namespace)
		if err := k.Check(); err != nil {
			return err
		}
		c.keys = k
	case KeyStoreFile:
		if c.opts.Passphrase == nil {
			return errors.New("the file key store needs a passphrase: set ASSENT_PASSPHRASE or run in a terminal")
		}
		path := filepath.Join(c.home, keyStoreFile)
		// OpenFileStore makes a missing store; beside an existing vault
		// that would be an empty store the vault can never open with.
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(filepath.Join(c.home, vaultFile)); err == nil {
				return fmt.Errorf("%s is missing from %s, so the vault beside it cannot be opened; nothing was changed (restore %s, or use another --home)", keyStoreFile, c.home, keyStoreFile)
			}
		}
		pass, err := c.opts.Passphrase()
		if err != nil {
			return fmt.Errorf("passphrase: %w", err)
		}
		fs, err := crypto.OpenFileStore(path, pass, crypto.FileStoreOptions{KDF: c.opts.FileKDF})
		if err != nil {
			return err
		}
		c.keys = fs
	default:
		return fmt.Errorf("unknown key store %q: want keychain or file", c.cfg.KeyStore)
	}
	return nil
}

// KeyStoreKind is the kind of key store this home uses.
func (c *Core) KeyStoreKind() string { return c.cfg.KeyStore }

// Home is the home folder.
func (c *Core) Home() string { return c.home }

func (c *Core) now() time.Time { return c.opts.Now() }

// deviceKeyName is the key store entry of an enrollment's private key.
func deviceKeyName(enrollmentID string) string { return "device/" + enrollmentID }

// match finds accounts by id, or by a case-insensitive part of
// "issuer:name".
func match(accts []Account, query string) []Account {
	for _, a := range accts {
		if a.ID == query {
			return []Account{a}
		}
	}
	q := strings.ToLower(query)
	var out []Account
	for _, a := range accts {
		if strings.Contains(strings.ToLower(a.Label()), q) {
			out = append(out, a)
		}
	}
	return out
}

// Find returns the one account a query names.
func (c *Core) Find(query string) (Account, error) {
	accts := c.Accounts()
	if query == "" {
		if len(accts) == 1 {
			return accts[0], nil
		}
		if len(accts) == 0 {
			return Account{}, errors.New("no accounts yet: add one with 'assent enroll LINK|QR.png'")
		}
		return Account{}, fmt.Errorf("%d accounts: say which (%s)", len(accts), labels(accts))
	}
	m := match(accts, query)
	switch len(m) {
	case 0:
		return Account{}, fmt.Errorf("no account matches %q (accounts: %s)", query, labels(accts))
	case 1:
		return m[0], nil
	}
	return Account{}, fmt.Errorf("%q matches %d accounts (%s): say which by id", query, len(m), labels(m))
}

func labels(accts []Account) string {
	var s []string
	for _, a := range accts {
		s = append(s, a.Label())
	}
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// Package core is the authenticator without a window: accounts (Assent
// enrollments and third-party TOTP/HOTP), the sealed vault, device keys in a
// key store, and answering push challenges. The Fyne app (app/ui) and the
// headless `assent` command are both thin layers over it.
package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Key store kinds.
const (
	KeyStoreKeychain = "keychain"
	KeyStoreFile     = "file"
)

// homeConfig is the unencrypted description of a home folder: which key
// store holds its secrets and under which namespace.
type homeConfig struct {
	Version   int    `json:"version"`
	KeyStore  string `json:"keyStore"`
	Namespace string `json:"namespace"`
}

const (
	configFile   = "config.json"
	vaultFile    = "vault.sealed"
	keyStoreFile = "keystore.json"
	lockFile     = "vault.lock"
)

func readHomeConfig(home string) (*homeConfig, error) {
	data, err := os.ReadFile(filepath.Join(home, configFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", configFile, err)
	}
	var c homeConfig
	if err := json.Unmarshal(data, &c); err != nil || c.Version != 1 || c.Namespace == "" ||
		(c.KeyStore != KeyStoreKeychain && c.KeyStore != KeyStoreFile) {
		return nil, fmt.Errorf("%s in %s is damaged; it says which key store holds this home's keys (keychain or file)", configFile, home)
	}
	return &c, nil
}

// writeFileAtomic replaces path with data so that a crash or a full disk
// leaves either the old file or the new one, never a mix.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// homeLock serialises changes to a home between processes (the app and a
// CLI may share one) with an OS file lock on vault.lock. The OS drops the
// lock when its process dies, so a killed process never leaves a home
// locked.
type homeLock struct{ f *os.File }

// lockWait is how long a change waits for another process's lock; a
// variable only so tests need not wait ten seconds.
var lockWait = 10 * time.Second

func lockHome(home string) (*homeLock, error) {
	path := filepath.Join(home, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", home, err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		if ok {
			return &homeLock{f: f}, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%s is in use by another Assent process (still locked after %s); try again when it is done", home, lockWait)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (l *homeLock) unlock() {
	unlockFile(l.f)
	l.f.Close()
}

// HomeKeyStore says which key store the home at path keeps its keys in,
// or "" when the folder is not a home yet (the app asks a new home's
// passphrase twice).
func HomeKeyStore(home string) (string, error) {
	cfg, err := readHomeConfig(home)
	if err != nil || cfg == nil {
		return "", err
	}
	return cfg.KeyStore, nil
}

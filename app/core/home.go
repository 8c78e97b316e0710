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
// CLI may share one): an exclusive lock file, taken over when stale.
type homeLock struct{ path string }

// lockStale is the age after which a lock file is taken to be left by a
// process that died holding it.
const lockStale = 30 * time.Second

// lockWait is how long a change waits for another process's lock; a
// variable only so tests need not wait ten seconds.
var lockWait = 10 * time.Second

func lockHome(home string) (*homeLock, error) {
	path := filepath.Join(home, lockFile)
	deadline := time.Now().Add(lockWait)
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			fmt.Fprintf(f, "%d\n", os.Getpid())
			f.Close()
			return &homeLock{path: path}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("lock %s: %w", home, err)
		}
		if st, err := os.Stat(path); err == nil && time.Since(st.ModTime()) > lockStale {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s is still locked by another Assent process after %s (remove %s if none is running)", home, lockWait, path)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (l *homeLock) unlock() { os.Remove(l.path) }

package server

import (
	"context"
	"crypto/ecdsa"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store"
)

// SealKeyEnv names the environment variable that may carry the sealing key
// (base64, 32 bytes) instead of the key file.
const SealKeyEnv = "ASSENT_SEAL_KEY"

// SealKeyFile is the key file in the data folder.
const SealKeyFile = "assentd.key"

// LoadSealKey returns the key that seals secrets at rest: from
// ASSENT_SEAL_KEY when set, else from the key file in the data folder, which
// is created (0600) on first run. Several nodes share one key by sharing the
// environment variable.
func LoadSealKey(dataDir string, getenv func(string) string) ([]byte, error) {
	if v := strings.TrimSpace(getenv(SealKeyEnv)); v != "" {
		k, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(k) != crypto.SealKeySize {
			return nil, fmt.Errorf("%s must be %d bytes in base64 (make one with: head -c 32 /dev/urandom | base64)", SealKeyEnv, crypto.SealKeySize)
		}
		return k, nil
	}
	path := filepath.Join(dataDir, SealKeyFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data folder: %w", err)
		}
		k := crypto.RandomBytes(crypto.SealKeySize)
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create key file: %w", err)
		}
		_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
		serr := f.Sync()
		cerr := f.Close()
		if err := errors.Join(werr, serr, cerr); err != nil {
			os.Remove(path)
			return nil, fmt.Errorf("write key file %s: %w", path, err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(k) != crypto.SealKeySize {
		return nil, fmt.Errorf("key file %s is damaged: want %d bytes in base64; restore it from a backup (without it sealed secrets cannot be read)", path, crypto.SealKeySize)
	}
	return k, nil
}

const signingKeySecret = "signing-key"

// loadSigningKey returns the server's challenge-signing key, creating and
// storing it (sealed) on first run. Racing nodes agree on the first one.
func loadSigningKey(ctx context.Context, st store.Store, sealer *crypto.Sealer) (*ecdsa.PrivateKey, error) {
	aad := []byte("assent:" + signingKeySecret)
	sealed, err := st.GetSecret(ctx, signingKeySecret)
	if errors.Is(err, store.ErrNotFound) {
		k, err := crypto.NewDeviceKey()
		if err != nil {
			return nil, err
		}
		der, err := crypto.MarshalPrivateKey(k)
		if err != nil {
			return nil, err
		}
		sealed, err = st.PutSecretIfAbsent(ctx, signingKeySecret, sealer.Seal(der, aad))
		if err != nil {
			return nil, fmt.Errorf("store signing key: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("load signing key: %w", err)
	}
	der, err := sealer.Open(sealed, aad)
	if err != nil {
		return nil, fmt.Errorf("open signing key: %w: the sealing key (%s or %s) is not the one this database was made with", err, SealKeyFile, SealKeyEnv)
	}
	return crypto.ParsePrivateKey(der)
}

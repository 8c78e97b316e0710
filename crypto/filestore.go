package crypto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"golang.org/x/crypto/argon2"

	"github.com/seed-3a5b824e/assent/internal/durable"
)

// DefaultFileKDF derives the file key store's key: Argon2id, three passes
// over 64 MiB with four lanes (RFC 9106's second recommended option). The
// passphrase is the only thing between a stolen file and the device keys,
// so this is costlier than DefaultArgon2, which a server pays per login.
var DefaultFileKDF = Argon2Params{Time: 3, Memory: 64 * 1024, Threads: 4}

// Errors callers of OpenFileStore branch on.
var (
	ErrWrongPassphrase = errors.New("file key store: wrong passphrase (check " + EnvPassphrase + " or what was typed)")
	ErrEmptyPassphrase = errors.New("file key store: an empty passphrase is refused (set " + EnvPassphrase + " or type one)")
	ErrCorruptKeyStore = errors.New("file key store is damaged or not a key store")
)

const (
	fileStoreFormat = "assent-keystore-v1"
	// The check value seals a constant under an aad that no entry name can
	// be (names hold no control characters).
	fileStoreCheckAAD   = "\x00assent-keystore-check"
	fileStoreCheckValue = "assent-keystore-check"
	fileStoreSaltSize   = 16
	// maxFileStoreSize bounds what OpenFileStore reads: a few keys take a
	// few kilobytes.
	maxFileStoreSize = 4 << 20
)

// FileStoreOptions configure a new file key store.
type FileStoreOptions struct {
	// KDF applies when the store is created; an existing store keeps the
	// parameters in its file. Zero means DefaultFileKDF.
	KDF Argon2Params
}

// fileStoreFile is the file's JSON. Only the KDF parameters, the salt and
// the entry names are in plain text.
type fileStoreFile struct {
	Format string `json:"format"`
	KDF    struct {
		Algorithm string `json:"algorithm"`
		Version   int    `json:"version"`
		Time      uint32 `json:"time"`
		MemoryKiB uint32 `json:"memory_kib"`
		Threads   uint8  `json:"threads"`
		Salt      []byte `json:"salt"` // base64 (encoding/json's []byte form)
	} `json:"kdf"`
	// Check is the sealed check value: a wrong passphrase is told apart
	// from a damaged entry.
	Check []byte `json:"check"`
	// Entries map a name to base64(nonce || AES-256-GCM ciphertext), with
	// the name as additional data so that entries cannot be swapped.
	Entries map[string][]byte `json:"entries"`
}

// FileStore is an encrypted key store in one file, for machines with no
// keychain (Android, headless Linux) or users who ask for one. The key is
// Argon2id(passphrase, salt); each entry is sealed with AES-256-GCM.
//
// Writes replace the file atomically, so a crash or a full disk leaves
// either the old store or the new one. A FileStore is safe for concurrent
// use; two processes writing one store concurrently are not supported
// (the last write wins).
type FileStore struct {
	path   string
	sealer *Sealer

	mu      sync.Mutex
	file    fileStoreFile     // header as read or created; Entries unused
	entries map[string][]byte // name -> sealed value
}

// OpenFileStore opens the store at path with passphrase, creating it (file
// mode 0600, parent directory 0700) if it does not exist.
func OpenFileStore(path string, passphrase []byte, opts FileStoreOptions) (*FileStore, error) {
	if len(passphrase) == 0 {
		return nil, ErrEmptyPassphrase
	}
	data, err := readFileStore(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return createFileStore(path, passphrase, opts)
	case err != nil:
		return nil, fmt.Errorf("file key store %s: %w", path, err)
	}

	var f fileStoreFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, corrupt(path, "%v", err)
	}
	if f.Format != fileStoreFormat {
		return nil, corrupt(path, "format %q, want %q", f.Format, fileStoreFormat)
	}
	kdf := Argon2Params{Time: f.KDF.Time, Memory: f.KDF.MemoryKiB, Threads: f.KDF.Threads}
	if f.KDF.Algorithm != "argon2id" || f.KDF.Version != argon2.Version {
		return nil, corrupt(path, "KDF %s version %d, want argon2id version %d", f.KDF.Algorithm, f.KDF.Version, argon2.Version)
	}
	if err := kdf.Validate(); err != nil {
		return nil, corrupt(path, "%v", err)
	}
	if len(f.KDF.Salt) < fileStoreSaltSize || len(f.KDF.Salt) > 64 {
		return nil, corrupt(path, "salt of %d bytes", len(f.KDF.Salt))
	}
	for name := range f.Entries {
		if err := checkKeyName(name); err != nil {
			return nil, corrupt(path, "entry: %v", err)
		}
	}

	if len(f.Check) == 0 {
		return nil, corrupt(path, "no check value")
	}
	s, err := newFileStore(path, passphrase, kdf, f.KDF.Salt)
	if err != nil {
		return nil, err
	}
	check, err := s.sealer.Open(f.Check, []byte(fileStoreCheckAAD))
	if err != nil || string(check) != fileStoreCheckValue {
		return nil, fmt.Errorf("open %s: %w", path, ErrWrongPassphrase)
	}
	s.entries = f.Entries
	if s.entries == nil {
		s.entries = map[string][]byte{}
	}
	f.Entries = nil
	s.file = f
	return s, nil
}

func corrupt(path, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrCorruptKeyStore, path, fmt.Sprintf(format, args...))
}

func readFileStore(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("not a regular file")
	}
	if st.Size() > maxFileStoreSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCorruptKeyStore, maxFileStoreSize)
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func newFileStore(path string, passphrase []byte, kdf Argon2Params, salt []byte) (*FileStore, error) {
	key := argon2.IDKey(passphrase, salt, kdf.Time, kdf.Memory, kdf.Threads, SealKeySize)
	sealer, err := NewSealer(key)
	clear(key)
	if err != nil {
		return nil, fmt.Errorf("file key store %s: %w", path, err)
	}
	return &FileStore{path: path, sealer: sealer}, nil
}

func createFileStore(path string, passphrase []byte, opts FileStoreOptions) (*FileStore, error) {
	kdf := opts.KDF
	if kdf == (Argon2Params{}) {
		kdf = DefaultFileKDF
	}
	if err := kdf.Validate(); err != nil {
		return nil, fmt.Errorf("file key store %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("file key store %s: %w", path, err)
	}
	salt := RandomBytes(fileStoreSaltSize)
	s, err := newFileStore(path, passphrase, kdf, salt)
	if err != nil {
		return nil, err
	}
	s.file.Format = fileStoreFormat
	s.file.KDF.Algorithm = "argon2id"
	s.file.KDF.Version = argon2.Version
	s.file.KDF.Time, s.file.KDF.MemoryKiB, s.file.KDF.Threads = kdf.Time, kdf.Memory, kdf.Threads
	s.file.KDF.Salt = salt
	s.file.Check = s.sealer.Seal([]byte(fileStoreCheckValue), []byte(fileStoreCheckAAD))
	s.entries = map[string][]byte{}
	if _, err := s.save(s.entries); err != nil {
		return nil, fmt.Errorf("file key store %s: create: %w", path, err)
	}
	return s, nil
}

// Kind is "file".
func (s *FileStore) Kind() string { return "file" }

// Path is the store's file.
func (s *FileStore) Path() string { return s.path }

// Get returns the value stored under name.
func (s *FileStore) Get(name string) ([]byte, error) {
	if err := checkKeyName(name); err != nil {
		return nil, fmt.Errorf("file key store %s: get: %w", s.path, err)
	}
	s.mu.Lock()
	sealed, ok := s.entries[name]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("file key store %s: get %q: %w", s.path, name, ErrKeyNotFound)
	}
	v, err := s.sealer.Open(sealed, []byte(name))
	if err != nil {
		// The passphrase opened the check value, so the entry itself was
		// changed.
		return nil, fmt.Errorf("%w: %s: entry %q: %v", ErrCorruptKeyStore, s.path, name, err)
	}
	return v, nil
}

// Set stores value under name, replacing what was there. On error the file
// and the store are as before.
func (s *FileStore) Set(name string, value []byte) error {
	if err := checkKeyName(name); err != nil {
		return fmt.Errorf("file key store %s: set: %w", s.path, err)
	}
	sealed := s.sealer.Seal(value, []byte(name))
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(s.entries)
	next[name] = sealed
	return s.commit("set", name, next)
}

// Delete removes name. On error the file and the store are as before.
func (s *FileStore) Delete(name string) error {
	if err := checkKeyName(name); err != nil {
		return fmt.Errorf("file key store %s: delete: %w", s.path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[name]; !ok {
		return fmt.Errorf("file key store %s: delete %q: %w", s.path, name, ErrKeyNotFound)
	}
	next := maps.Clone(s.entries)
	delete(next, name)
	return s.commit("delete", name, next)
}

// commit writes next and makes it the store's state once it is in place.
func (s *FileStore) commit(op, name string, next map[string][]byte) error {
	replaced, err := s.save(next)
	if replaced {
		// The file now holds next, even if syncing its directory failed:
		// memory follows the file.
		s.entries = next
	}
	if err != nil {
		return fmt.Errorf("file key store %s: %s %q: %w", s.path, op, name, err)
	}
	return nil
}

// save writes the store with entries to a temporary file in the same
// directory, syncs it, renames it over the store and syncs the directory.
// replaced says whether the rename happened.
func (s *FileStore) save(entries map[string][]byte) (replaced bool, err error) {
	f := s.file
	f.Entries = entries
	data, err := json.MarshalIndent(&f, "", "  ")
	if err != nil {
		return false, err
	}
	data = append(data, '\n')

	dir := filepath.Dir(s.path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(s.path)+".tmp*")
	if err != nil {
		return false, err
	}
	defer func() {
		if !replaced {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes 0600 files already; Chmod says so where the
	// platform honours it.
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return false, err
	}
	if _, err := tmp.Write(data); err != nil {
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		return false, err
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		return false, err
	}
	if err := durable.SyncDir(dir); err != nil {
		return true, fmt.Errorf("saved, but syncing %s failed: %w", dir, err)
	}
	return true, nil
}

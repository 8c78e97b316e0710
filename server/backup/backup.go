// Package backup makes and restores assentd backups: one file that holds a
// consistent copy of the SQLite database, taken while the server runs, and
// the sealing key that opens the secrets sealed inside it, the whole file
// encrypted under a passphrase the operator chooses.
//
// # File format (version 1)
//
//	magic     8 bytes  "ASSENTBK"
//	version   1 byte   1
//	hlen      4 bytes  big-endian length of the header, at most 64 KiB
//	header    hlen bytes of JSON (see Header): KDF parameters and salt,
//	          chunk size, database size, creation time; in plain text
//	key       4-byte length, then the sealing key sealed with the file key
//	chunks    the database in chunks of ChunkSize bytes (the last one
//	          shorter, possibly empty), each a 4-byte length and the chunk
//	          sealed with the file key
//
// The file key is Argon2id(passphrase, salt) with the header's parameters;
// sealing is AES-256-GCM (crypto.Sealer: random nonce, then ciphertext and
// tag). Every sealed part's additional data names what it is and carries the
// SHA-256 of everything before the key (magic, version, hlen, header), and a
// chunk's also carries its index and whether it is the last: a changed
// header, a chunk moved, dropped or swapped, and a file cut short at a chunk
// boundary all fail to open. Nothing of the database is in plain text.
//
// A wrong passphrase and a changed header are the same failure (the key does
// not open), reported as ErrPassphrase; damage after the key is
// ErrDamaged. Restore writes nothing until the whole file has opened and the
// copy has passed SQLite's integrity check.
package backup

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/durable"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

const (
	// Magic starts every backup file.
	Magic = "ASSENTBK"
	// Version is the format this package writes; it reads this one only.
	Version = 1
	// Format names the format in the header.
	Format = "assent-backup-v1"
	// ChunkSize is how much of the database each sealed chunk holds.
	ChunkSize = 1 << 20
	// MinPassphrase is the shortest passphrase accepted, in characters.
	// The file can be attacked offline for as long as it exists, so this
	// is longer than the minimum for a sign-in password (12), which the
	// server throttles.
	MinPassphrase = 15

	// DBFile is the database's name in the data folder (server.Config.DBPath).
	DBFile = "assent.db"

	maxHeader = 64 << 10
	// maxChunk bounds a chunk size read from a header.
	maxChunk  = 16 << 20
	saltSize  = 16
	sealExtra = 12 + 16 // GCM nonce and tag

	// The signing key's secret, as server/keys.go names and seals it: the
	// one sealed value every database has, used to check that a key and a
	// database belong together.
	signingKeySecret = "signing-key"
	signingKeyAAD    = "assent:" + signingKeySecret
)

// DefaultKDF derives the file key. The passphrase is all that stands
// between a copied backup and the key to every sealed secret, so it costs
// what the file key store pays (crypto.DefaultFileKDF), not a sign-in.
var DefaultKDF = crypto.DefaultFileKDF

// Errors callers branch on; the returned errors wrap them with details.
var (
	ErrPassphrase    = errors.New("the passphrase does not open this backup (a wrong passphrase, or the file's header was changed)")
	ErrDamaged       = errors.New("the backup file is damaged")
	ErrNotBackup     = errors.New("not an Assent backup file")
	ErrNotEmpty      = errors.New("the data folder already holds Assent data")
	ErrExists        = errors.New("the backup file exists already")
	ErrShortPassword = fmt.Errorf("the passphrase must be at least %d characters", MinPassphrase)
)

// Header is the backup file's plain-text header.
type Header struct {
	Format string `json:"format"`
	// Created is when the copy was taken (UTC).
	Created time.Time `json:"created"`
	// Database is "sqlite", the one kind a backup holds.
	Database string `json:"database"`
	// DatabaseSize is the database copy's size in bytes.
	DatabaseSize int64 `json:"databaseSize"`
	// ChunkSize is the size of every chunk but the last.
	ChunkSize int `json:"chunkSize"`
	// KeyFrom says where the sealing key came from on the backed-up
	// server: "file" (assentd.key) or "env" (ASSENT_SEAL_KEY).
	KeyFrom string `json:"keyFrom"`
	KDF     KDF    `json:"kdf"`
}

// KDF are the Argon2id parameters and salt of the file key.
type KDF struct {
	Algorithm string `json:"algorithm"` // "argon2id"
	Version   int    `json:"version"`   // argon2.Version
	Time      uint32 `json:"time"`
	MemoryKiB uint32 `json:"memoryKiB"`
	Threads   uint8  `json:"threads"`
	Salt      []byte `json:"salt"`
}

func (k KDF) params() crypto.Argon2Params {
	return crypto.Argon2Params{Time: k.Time, Memory: k.MemoryKiB, Threads: k.Threads}
}

// CheckPassphrase refuses passphrases too short to stand an offline attack.
func CheckPassphrase(p []byte) error {
	if !utf8.Valid(p) {
		return errors.New("the passphrase is not valid UTF-8 text")
	}
	if n := utf8.RuneCount(p); n < MinPassphrase {
		return fmt.Errorf("%w; this one has %d: use several words (a sentence is fine)", ErrShortPassword, n)
	}
	return nil
}

// Options say what to back up and how.
type Options struct {
	// DataDir is the server's data folder: the SQLite database and, unless
	// ASSENT_SEAL_KEY is set, the key file.
	DataDir string
	// Getenv reads ASSENT_SEAL_KEY; nil means os.Getenv.
	Getenv func(string) string
	// Passphrase encrypts the file; see CheckPassphrase.
	Passphrase []byte
	// KDF are the Argon2id costs; zero means DefaultKDF.
	KDF crypto.Argon2Params
	// Force replaces an existing file at the output path.
	Force bool
	// Now stamps the header; nil means time.Now.
	Now func() time.Time
}

// Result describes a backup made.
type Result struct {
	Path         string
	Created      time.Time
	DatabaseSize int64
	FileSize     int64
	KeyFrom      string
}

// Backup writes a backup of the SQLite database in o.DataDir, and of its
// sealing key, to out. The server may be running: the copy is one
// consistent snapshot (VACUUM INTO) that does not hold up its writes. The
// file appears at out whole or not at all; an existing file is refused
// unless o.Force.
func Backup(ctx context.Context, out string, o Options) (Result, error) {
	if err := CheckPassphrase(o.Passphrase); err != nil {
		return Result{}, err
	}
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	kdf := o.KDF
	if kdf == (crypto.Argon2Params{}) {
		kdf = DefaultKDF
	}
	if err := kdf.Validate(); err != nil {
		return Result{}, err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if err := CheckOutput(out, o.Force); err != nil {
		return Result{}, err
	}
	if err := CheckNotData(out, o.DataDir); err != nil {
		return Result{}, err
	}
	dbPath := filepath.Join(o.DataDir, DBFile)
	if fi, err := os.Stat(dbPath); err != nil || !fi.Mode().IsRegular() {
		return Result{}, fmt.Errorf("there is no database at %s (give the server's --data folder; a server on PostgreSQL is backed up with pg_dump, see the README)", dbPath)
	}
	key, keyKind, keyFrom, err := loadKey(o.DataDir, getenv)
	if err != nil {
		return Result{}, err
	}

	// The plain copy lives for a moment beside the database it copies,
	// where plain data is already, never beside the backup.
	snap, err := os.CreateTemp(o.DataDir, ".assent-backup-*.db")
	if err != nil {
		return Result{}, fmt.Errorf("make the copy in %s: %w", o.DataDir, err)
	}
	snap.Close()
	defer removeDB(snap.Name())
	// Not sqlite.Open: that would migrate the live file and checkpoint it
	// on close, holding up the server's writes.
	created := now().UTC().Truncate(time.Second)
	if err := sqlite.BackupFile(ctx, dbPath, snap.Name()); err != nil {
		return Result{}, err
	}
	if err := checkCopy(ctx, snap.Name(), key); err != nil {
		if errors.Is(err, errKeyMismatch) {
			return Result{}, fmt.Errorf("the sealing key (%s) does not open this database's secrets, so a backup with it would be useless: "+
				"if the server takes %s, run the backup with the same value", keyFrom, server.SealKeyEnv)
		}
		return Result{}, fmt.Errorf("the database copy fails its check, so no backup was written: %w", err)
	}
	in, err := os.Open(snap.Name())
	if err != nil {
		return Result{}, err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return Result{}, err
	}

	h := Header{
		Format: Format, Created: created, Database: "sqlite", DatabaseSize: fi.Size(), ChunkSize: ChunkSize, KeyFrom: keyKind,
		KDF: KDF{Algorithm: "argon2id", Version: argon2.Version, Time: kdf.Time, MemoryKiB: kdf.Memory, Threads: kdf.Threads,
			Salt: crypto.RandomBytes(saltSize)},
	}
	size, err := writeAtomically(out, o.Force, func(w io.Writer) error {
		return encode(w, h, o.Passphrase, key, in)
	})
	if err != nil {
		return Result{}, err
	}
	return Result{Path: out, Created: created, DatabaseSize: fi.Size(), FileSize: size, KeyFrom: keyFrom}, nil
}

// loadKey reads the sealing key as the server does, but never makes one:
// LoadSealKey creates a key file when there is none, and a backup with a
// key the database was not sealed with would be worthless.
// kind is "file" or "env"; from names the file or the variable.
func loadKey(dataDir string, getenv func(string) string) (key []byte, kind, from string, err error) {
	kind = "file"
	if strings.TrimSpace(getenv(server.SealKeyEnv)) != "" {
		kind = "env"
	} else if _, err := os.Stat(filepath.Join(dataDir, server.SealKeyFile)); err != nil {
		return nil, "", "", fmt.Errorf("there is no sealing key: %s is not set and %s cannot be read (%v); "+
			"the database's secrets cannot be opened without it, so run the backup where the server's key is",
			server.SealKeyEnv, filepath.Join(dataDir, server.SealKeyFile), err)
	}
	key, err = server.LoadSealKey(dataDir, getenv)
	if err != nil {
		return nil, "", "", err
	}
	if kind == "env" {
		return key, kind, server.SealKeyEnv, nil
	}
	return key, kind, filepath.Join(dataDir, server.SealKeyFile), nil
}

// CheckOutput says whether a backup may be written at out: its folder
// exists, and out is no folder, and no file unless force is set.
func CheckOutput(out string, force bool) error {
	if out == "" {
		return errors.New("say where to write the backup: assentd backup FILE")
	}
	if fi, err := os.Stat(filepath.Dir(out)); err != nil || !fi.IsDir() {
		return fmt.Errorf("the folder %s does not exist: make it first, or give another place for the backup", filepath.Dir(out))
	}
	fi, err := os.Stat(out)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("%s is a folder: give a file name, e.g. %s", out, filepath.Join(out, "assent-"+time.Now().Format("2006-01-02")+".backup"))
	case err == nil && !force:
		return fmt.Errorf("%w: %s (give another name, or --force to replace it)", ErrExists, out)
	case err == nil && !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file; --force replaces files only", out)
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("backup file %s: %w", out, err)
	}
	return nil
}

// CheckNotData refuses an output that names one of the data folder's own
// files (the database, its journals, the key file, the space reserve),
// however the folder is spelt: the finished backup is renamed over out,
// which with --force would replace the live database or the sealing key.
func CheckNotData(out, dataDir string) error {
	dirOut, err := os.Stat(filepath.Dir(out))
	if err != nil {
		return nil // CheckOutput reported it
	}
	dirData, err := os.Stat(dataDir)
	if err != nil || !os.SameFile(dirOut, dirData) {
		return nil
	}
	base := filepath.Base(out)
	if slices.Contains(dataNames, base) || base == DBFile+"-reserve" {
		return fmt.Errorf("%s is the server's own %s in its data folder %s: give the backup another name or place", out, base, dataDir)
	}
	return nil
}

func removeDB(path string) {
	for _, suffix := range []string{"", "-journal", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
}

// headerBytes is magic, version, hlen and the header: what every sealed
// part's additional data commits to.
func headerBytes(h Header) ([]byte, error) {
	js, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	if len(js) > maxHeader {
		return nil, errors.New("backup header too large")
	}
	b := append([]byte(Magic), Version)
	b = binary.BigEndian.AppendUint32(b, uint32(len(js)))
	return append(b, js...), nil
}

func keyAAD(hsum []byte) []byte {
	return append([]byte("assent-backup-v1 sealing key\x00"), hsum...)
}

func chunkAAD(hsum []byte, i uint64, last bool) []byte {
	b := append([]byte("assent-backup-v1 database chunk\x00"), hsum...)
	b = binary.BigEndian.AppendUint64(b, i)
	if last {
		return append(b, 1)
	}
	return append(b, 0)
}

func fileSealer(passphrase []byte, k KDF) (*crypto.Sealer, error) {
	return crypto.NewSealer(argon2.IDKey(passphrase, k.Salt, k.Time, k.MemoryKiB, k.Threads, crypto.SealKeySize))
}

// encode writes the backup of db (h.DatabaseSize bytes) to w.
func encode(w io.Writer, h Header, passphrase, key []byte, db io.Reader) error {
	hb, err := headerBytes(h)
	if err != nil {
		return err
	}
	hsum := sha256.Sum256(hb)
	sealer, err := fileSealer(passphrase, h.KDF)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.Write(hb); err != nil {
		return err
	}
	if err := writePart(bw, sealer.Seal(key, keyAAD(hsum[:]))); err != nil {
		return err
	}
	n := max(1, (h.DatabaseSize+int64(h.ChunkSize)-1)/int64(h.ChunkSize))
	buf := make([]byte, h.ChunkSize)
	for i := range n {
		want := min(int64(h.ChunkSize), h.DatabaseSize-i*int64(h.ChunkSize))
		if _, err := io.ReadFull(db, buf[:want]); err != nil {
			return fmt.Errorf("read the database copy: %w", err)
		}
		if err := writePart(bw, sealer.Seal(buf[:want], chunkAAD(hsum[:], uint64(i), i == n-1))); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func writePart(w io.Writer, b []byte) error {
	var l [4]byte
	binary.BigEndian.PutUint32(l[:], uint32(len(b)))
	if _, err := w.Write(l[:]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// writeAtomically writes a new file at path through a temporary file in
// the same folder, synced, then put in place: renamed over an existing file
// when replace is set, else linked, which fails rather than replace a file
// that appeared meanwhile. It returns the file's size.
func writeAtomically(path string, replace bool, write func(io.Writer) error) (size int64, err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	if err := tmp.Chmod(0o600); err != nil && runtime.GOOS != "windows" {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := write(tmp); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	fi, err := tmp.Stat()
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if err := publish(tmp.Name(), path, replace); err != nil {
		return 0, err
	}
	if err := durable.SyncDir(dir); err != nil {
		return fi.Size(), fmt.Errorf("wrote %s, but syncing its folder failed: %w", path, err)
	}
	return fi.Size(), nil
}

// publish puts the finished file tmp at path.
func publish(tmp, path string, replace bool) error {
	if replace {
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	err := os.Link(tmp, path)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s appeared while the backup was written (give another name, or --force to replace it)", ErrExists, path)
	}
	if err != nil {
		// Some file systems have no hard links: check, then rename.
		if _, serr := os.Lstat(path); serr == nil {
			return fmt.Errorf("%w: %s", ErrExists, path)
		}
		if err := os.Rename(tmp, path); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

var errKeyMismatch = errors.New("the sealing key does not open the database's signing key")

// checkCopy runs SQLite's integrity check on a database copy and checks
// that key opens its signing key (when it has one: a server that never
// started has none).
func checkCopy(ctx context.Context, path string, key []byte) error {
	db, err := sql.Open("sqlite", path+"?_pragma=query_only(1)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	var problems []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return fmt.Errorf("%w: %w", ErrDamaged, err)
		}
		if s != "ok" && len(problems) < 5 {
			problems = append(problems, s)
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("%w: %w", ErrDamaged, err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: SQLite's integrity check says: %s", ErrDamaged, strings.Join(problems, "; "))
	}
	var sealed []byte
	err = db.QueryRowContext(ctx, "SELECT value FROM secrets WHERE name = ?", signingKeySecret).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w: read the signing key: %w", ErrDamaged, err)
	}
	s, err := crypto.NewSealer(key)
	if err != nil {
		return err
	}
	if _, err := s.Open(sealed, []byte(signingKeyAAD)); err != nil {
		return errKeyMismatch
	}
	return nil
}

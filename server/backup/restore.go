package backup

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/argon2"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/durable"
	"github.com/seed-3a5b824e/assent/server"
)

// maxDatabaseSize bounds the size a header may claim (1 TiB).
const maxDatabaseSize = 1 << 40

// RestoreOptions say where to restore and with what.
type RestoreOptions struct {
	// DataDir is the new data folder; see CheckTarget.
	DataDir string
	// Passphrase is the one the backup was made with.
	Passphrase []byte
	// Getenv reads ASSENT_SEAL_KEY to warn when it differs from the
	// restored key; nil means os.Getenv.
	Getenv func(string) string
}

// RestoreResult describes a restore done.
type RestoreResult struct {
	Header  Header
	DBPath  string
	KeyPath string
	// Notes are things the operator should know before starting the
	// server (an ASSENT_SEAL_KEY that differs from the restored key, say).
	Notes []string
}

// dataNames are the files whose presence makes a data folder taken.
var dataNames = []string{DBFile, DBFile + "-wal", DBFile + "-shm", DBFile + "-journal", server.SealKeyFile}

// CheckTarget says whether dataDir may receive a restore: it does not
// exist yet, or holds neither a database nor a key file. Other files
// (a config, a policy) are left alone.
func CheckTarget(dataDir string) error {
	if dataDir == "" {
		return errors.New("say which new data folder to restore into: --data DIR")
	}
	fi, err := os.Stat(dataDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("data folder %s: %w", dataDir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a folder: give a new, empty folder to restore into", dataDir)
	}
	for _, name := range dataNames {
		if _, err := os.Lstat(filepath.Join(dataDir, name)); err == nil {
			return fmt.Errorf("%w: %s holds %s; restore never replaces a database or a key: "+
				"restore into a new, empty folder (e.g. --data %s) and point the server's --data at it, "+
				"or stop the server and move the old folder aside first",
				ErrNotEmpty, dataDir, name, filepath.Clean(dataDir)+".restored")
		}
	}
	return nil
}

// ReadHeader reads and checks a backup file's header, which needs no
// passphrase (and is not authenticated until the passphrase opens the
// key).
func ReadHeader(path string) (Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, fmt.Errorf("open the backup: %w", err)
	}
	defer f.Close()
	h, _, err := readHeader(bufio.NewReader(f))
	return h, err
}

func damaged(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrDamaged, fmt.Sprintf(format, args...))
}

// readFull reads len(b) bytes, saying what was cut short.
func readFull(r io.Reader, b []byte, what string) error {
	n, err := io.ReadFull(r, b)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return damaged("it ends early, in the %s (%d of %d bytes there): the file was cut short, e.g. by a copy that did not finish", what, n, len(b))
	}
	if err != nil {
		return fmt.Errorf("read the backup: %w", err)
	}
	return nil
}

// readHeader reads magic, version, hlen and the header; it returns the
// header and those bytes, which the sealed parts commit to.
func readHeader(r io.Reader) (Header, []byte, error) {
	var pre [len(Magic) + 1 + 4]byte
	n, err := io.ReadFull(r, pre[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return Header{}, nil, fmt.Errorf("read the backup: %w", err)
	}
	m := min(n, len(Magic))
	if n == 0 || !bytes.Equal(pre[:m], []byte(Magic)[:m]) {
		return Header{}, nil, fmt.Errorf("%w (it does not start with %q)", ErrNotBackup, Magic)
	}
	if n < len(pre) {
		return Header{}, nil, damaged("it ends after %d bytes, inside its first line: the file was cut short", n)
	}
	if v := pre[len(Magic)]; v != Version {
		if v > Version {
			return Header{}, nil, fmt.Errorf("this backup has format version %d, made by a newer assentd; this one reads version %d: restore with the version that made it, or a newer one", v, Version)
		}
		return Header{}, nil, damaged("format version %d is not one assentd ever wrote", v)
	}
	hlen := binary.BigEndian.Uint32(pre[len(Magic)+1:])
	if hlen == 0 || hlen > maxHeader {
		return Header{}, nil, damaged("its header length (%d bytes) is impossible", hlen)
	}
	hb := make([]byte, len(pre)+int(hlen))
	copy(hb, pre[:])
	if err := readFull(r, hb[len(pre):], "header"); err != nil {
		return Header{}, nil, err
	}
	var h Header
	if err := json.Unmarshal(hb[len(pre):], &h); err != nil {
		return Header{}, nil, damaged("its header does not read: %v", err)
	}
	switch {
	case h.Format != Format:
		return Header{}, nil, damaged("its header names format %q, want %q", h.Format, Format)
	case h.Database != "sqlite":
		return Header{}, nil, damaged("it holds a %q database; assentd backups hold sqlite", h.Database)
	case h.ChunkSize < 1 || h.ChunkSize > maxChunk:
		return Header{}, nil, damaged("its chunk size %d is outside 1..%d", h.ChunkSize, maxChunk)
	case h.DatabaseSize < 0 || h.DatabaseSize > maxDatabaseSize:
		return Header{}, nil, damaged("its database size %d is impossible", h.DatabaseSize)
	case h.KDF.Algorithm != "argon2id" || h.KDF.Version != argon2.Version:
		return Header{}, nil, damaged("its key derivation is %s version %d, want argon2id version %d", h.KDF.Algorithm, h.KDF.Version, argon2.Version)
	case len(h.KDF.Salt) < saltSize || len(h.KDF.Salt) > 64:
		return Header{}, nil, damaged("its salt is %d bytes", len(h.KDF.Salt))
	}
	if err := h.KDF.params().Validate(); err != nil {
		return Header{}, nil, damaged("%v", err)
	}
	return h, hb, nil
}

// readPart reads a length-prefixed sealed part that must be exactly want
// bytes long.
func readPart(r io.Reader, want int, what string) ([]byte, error) {
	var l [4]byte
	if err := readFull(r, l[:], what); err != nil {
		return nil, err
	}
	if n := binary.BigEndian.Uint32(l[:]); int64(n) != int64(want) {
		return nil, damaged("the %s is %d bytes long, want %d", what, n, want)
	}
	b := make([]byte, want)
	if err := readFull(r, b, what); err != nil {
		return nil, err
	}
	return b, nil
}

// decode checks the whole backup read from r, writing the database to db
// as it goes, and returns the header and the sealing key. db holds garbage
// when decode fails.
func decode(r io.Reader, passphrase []byte, db io.Writer) (Header, []byte, error) {
	h, hb, err := readHeader(r)
	if err != nil {
		return h, nil, err
	}
	hsum := sha256.Sum256(hb)
	sealer, err := fileSealer(passphrase, h.KDF)
	if err != nil {
		return h, nil, err
	}
	sealedKey, err := readPart(r, crypto.SealKeySize+sealExtra, "sealed key")
	if err != nil {
		return h, nil, err
	}
	key, err := sealer.Open(sealedKey, keyAAD(hsum[:]))
	if err != nil {
		return h, nil, ErrPassphrase
	}
	n := max(1, (h.DatabaseSize+int64(h.ChunkSize)-1)/int64(h.ChunkSize))
	for i := range n {
		want := min(int64(h.ChunkSize), h.DatabaseSize-i*int64(h.ChunkSize))
		what := fmt.Sprintf("database part %d of %d", i+1, n)
		sealed, err := readPart(r, int(want)+sealExtra, what)
		if err != nil {
			return h, nil, err
		}
		plain, err := sealer.Open(sealed, chunkAAD(hsum[:], uint64(i), i == n-1))
		if err != nil {
			return h, nil, damaged("%s does not open: its bytes were changed (the passphrase is right: the key opened)", what)
		}
		if _, err := db.Write(plain); err != nil {
			return h, nil, fmt.Errorf("write the database: %w", err)
		}
	}
	var extra [1]byte
	if n, _ := io.ReadFull(r, extra[:]); n != 0 {
		return h, nil, damaged("there is more after its end: something was appended to it")
	}
	return h, key, nil
}

// Verify reads a whole backup with the passphrase and checks every part
// opens, writing nothing.
func Verify(path string, passphrase []byte) (Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, fmt.Errorf("open the backup: %w", err)
	}
	defer f.Close()
	h, _, err := decode(bufio.NewReaderSize(f, 1<<20), passphrase, io.Discard)
	return h, err
}

// Restore restores the backup at in into the new data folder o.DataDir (see
// CheckTarget): the database as assent.db and the sealing key as
// assentd.key, both 0600. Nothing is written unless the whole file opens
// with the passphrase and the database passes SQLite's integrity check.
func Restore(ctx context.Context, in string, o RestoreOptions) (RestoreResult, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := CheckTarget(o.DataDir); err != nil {
		return RestoreResult{}, err
	}
	f, err := os.Open(in)
	if err != nil {
		return RestoreResult{}, fmt.Errorf("open the backup: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	// Read the header before making anything, so that a file that is no
	// backup at all leaves no folder behind.
	if _, _, err := readHeader(r); err != nil {
		return RestoreResult{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return RestoreResult{}, err
	}
	r.Reset(f)

	made := false
	if _, err := os.Stat(o.DataDir); errors.Is(err, os.ErrNotExist) {
		made = true
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return RestoreResult{}, fmt.Errorf("make the data folder: %w", err)
	}
	ok := false
	defer func() {
		if !ok && made {
			os.Remove(o.DataDir) // only when empty
		}
	}()
	tmp, err := os.CreateTemp(o.DataDir, ".assent-restore-*.db")
	if err != nil {
		return RestoreResult{}, fmt.Errorf("write in %s: %w", o.DataDir, err)
	}
	defer func() {
		tmp.Close()
		removeDB(tmp.Name())
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	h, key, err := decode(r, o.Passphrase, bw)
	if err != nil {
		return RestoreResult{Header: h}, err
	}
	if err := bw.Flush(); err != nil {
		return RestoreResult{Header: h}, fmt.Errorf("write the database: %w", err)
	}
	if err := errors.Join(tmp.Sync(), tmp.Close()); err != nil {
		return RestoreResult{Header: h}, fmt.Errorf("write the database: %w", err)
	}
	if err := checkCopy(ctx, tmp.Name(), key); err != nil {
		if errors.Is(err, errKeyMismatch) {
			return RestoreResult{Header: h}, fmt.Errorf("%w: the key in it does not open its database's secrets", ErrDamaged)
		}
		return RestoreResult{Header: h}, err
	}
	res := RestoreResult{Header: h, DBPath: filepath.Join(o.DataDir, DBFile), KeyPath: filepath.Join(o.DataDir, server.SealKeyFile)}

	// The key first: a database without its key is useless, and a server
	// started on it would make a new key and fail to open its secrets.
	keyTmp, err := os.CreateTemp(o.DataDir, ".assentd.key.tmp-*")
	if err != nil {
		return res, fmt.Errorf("write the key: %w", err)
	}
	defer os.Remove(keyTmp.Name())
	_, werr := keyTmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	if err := errors.Join(werr, keyTmp.Chmod(0o600), keyTmp.Sync(), keyTmp.Close()); err != nil {
		return res, fmt.Errorf("write the key: %w", err)
	}
	if err := publish(keyTmp.Name(), res.KeyPath, false); err != nil {
		return res, fmt.Errorf("%w: %w", ErrNotEmpty, err)
	}
	if err := publish(tmp.Name(), res.DBPath, false); err != nil {
		os.Remove(res.KeyPath)
		return res, fmt.Errorf("%w: %w", ErrNotEmpty, err)
	}
	if err := durable.SyncDir(o.DataDir); err != nil {
		return res, fmt.Errorf("restored, but syncing %s failed: %w", o.DataDir, err)
	}
	ok = true

	if env := strings.TrimSpace(getenv(server.SealKeyEnv)); env != "" {
		if k, err := base64.StdEncoding.DecodeString(env); err != nil || !bytes.Equal(k, key) {
			res.Notes = append(res.Notes, fmt.Sprintf("%s is set here and is not the backup's key: a server started with it cannot open the restored secrets; "+
				"unset it, or set it to the content of %s", server.SealKeyEnv, res.KeyPath))
		}
	} else if h.KeyFrom == "env" {
		res.Notes = append(res.Notes, fmt.Sprintf("the backed-up server took its key from %s; the key is now in %s: "+
			"keep it there, or give its content as %s to every node and delete the file", server.SealKeyEnv, res.KeyPath, server.SealKeyEnv))
	}
	return res, nil
}

package backup

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// cheap Argon2 costs keep the many restores below fast; the format and
// the checks are the same as with DefaultKDF.
var cheap = crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}

const pass = "a long enough backup passphrase"

func noEnv(string) string { return "" }

// newDataDir makes a data folder the way assentd does on first start: a
// key file, a database with the sealed signing key, and a user.
func newDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := server.DefaultConfig()
	cfg.Data = dir
	cfg.OpsListen = "off"
	s, err := server.Open(t.Context(), cfg, cfg.Listen, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser(t.Context(), server.NewUser{Login: "alice", Email: "alice@example.com", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func makeBackup(t *testing.T, data string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "assent.backup")
	if _, err := Backup(t.Context(), out, Options{DataDir: data, Getenv: noEnv, Passphrase: []byte(pass), KDF: cheap}); err != nil {
		t.Fatal(err)
	}
	return out
}

// entries lists a folder's names; a missing folder has none.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestBackupAndRestoreGiveAWorkingServer: a server opens on the restored
// folder with the restored key, and finds its user and an intact audit log.
func TestBackupAndRestoreGiveAWorkingServer(t *testing.T) {
	data := newDataDir(t)
	at := time.Date(2026, 11, 30, 13, 0, 0, 0, time.UTC)
	out := filepath.Join(t.TempDir(), "assent.backup")
	res, err := Backup(t.Context(), out, Options{DataDir: data, Getenv: noEnv, Passphrase: []byte(pass), KDF: cheap, Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Size() != res.FileSize || res.DatabaseSize == 0 || !res.Created.Equal(at) {
		t.Errorf("backup %+v, file mode %v size %d", res, fi.Mode().Perm(), fi.Size())
	}
	// Nothing of the copy is left in the data folder, nor beside the file.
	if es := entries(t, filepath.Dir(out)); len(es) != 1 {
		t.Errorf("beside the backup: %v", es)
	}
	for _, e := range entries(t, data) {
		if strings.Contains(e, "backup") {
			t.Errorf("left in the data folder: %s", e)
		}
	}
	// Nothing readable: no login, no email, no SQLite header.
	raw, _ := os.ReadFile(out)
	for _, s := range []string{"alice", "example.com", "SQLite format", "argon2id$"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the backup holds %q in plain text", s)
		}
	}
	h, err := ReadHeader(out)
	if err != nil || h.KDF.Time != cheap.Time || h.DatabaseSize != res.DatabaseSize || h.KeyFrom != "file" {
		t.Fatalf("header %+v, %v", h, err)
	}
	if _, err := Verify(out, []byte(pass)); err != nil {
		t.Fatalf("verify: %v", err)
	}

	restored := filepath.Join(t.TempDir(), "new", "data")
	rr, err := Restore(t.Context(), out, RestoreOptions{DataDir: restored, Passphrase: []byte(pass), Getenv: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	if len(rr.Notes) != 0 {
		t.Errorf("notes %q", rr.Notes)
	}
	for _, p := range []string{rr.DBPath, rr.KeyPath} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v", p, fi, err)
		}
	}
	if fi, _ := os.Stat(restored); fi.Mode().Perm() != 0o700 {
		t.Errorf("data folder mode %v", fi.Mode().Perm())
	}
	if es := entries(t, restored); len(es) != 2 {
		t.Errorf("the restored folder holds %v, want the database and the key", es)
	}
	oldKey, _ := os.ReadFile(filepath.Join(data, server.SealKeyFile))
	newKey, _ := os.ReadFile(rr.KeyPath)
	if !bytes.Equal(oldKey, newKey) {
		t.Error("the restored key differs from the original")
	}

	cfg := server.DefaultConfig()
	cfg.Data = restored
	cfg.OpsListen = "off"
	s, err := server.Open(t.Context(), cfg, cfg.Listen, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("a server on the restored folder: %v", err)
	}
	defer s.Shutdown()
	u, err := s.Store().GetUserByLogin(t.Context(), "alice")
	if err != nil || u.Email != "alice@example.com" {
		t.Fatalf("restored user %+v, %v", u, err)
	}
	ok, err := crypto.VerifyPassword("correct horse battery", u.PasswordHash)
	if err != nil || !ok {
		t.Fatalf("the restored password hash does not verify: %v", err)
	}
	c, err := store.VerifyAudit(t.Context(), s.Store())
	if err != nil || c.Broken != nil || c.Checked == 0 {
		t.Fatalf("restored audit chain %+v, %v", c, err)
	}
}

// TestAWrongPassphraseRestoresNothing, and says so.
func TestAWrongPassphraseRestoresNothing(t *testing.T) {
	out := makeBackup(t, newDataDir(t))
	restored := filepath.Join(t.TempDir(), "data")
	for _, p := range []string{pass + " ", "A long enough backup passphrase", ""} {
		_, err := Restore(t.Context(), out, RestoreOptions{DataDir: restored, Passphrase: []byte(p), Getenv: noEnv})
		if !errors.Is(err, ErrPassphrase) || !strings.Contains(err.Error(), "wrong passphrase") {
			t.Fatalf("restore with %q: %v", p, err)
		}
		if _, err := os.Stat(restored); !os.IsNotExist(err) {
			t.Fatalf("a failed restore left the folder %s: %v", restored, err)
		}
	}
	if _, err := Verify(out, []byte("not it, not it at all")); !errors.Is(err, ErrPassphrase) {
		t.Fatalf("verify with a wrong passphrase: %v", err)
	}
	// An existing empty folder stays, and stays empty.
	if err := os.Mkdir(restored, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := Restore(t.Context(), out, RestoreOptions{DataDir: restored, Passphrase: []byte("wrong wrong wrong wrong"), Getenv: noEnv}); !errors.Is(err, ErrPassphrase) {
		t.Fatal(err)
	}
	if es := entries(t, restored); len(es) != 0 {
		t.Fatalf("a failed restore left %v", es)
	}
}

// restoreFails restores data (as a file) and wants it refused with want,
// and nothing written.
func restoreFails(t *testing.T, data []byte, want error, what string) {
	t.Helper()
	dir := t.TempDir()
	in := filepath.Join(dir, "in.backup")
	if err := os.WriteFile(in, data, 0o600); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "data")
	_, err := Restore(context.Background(), in, RestoreOptions{DataDir: target, Passphrase: []byte(pass), Getenv: noEnv})
	if !errors.Is(err, want) {
		t.Fatalf("%s: restore said %v, want %v", what, err, want)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Fatalf("%s: the refused restore left %v", what, entries(t, target))
	}
}

// TestDamagedBackupsRestoreNothing cuts the file short at every length in
// its header and key and at a spread of lengths after, flips bits all
// over it, and appends to it: each is refused with a clear error and
// nothing is written.
func TestDamagedBackupsRestoreNothing(t *testing.T) {
	out := makeBackup(t, newDataDir(t))
	good, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	hlen := int(binary.BigEndian.Uint32(good[9:13]))
	keyEnd := 13 + hlen + 4 + crypto.SealKeySize + sealExtra

	restoreFails(t, nil, ErrNotBackup, "an empty file")
	restoreFails(t, []byte("SQLite format 3\x00"), ErrNotBackup, "a database")
	for n := 1; n < len(good); n++ {
		if n > keyEnd+64 && n%4093 != 0 && n != len(good)-1 {
			continue
		}
		restoreFails(t, good[:n], ErrDamaged, fmt.Sprintf("the first %d of %d bytes", n, len(good)))
	}
	for i := 0; i < len(good); i++ {
		if i > keyEnd+64 && i%3001 != 0 && i < len(good)-64 {
			continue
		}
		bad := bytes.Clone(good)
		bad[i] ^= 0x10
		var want error = ErrDamaged
		switch {
		case i < len(Magic):
			want = ErrNotBackup
		case i == len(Magic):
			want = ErrDamaged // a version assentd never wrote... or a newer one
		case i >= 13 && i < 13+hlen:
			// A header that still parses opens no key; one that does
			// not is damaged. Either is refused.
			want = nil
		case i >= 13+hlen+4 && i < keyEnd:
			want = ErrPassphrase // the sealed key: cannot be told from a wrong passphrase
		}
		if want == nil {
			dir := t.TempDir()
			in := filepath.Join(dir, "in")
			os.WriteFile(in, bad, 0o600)
			_, err := Restore(t.Context(), in, RestoreOptions{DataDir: filepath.Join(dir, "data"), Passphrase: []byte(pass), Getenv: noEnv})
			if !errors.Is(err, ErrDamaged) && !errors.Is(err, ErrPassphrase) {
				t.Fatalf("bit flipped in header byte %d: %v", i, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
				t.Fatalf("bit flipped in header byte %d: restore left the folder", i)
			}
			continue
		}
		if i == len(Magic) {
			// 1 ^ 0x10 = 17: newer than this code.
			dir := t.TempDir()
			in := filepath.Join(dir, "in")
			os.WriteFile(in, bad, 0o600)
			_, err := Restore(t.Context(), in, RestoreOptions{DataDir: filepath.Join(dir, "data"), Passphrase: []byte(pass), Getenv: noEnv})
			if err == nil || !strings.Contains(err.Error(), "newer assentd") {
				t.Fatalf("version 17: %v", err)
			}
			continue
		}
		restoreFails(t, bad, want, fmt.Sprintf("bit flipped at byte %d of %d", i, len(good)))
	}
	restoreFails(t, append(bytes.Clone(good), 0), ErrDamaged, "a byte appended")
	restoreFails(t, append(bytes.Clone(good), good...), ErrDamaged, "the file twice")

	// The messages say what happened in words.
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cut"), good[:len(good)-100], 0o600)
	_, err = Restore(t.Context(), filepath.Join(dir, "cut"), RestoreOptions{DataDir: filepath.Join(dir, "d"), Passphrase: []byte(pass), Getenv: noEnv})
	if err == nil || !strings.Contains(err.Error(), "cut short") {
		t.Errorf("a truncated file: %v", err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-20] ^= 1
	os.WriteFile(filepath.Join(dir, "flip"), flipped, 0o600)
	_, err = Restore(t.Context(), filepath.Join(dir, "flip"), RestoreOptions{DataDir: filepath.Join(dir, "d"), Passphrase: []byte(pass), Getenv: noEnv})
	if err == nil || !strings.Contains(err.Error(), "were changed") || !strings.Contains(err.Error(), "passphrase is right") {
		t.Errorf("a changed chunk: %v", err)
	}
	if _, err := Verify(filepath.Join(dir, "flip"), []byte(pass)); !errors.Is(err, ErrDamaged) {
		t.Errorf("verify of a changed file: %v", err)
	}
}

// TestChunksCannotBeMovedDroppedOrSwapped uses small chunks so that the
// database spans many: reordering, dropping or repeating whole sealed
// chunks is refused even though each chunk opens on its own.
func TestChunksCannotBeMovedDroppedOrSwapped(t *testing.T) {
	db := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16,000 bytes
	key := crypto.RandomBytes(crypto.SealKeySize)
	h := Header{Format: Format, Created: time.Now().UTC(), Database: "sqlite", DatabaseSize: int64(len(db)), ChunkSize: 4096, KeyFrom: "file",
		KDF: KDF{Algorithm: "argon2id", Version: 19, Time: cheap.Time, MemoryKiB: cheap.Memory, Threads: cheap.Threads, Salt: crypto.RandomBytes(16)}}
	var buf bytes.Buffer
	if err := encode(&buf, h, []byte(pass), key, bytes.NewReader(db)); err != nil {
		t.Fatal(err)
	}
	file := buf.Bytes()
	var got bytes.Buffer
	if _, k, err := decode(bytes.NewReader(file), []byte(pass), &got); err != nil || !bytes.Equal(got.Bytes(), db) || !bytes.Equal(k, key) {
		t.Fatalf("round trip: %v", err)
	}
	// Split into prefix (header and key) and the four chunks.
	hb, _ := headerBytes(h)
	pos := len(hb) + 4 + crypto.SealKeySize + sealExtra
	prefix := file[:pos]
	var chunks [][]byte
	for pos < len(file) {
		n := int(binary.BigEndian.Uint32(file[pos:]))
		chunks = append(chunks, file[pos:pos+4+n])
		pos += 4 + n
	}
	if len(chunks) != 4 {
		t.Fatalf("%d chunks, want 4", len(chunks))
	}
	join := func(cs ...[]byte) []byte { return bytes.Join(append([][]byte{prefix}, cs...), nil) }
	for name, f := range map[string][]byte{
		"first two swapped":       join(chunks[1], chunks[0], chunks[2], chunks[3]),
		"last dropped":            join(chunks[0], chunks[1], chunks[2]),
		"a full chunk dropped":    join(chunks[0], chunks[1], chunks[3]),
		"a chunk repeated":        join(chunks[0], chunks[0], chunks[2], chunks[3]),
		"last moved to the front": join(chunks[3], chunks[1], chunks[2], chunks[0]),
	} {
		if _, _, err := decode(bytes.NewReader(f), []byte(pass), io.Discard); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Chunks of another backup with the same passphrase do not fit.
	h2 := h
	h2.KDF.Salt = crypto.RandomBytes(16)
	var other bytes.Buffer
	if err := encode(&other, h2, []byte(pass), key, bytes.NewReader(db)); err != nil {
		t.Fatal(err)
	}
	hb2, _ := headerBytes(h2)
	mixed := append(bytes.Clone(prefix), other.Bytes()[len(hb2)+4+crypto.SealKeySize+sealExtra:]...)
	if _, _, err := decode(bytes.NewReader(mixed), []byte(pass), io.Discard); !errors.Is(err, ErrDamaged) {
		t.Errorf("chunks of another backup: %v", err)
	}
	// A header changed to claim a smaller database, with the chunks
	// trimmed to fit, does not open: the key is bound to the header.
	h3 := h
	h3.DatabaseSize = 4096
	hb3, _ := headerBytes(h3)
	forged := append(hb3, file[len(hb):len(prefix)]...)
	forged = append(forged, chunks[0]...)
	if _, _, err := decode(bytes.NewReader(forged), []byte(pass), io.Discard); !errors.Is(err, ErrPassphrase) {
		t.Errorf("a header changed to drop chunks: %v", err)
	}
}

// TestRestoreNeverReplacesData: a folder holding a database, its journal
// files or a key is refused before anything is read, and left as it was.
func TestRestoreNeverReplacesData(t *testing.T) {
	out := makeBackup(t, newDataDir(t))
	for _, name := range []string{DBFile, DBFile + "-wal", server.SealKeyFile} {
		dir := filepath.Join(t.TempDir(), "data")
		os.Mkdir(dir, 0o700)
		os.WriteFile(filepath.Join(dir, name), []byte("precious"), 0o600)
		_, err := Restore(t.Context(), out, RestoreOptions{DataDir: dir, Passphrase: []byte(pass), Getenv: noEnv})
		if !errors.Is(err, ErrNotEmpty) || !strings.Contains(err.Error(), "holds "+name) || !strings.Contains(err.Error(), "new, empty folder") {
			t.Fatalf("restore over %s: %v", name, err)
		}
		if es := entries(t, dir); len(es) != 1 {
			t.Fatalf("restore over %s left %v", name, es)
		}
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != "precious" {
			t.Fatalf("%s was changed", name)
		}
	}
	// Other files (a config, a policy) are no reason to refuse.
	dir := filepath.Join(t.TempDir(), "data")
	os.Mkdir(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte("version: 1\n"), 0o600)
	if _, err := Restore(t.Context(), out, RestoreOptions{DataDir: dir, Passphrase: []byte(pass), Getenv: noEnv}); err != nil {
		t.Fatalf("restore beside a policy file: %v", err)
	}
	// A second restore into the now full folder is refused.
	if _, err := Restore(t.Context(), out, RestoreOptions{DataDir: dir, Passphrase: []byte(pass), Getenv: noEnv}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("a second restore: %v", err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Restore(t.Context(), out, RestoreOptions{DataDir: file, Passphrase: []byte(pass), Getenv: noEnv}); err == nil || !strings.Contains(err.Error(), "not a folder") {
		t.Fatalf("restore into a file: %v", err)
	}
	if _, err := Restore(t.Context(), out, RestoreOptions{Passphrase: []byte(pass), Getenv: noEnv}); err == nil || !strings.Contains(err.Error(), "--data") {
		t.Fatalf("restore with no folder: %v", err)
	}
}

// TestParallelRestoresIntoOneFolder: of eight restores racing into one
// folder, exactly one writes it and the others are refused.
func TestParallelRestoresIntoOneFolder(t *testing.T) {
	out := makeBackup(t, newDataDir(t))
	dir := filepath.Join(t.TempDir(), "data")
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ok int
	var errs []error
	for range 8 {
		wg.Go(func() {
			_, err := Restore(context.Background(), out, RestoreOptions{DataDir: dir, Passphrase: []byte(pass), Getenv: noEnv})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d restores succeeded, want 1: %v", ok, errs)
	}
	for _, err := range errs {
		if !errors.Is(err, ErrNotEmpty) {
			t.Errorf("a losing restore said %v", err)
		}
	}
	if es := entries(t, dir); len(es) != 2 {
		t.Fatalf("the folder holds %v", es)
	}
	st, err := sqlite.Open(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.GetUserByLogin(t.Context(), "alice"); err != nil {
		t.Fatal(err)
	}
}

// TestBackupRefusals: an existing file without Force, a short passphrase,
// no database, no key, and a key that is not the database's.
func TestBackupRefusals(t *testing.T) {
	data := newDataDir(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "x.backup")
	os.WriteFile(out, []byte("an older backup"), 0o600)
	o := Options{DataDir: data, Getenv: noEnv, Passphrase: []byte(pass), KDF: cheap}
	if _, err := Backup(t.Context(), out, o); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("backup over a file: %v", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "an older backup" {
		t.Fatal("the existing file was changed")
	}
	o.Force = true
	if _, err := Backup(t.Context(), out, o); err != nil {
		t.Fatalf("backup --force: %v", err)
	}
	if _, err := Verify(out, []byte(pass)); err != nil {
		t.Fatalf("the forced backup: %v", err)
	}
	if _, err := Backup(t.Context(), dir, o); err == nil || !strings.Contains(err.Error(), "is a folder") {
		t.Fatalf("backup onto a folder: %v", err)
	}
	if es := entries(t, dir); len(es) != 1 {
		t.Fatalf("beside the backup: %v", es)
	}

	o.Force = false
	for _, p := range []string{"", "short", "fourteen chars", "ääääääääääääää"} {
		o.Passphrase = []byte(p)
		_, err := Backup(t.Context(), filepath.Join(dir, "short"), o)
		if !errors.Is(err, ErrShortPassword) || !strings.Contains(err.Error(), "at least 15 characters") {
			t.Fatalf("passphrase %q: %v", p, err)
		}
	}
	o.Passphrase = []byte("äääääääääääääää") // 15 characters, 30 bytes
	if _, err := Backup(t.Context(), filepath.Join(dir, "unicode"), o); err != nil {
		t.Fatalf("a 15-character passphrase: %v", err)
	}
	o.Passphrase = []byte(pass)

	_, err := Backup(t.Context(), filepath.Join(dir, "none"), Options{DataDir: filepath.Join(dir, "nothing"), Getenv: noEnv, Passphrase: []byte(pass), KDF: cheap})
	if err == nil || !strings.Contains(err.Error(), "there is no database") || !strings.Contains(err.Error(), "pg_dump") {
		t.Fatalf("backup of no database: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing")); !os.IsNotExist(err) {
		t.Fatal("backing up a missing folder made it")
	}

	// A key from the environment that is not the server's: the backup
	// would be worthless, so it is refused.
	other := base64.StdEncoding.EncodeToString(crypto.RandomBytes(32))
	o.Getenv = func(k string) string {
		if k == server.SealKeyEnv {
			return other
		}
		return ""
	}
	if _, err := Backup(t.Context(), filepath.Join(dir, "wrongkey"), o); err == nil || !strings.Contains(err.Error(), "does not open this database's secrets") {
		t.Fatalf("backup with another key: %v", err)
	}
	// The right key from the environment works, and restore says where it
	// came from.
	right, _ := os.ReadFile(filepath.Join(data, server.SealKeyFile))
	o.Getenv = func(k string) string {
		if k == server.SealKeyEnv {
			return string(right)
		}
		return ""
	}
	envBackup := filepath.Join(dir, "env")
	if r, err := Backup(t.Context(), envBackup, o); err != nil || r.KeyFrom != server.SealKeyEnv {
		t.Fatalf("backup with the key from the environment: %+v, %v", r, err)
	}
	rr, err := Restore(t.Context(), envBackup, RestoreOptions{DataDir: filepath.Join(dir, "r1"), Passphrase: []byte(pass), Getenv: noEnv})
	if err != nil || len(rr.Notes) != 1 || !strings.Contains(rr.Notes[0], "took its key from ASSENT_SEAL_KEY") {
		t.Fatalf("restore of an env-key backup: %+v, %v", rr.Notes, err)
	}
	// Restoring where ASSENT_SEAL_KEY is another key warns.
	rr, err = Restore(t.Context(), envBackup, RestoreOptions{DataDir: filepath.Join(dir, "r2"), Passphrase: []byte(pass),
		Getenv: func(k string) string { return other }})
	if err != nil || len(rr.Notes) != 1 || !strings.Contains(rr.Notes[0], "is not the backup's key") {
		t.Fatalf("restore beside another ASSENT_SEAL_KEY: %+v, %v", rr.Notes, err)
	}

	// No key at all: refused, and no key is made.
	os.Remove(filepath.Join(data, server.SealKeyFile))
	_, err = Backup(t.Context(), filepath.Join(dir, "nokey"), Options{DataDir: data, Getenv: noEnv, Passphrase: []byte(pass), KDF: cheap})
	if err == nil || !strings.Contains(err.Error(), "there is no sealing key") {
		t.Fatalf("backup with no key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, server.SealKeyFile)); !os.IsNotExist(err) {
		t.Fatal("backup made a key file")
	}
}

// TestHeaderBoundsAreChecked: a crafted header cannot make restore spend
// unbounded memory or time before the passphrase is checked.
func TestHeaderBoundsAreChecked(t *testing.T) {
	base := Header{Format: Format, Database: "sqlite", DatabaseSize: 10, ChunkSize: 4096,
		KDF: KDF{Algorithm: "argon2id", Version: 19, Time: 1, MemoryKiB: 64, Threads: 1, Salt: make([]byte, 16)}}
	for name, mod := range map[string]func(*Header){
		"huge memory":      func(h *Header) { h.KDF.MemoryKiB = 1 << 24 },
		"many passes":      func(h *Header) { h.KDF.Time = 1000 },
		"no threads":       func(h *Header) { h.KDF.Threads = 0 },
		"huge chunks":      func(h *Header) { h.ChunkSize = 1 << 30 },
		"no chunks":        func(h *Header) { h.ChunkSize = 0 },
		"negative size":    func(h *Header) { h.DatabaseSize = -1 },
		"postgres":         func(h *Header) { h.Database = "postgres" },
		"short salt":       func(h *Header) { h.KDF.Salt = make([]byte, 4) },
		"argon2i":          func(h *Header) { h.KDF.Algorithm = "argon2i" },
		"another format":   func(h *Header) { h.Format = "assent-backup-v9" },
		"another version":  func(h *Header) { h.KDF.Version = 16 },
		"an absurd length": nil,
	} {
		var b []byte
		if mod == nil {
			b = append([]byte(Magic), Version, 0xff, 0xff, 0xff, 0xff)
		} else {
			h := base
			mod(&h)
			b, _ = headerBytes(h)
		}
		if _, _, err := readHeader(bytes.NewReader(b)); !errors.Is(err, ErrDamaged) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if b, _ := headerBytes(base); true {
		if _, _, err := readHeader(bytes.NewReader(b)); err != nil {
			t.Fatalf("the base header: %v", err)
		}
	}
}

// BenchmarkBackupAndRestore backs up and restores a 64 MiB database with
// the default Argon2 costs: go test ./server/backup -run '^$' -bench . -benchtime 3x
func BenchmarkBackupAndRestore(b *testing.B) {
	dir := b.TempDir()
	data := filepath.Join(dir, "data")
	cfg := server.DefaultConfig()
	cfg.Data = data
	cfg.OpsListen = "off"
	s, err := server.Open(b.Context(), cfg, cfg.Listen, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	s.Shutdown()
	st, err := sqlite.Open(filepath.Join(data, DBFile))
	if err != nil {
		b.Fatal(err)
	}
	st.Close()
	raw, err := sql.Open("sqlite", filepath.Join(data, DBFile))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := raw.Exec("CREATE TABLE bench_fill (b BLOB); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < 1024) INSERT INTO bench_fill SELECT randomblob(65536) FROM n"); err != nil {
		b.Fatal(err)
	}
	raw.Close()
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(dir, fmt.Sprintf("b%d", i))
		start := time.Now()
		res, err := Backup(b.Context(), out, Options{DataDir: data, Getenv: noEnv, Passphrase: []byte(pass)})
		if err != nil {
			b.Fatal(err)
		}
		mid := time.Now()
		if _, err := Restore(b.Context(), out, RestoreOptions{DataDir: filepath.Join(dir, fmt.Sprintf("r%d", i)), Passphrase: []byte(pass), Getenv: noEnv}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(res.DatabaseSize)/(1<<20), "MiB")
		b.ReportMetric(mid.Sub(start).Seconds(), "backup-s")
		b.ReportMetric(time.Since(mid).Seconds(), "restore-s")
	}
}

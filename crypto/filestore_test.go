package crypto

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/seed-3a5b824e/assent/internal/dactest"
)

// cheapFileKDF keeps the file store tests fast under -race.
var cheapFileKDF = FileStoreOptions{KDF: Argon2Params{Time: 1, Memory: 64, Threads: 1}}

func openTestStore(t *testing.T, path string, pass string) *FileStore {
	t.Helper()
	s, err := OpenFileStore(path, []byte(pass), cheapFileKDF)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustGet(t *testing.T, s KeyStore, name string) []byte {
	t.Helper()
	v, err := s.Get(name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	return v
}

func TestFileStoreSetGetDeleteAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "home", "keys.json")
	s := openTestStore(t, path, "pass")
	if s.Kind() != "file" || s.Path() != path {
		t.Fatalf("Kind %q Path %q", s.Kind(), s.Path())
	}
	if _, err := s.Get("device"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Get on empty store: %v", err)
	}
	device, vault := RandomBytes(138), RandomBytes(32)
	if err := s.Set("device", device); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("vault", vault); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("empty", nil); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, "device"); !bytes.Equal(got, device) {
		t.Fatal("device key differs")
	}
	vault2 := RandomBytes(32)
	if err := s.Set("vault", vault2); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("empty"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete("empty"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
	if _, err := s.Get("empty"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}

	// Options only apply at creation: the reopened store uses the file's.
	r, err := OpenFileStore(path, []byte("pass"), FileStoreOptions{KDF: DefaultFileKDF})
	if err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, r, "device"); !bytes.Equal(got, device) {
		t.Fatal("device key differs after reopen")
	}
	if got := mustGet(t, r, "vault"); !bytes.Equal(got, vault2) {
		t.Fatal("vault key is not the overwritten one after reopen")
	}
	if _, err := r.Get("empty"); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("deleted entry came back: %v", err)
	}

	// Only the store is left in the directory: no temporary files.
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "keys.json" {
		t.Fatalf("directory holds %v", entries)
	}
}

func TestFileStoreRefusesBadNames(t *testing.T) {
	s := openTestStore(t, filepath.Join(t.TempDir(), "keys.json"), "pass")
	for _, name := range []string{"", "a\x00b", "a\nb", "\xff", strings.Repeat("n", 201)} {
		if err := s.Set(name, []byte("v")); err == nil {
			t.Errorf("Set(%q) accepted", name)
		}
		if _, err := s.Get(name); err == nil || errors.Is(err, ErrKeyNotFound) {
			t.Errorf("Get(%q) = %v, want a name error", name, err)
		}
		if err := s.Delete(name); err == nil || errors.Is(err, ErrKeyNotFound) {
			t.Errorf("Delete(%q) = %v, want a name error", name, err)
		}
	}
}

func TestFileStoreModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix file modes")
	}
	dir := filepath.Join(t.TempDir(), "new", "home")
	path := filepath.Join(dir, "keys.json")
	s := openTestStore(t, path, "pass")
	check := func(when string) {
		t.Helper()
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o600 {
			t.Errorf("%s: file mode %o, want 600", when, m)
		}
	}
	check("after create")
	if err := s.Set("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	check("after set")
	for _, d := range []string{dir, filepath.Dir(dir)} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if m := st.Mode().Perm(); m != 0o700 {
			t.Errorf("directory %s mode %o, want 700", d, m)
		}
	}
	// A store someone loosened is tightened on its next write.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("k", []byte("w")); err != nil {
		t.Fatal(err)
	}
	check("after a write to a loosened file")
}

func TestFileStoreRefusesWrongAndEmptyPassphrase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	s := openTestStore(t, path, "right")
	if err := s.Set("k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	_, err := OpenFileStore(path, []byte("wrong"), cheapFileKDF)
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if !strings.Contains(err.Error(), "ASSENT_PASSPHRASE") || !strings.Contains(err.Error(), path) {
		t.Errorf("error %q should name the file and ASSENT_PASSPHRASE", err)
	}
	if _, err := OpenFileStore(path, nil, cheapFileKDF); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("empty passphrase on an existing store: %v", err)
	}
	fresh := filepath.Join(t.TempDir(), "keys.json")
	if _, err := OpenFileStore(fresh, []byte{}, cheapFileKDF); !errors.Is(err, ErrEmptyPassphrase) {
		t.Fatalf("empty passphrase on a new store: %v", err)
	}
	if _, err := os.Stat(fresh); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a store was created with an empty passphrase: %v", err)
	}
}

func TestFileStoreRefusesBadKDFOptions(t *testing.T) {
	for _, kdf := range []Argon2Params{
		{Time: 0, Memory: 64, Threads: 1},
		{Time: 1, Memory: MaxArgon2Memory + 1, Threads: 1},
	} {
		if _, err := OpenFileStore(filepath.Join(t.TempDir(), "k.json"), []byte("p"), FileStoreOptions{KDF: kdf}); err == nil {
			t.Errorf("KDF %+v accepted", kdf)
		}
	}
}

func TestFileStoreDefaultKDF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if _, err := OpenFileStore(path, []byte("p"), FileStoreOptions{}); err != nil {
		t.Fatal(err)
	}
	var f fileStoreFile
	data, _ := os.ReadFile(path)
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	got := Argon2Params{Time: f.KDF.Time, Memory: f.KDF.MemoryKiB, Threads: f.KDF.Threads}
	if got != DefaultFileKDF || got != (Argon2Params{Time: 3, Memory: 64 * 1024, Threads: 4}) {
		t.Fatalf("KDF %+v, want t=3 m=64MiB p=4", got)
	}
	if f.KDF.Algorithm != "argon2id" || len(f.KDF.Salt) != 16 {
		t.Fatalf("KDF header %+v", f.KDF)
	}
}

func TestFileStoreReportsDamagedFile(t *testing.T) {
	dir := t.TempDir()
	goodPath := filepath.Join(dir, "good.json")
	s := openTestStore(t, goodPath, "pass")
	if err := s.Set("device", RandomBytes(32)); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(goodPath)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(change func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		change(m)
		b, _ := json.Marshal(m)
		return b
	}
	kdf := func(m map[string]any) map[string]any { return m["kdf"].(map[string]any) }
	cases := map[string][]byte{
		"empty":           {},
		"truncated":       good[:len(good)/2],
		"one byte short":  good[:len(good)-2],
		"garbage":         []byte("\x00\x01not json at all"),
		"json array":      []byte("[]"),
		"json null":       []byte("null"),
		"other format":    edit(func(m map[string]any) { m["format"] = "something-else" }),
		"no format":       edit(func(m map[string]any) { delete(m, "format") }),
		"argon2i":         edit(func(m map[string]any) { kdf(m)["algorithm"] = "argon2i" }),
		"huge memory":     edit(func(m map[string]any) { kdf(m)["memory_kib"] = 1 << 30 }),
		"too many passes": edit(func(m map[string]any) { kdf(m)["time"] = 1000 }),
		"zero threads":    edit(func(m map[string]any) { kdf(m)["threads"] = 0 }),
		"threads > 255":   edit(func(m map[string]any) { kdf(m)["threads"] = 256 }),
		"short salt":      edit(func(m map[string]any) { kdf(m)["salt"] = "c2FsdA==" }),
		"salt not base64": edit(func(m map[string]any) { kdf(m)["salt"] = "!!!" }),
		"no check":        edit(func(m map[string]any) { delete(m, "check") }),
		"entry not b64":   edit(func(m map[string]any) { m["entries"].(map[string]any)["device"] = "%%%" }),
		"entries a list":  edit(func(m map[string]any) { m["entries"] = []any{1} }),
		"bad entry name":  edit(func(m map[string]any) { m["entries"].(map[string]any)["a\nb"] = "AAAA" }),
	}
	for name, data := range cases {
		path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := OpenFileStore(path, []byte("pass"), cheapFileKDF)
		if !errors.Is(err, ErrCorruptKeyStore) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: %v; want ErrCorruptKeyStore naming %s", name, err, path)
		}
		// The damaged file is left as it was, for the user to restore.
		if after, _ := os.ReadFile(path); !bytes.Equal(after, data) {
			t.Errorf("%s: the damaged file was changed", name)
		}
	}

	// A directory where the file should be is an error too, not a new store.
	if _, err := OpenFileStore(dir, []byte("pass"), cheapFileKDF); err == nil {
		t.Error("a directory opened as a store")
	}
}

func TestFileStoreDetectsChangedEntries(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	s := openTestStore(t, path, "pass")
	if err := s.Set("a", []byte("value a")); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("b", []byte("value b")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	entries := m["entries"].(map[string]any)
	// Swapping sealed values between names is caught: the name is the aad.
	entries["a"], entries["b"] = entries["b"], entries["a"]
	data, _ = json.Marshal(m)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := openTestStore(t, path, "pass")
	for _, name := range []string{"a", "b"} {
		if _, err := r.Get(name); !errors.Is(err, ErrCorruptKeyStore) {
			t.Errorf("swapped entry %s: %v, want ErrCorruptKeyStore", name, err)
		}
	}
	// So is a flipped bit.
	raw, _ := base64.StdEncoding.DecodeString(entries["a"].(string))
	raw[len(raw)-1] ^= 1
	entries["a"], entries["b"] = entries["b"], base64.StdEncoding.EncodeToString(raw)
	data, _ = json.Marshal(m)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r = openTestStore(t, path, "pass")
	if v := mustGet(t, r, "a"); string(v) != "value a" {
		t.Fatalf("a = %q", v)
	}
	if _, err := r.Get("b"); !errors.Is(err, ErrCorruptKeyStore) {
		t.Errorf("flipped entry: %v, want ErrCorruptKeyStore", err)
	}
}

func TestFileStoreHoldsNoPlaintext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	pass := "correct horse battery staple"
	s := openTestStore(t, path, pass)
	values := [][]byte{RandomBytes(32), RandomBytes(138), []byte("PLAINTEXT-MARKER-0123456789")}
	for i, v := range values {
		if err := s.Set(fmt.Sprintf("key-%d", i), v); err != nil {
			t.Fatal(err)
		}
	}
	file, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range append(values, []byte(pass)) {
		for form, enc := range map[string]string{
			"raw":       string(v),
			"base64":    base64.StdEncoding.EncodeToString(v),
			"base64url": base64.RawURLEncoding.EncodeToString(v),
			"hex":       hex.EncodeToString(v),
			// Every prefix and suffix of 16 bytes, to catch partial leaks.
			"raw prefix":    string(v[:16]),
			"raw suffix":    string(v[len(v)-16:]),
			"base64 prefix": base64.StdEncoding.EncodeToString(v[:15]),
		} {
			if bytes.Contains(file, []byte(enc)) {
				t.Errorf("value %d is in the file as %s", i, form)
			}
		}
	}
	// Names, the KDF parameters and the salt are the only plain text.
	if !bytes.Contains(file, []byte(`"key-0"`)) {
		t.Error("names are expected in the file")
	}
}

func TestFileStoreWriteFailureLeavesFileAndMemory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("a read-only directory does not stop writes on Windows")
	}
	dir := filepath.Join(t.TempDir(), "ro")
	path := filepath.Join(dir, "keys.json")
	s := openTestStore(t, path, "pass")
	if err := s.Set("kept", []byte("old value")); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })

	var probeErr, setErr, overwriteErr, deleteErr error
	err = dactest.WithoutDACOverride(func() {
		f, err := os.CreateTemp(dir, "probe")
		if err == nil {
			f.Close()
			os.Remove(f.Name())
		}
		probeErr = err
		setErr = s.Set("new", []byte("new value"))
		overwriteErr = s.Set("kept", []byte("changed value"))
		deleteErr = s.Delete("kept")
	})
	if err != nil {
		t.Fatalf("dropping file permission overrides: %v", err)
	}
	if probeErr == nil {
		t.Fatal("the read-only directory accepted a file (running as root without a way to drop CAP_DAC_OVERRIDE?)")
	}
	for name, err := range map[string]error{"set": setErr, "overwrite": overwriteErr, "delete": deleteErr} {
		if err == nil {
			t.Errorf("%s in a read-only directory succeeded", name)
		} else if !strings.Contains(err.Error(), path) {
			t.Errorf("%s error %q does not name the store", name, err)
		}
	}

	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("the store file changed")
	}
	if _, err := s.Get("new"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("failed Set is visible in memory: %v", err)
	}
	if v := mustGet(t, s, "kept"); string(v) != "old value" {
		t.Errorf("failed overwrite/delete changed memory: kept = %q", v)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %v", entries)
	}

	// Once the directory is writable again the store carries on.
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("new", []byte("new value")); err != nil {
		t.Fatal(err)
	}
	r := openTestStore(t, path, "pass")
	if v := mustGet(t, r, "new"); string(v) != "new value" {
		t.Fatalf("new = %q", v)
	}
}

func TestFileStoreConcurrentWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	s := openTestStore(t, path, "pass")
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("k%d", i)
			if err := s.Set(name, []byte(name)); err != nil {
				t.Error(err)
			}
			if _, err := s.Get(name); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	r := openTestStore(t, path, "pass")
	for i := 0; i < 8; i++ {
		name := fmt.Sprintf("k%d", i)
		if v := mustGet(t, r, name); string(v) != name {
			t.Errorf("%s = %q", name, v)
		}
	}
}

func TestPassphraseFromEnv(t *testing.T) {
	t.Setenv(EnvPassphrase, "")
	if _, ok := PassphraseFromEnv(); ok {
		t.Error("empty ASSENT_PASSPHRASE counted as set")
	}
	t.Setenv(EnvPassphrase, " s3cret ")
	if p, ok := PassphraseFromEnv(); !ok || string(p) != " s3cret " {
		t.Errorf("PassphraseFromEnv = %q, %v", p, ok)
	}
	os.Unsetenv(EnvPassphrase)
	if _, ok := PassphraseFromEnv(); ok {
		t.Error("unset ASSENT_PASSPHRASE counted as set")
	}
}

package backup

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/server"
)

// TestBackupNeverReplacesTheDataItCopies: `assentd backup --force` given
// the database, its WAL, or the key file of the data folder it backs up (a
// slip of the finger, or a path through a symlinked folder) refuses, and
// the data is left as it was: otherwise the encrypted file is renamed over
// the live database or the sealing key.
func TestBackupNeverReplacesTheDataItCopies(t *testing.T) {
	data := newDataDir(t)
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(data, link); err != nil {
		t.Fatal(err)
	}
	o := Options{DataDir: data, Getenv: noEnv, Passphrase: []byte(pass), KDF: cheap, Force: true}
	for _, out := range []string{
		filepath.Join(data, DBFile),
		filepath.Join(data, server.SealKeyFile),
		filepath.Join(link, DBFile),
		filepath.Join(data, ".", server.SealKeyFile),
	} {
		before := map[string][]byte{}
		for _, name := range []string{DBFile, server.SealKeyFile} {
			b, err := os.ReadFile(filepath.Join(data, name))
			if err != nil {
				t.Fatal(err)
			}
			before[name] = b
		}
		if _, err := Backup(t.Context(), out, o); err == nil || !strings.Contains(err.Error(), "data folder") {
			t.Fatalf("backup --force onto %s: %v, want a refusal naming the data folder", out, err)
		}
		for name, b := range before {
			if after, err := os.ReadFile(filepath.Join(data, name)); err != nil || !bytes.Equal(after, b) {
				t.Fatalf("backup --force onto %s changed %s (%v)", out, name, err)
			}
		}
	}
	// Another name in the data folder is a place like any other.
	if _, err := Backup(t.Context(), filepath.Join(data, "today.backup"), o); err != nil {
		t.Fatalf("a backup into the data folder under its own name: %v", err)
	}
}

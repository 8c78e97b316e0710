package server

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// newTestServer is a server on a real SQLite file, with no listener: tests
// drive its handler directly.
func newTestServer(t testing.TB) *Server {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(context.Background(), Options{URL: "http://127.0.0.1:8080", Store: st, SealKey: crypto.RandomBytes(32),
		PasswordParams: crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	return s
}

package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/assets"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

func noEnv(string) string { return "" }

func TestSealKeyFileIsMadeOnceWithOwnerOnlyMode(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k1, err := LoadSealKey(dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, SealKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadSealKey(dir, noEnv)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("second load gave another key (%v)", err)
	}
}

func TestSealKeyFromEnvironmentWins(t *testing.T) {
	want := crypto.RandomBytes(32)
	env := func(k string) string {
		if k == SealKeyEnv {
			return base64.StdEncoding.EncodeToString(want)
		}
		return ""
	}
	got, err := LoadSealKey(t.TempDir(), env)
	if err != nil || string(got) != string(want) {
		t.Fatalf("env key not used: %v", err)
	}
	bad := func(k string) string { return "c2hvcnQ=" }
	if _, err := LoadSealKey(t.TempDir(), bad); err == nil || !strings.Contains(err.Error(), SealKeyEnv) {
		t.Fatalf("a short env key: %v", err)
	}
}

func TestDamagedSealKeyFileIsAClearError(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, SealKeyFile), []byte("not base64!\n"), 0o600)
	_, err := LoadSealKey(dir, noEnv)
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("want a damaged-file error, got %v", err)
	}
}

func TestSigningKeySurvivesRestartAndNeedsTheSameSealKey(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "assent.db")
	seal := crypto.RandomBytes(32)
	open := func(key []byte) (*Server, error) {
		st, err := sqlite.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(ctx, Options{URL: "http://127.0.0.1:1", Store: st, SealKey: key})
		if err != nil {
			st.Close()
			return nil, err
		}
		return s, nil
	}
	s1, err := open(seal)
	if err != nil {
		t.Fatal(err)
	}
	pin := s1.Pin()
	s1.Shutdown()
	s2, err := open(seal)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Pin() != pin {
		t.Fatal("the signing key changed across a restart")
	}
	s2.Shutdown()
	if _, err := open(crypto.RandomBytes(32)); err == nil || !strings.Contains(err.Error(), "sealing key") {
		t.Fatalf("a wrong sealing key: %v", err)
	}
}

func TestServerServesTheIcon(t *testing.T) {
	s := newTestServer(t)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/assets/icon.png", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "image/png" || !bytes.Equal(rec.Body.Bytes(), assets.Icon) {
		t.Fatalf("GET /assets/icon.png: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

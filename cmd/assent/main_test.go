package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/enroll"
)

// runCLI runs the assent command on a fresh file-store home.
func runCLI(t *testing.T, home, stdin string, args ...string) (string, error) {
	t.Helper()
	t.Setenv("ASSENT_PASSPHRASE", "cli test")
	t.Setenv("ASSENT_KEYSTORE", "file")
	var out strings.Builder
	err := run(context.Background(), append(args, "--home", home), strings.NewReader(stdin), &out)
	return out.String(), err
}

func googleExportFile(t *testing.T) string {
	t.Helper()
	uri, err := enroll.EncodeMigration([]*enroll.OTPAuth{
		{Type: "totp", Issuer: "GitHub", Account: "alice", Secret: []byte("0123456789abcdef"), Algorithm: "SHA1", Digits: 6, Period: 30},
		{Type: "totp", Issuer: "Google", Account: "bob", Secret: []byte("fedcba9876543210"), Algorithm: "SHA1", Digits: 6, Period: 30},
	})
	if err != nil {
		t.Fatal(err)
	}
	png, err := enroll.EncodePNG(uri, 400)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "export.png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportShowsWhatWillBeImportedAndAsksFirst(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	export := googleExportFile(t)
	out, err := runCLI(t, home, "n\n", "import", export)
	if err == nil || !strings.Contains(out, "+ GitHub:alice (TOTP)") || !strings.Contains(out, "+ Google:bob (TOTP)") || !strings.Contains(out, "Import 2 account(s)? [y/N]") {
		t.Fatalf("declined import: %v\n%s", err, out)
	}
	if out, _ := runCLI(t, home, "", "accounts"); !strings.Contains(out, "No accounts yet") {
		t.Fatalf("a declined import added accounts:\n%s", out)
	}
	out, err = runCLI(t, home, "y\n", "import", export)
	if err != nil || !strings.Contains(out, "Imported 2 account(s).") {
		t.Fatalf("accepted import: %v\n%s", err, out)
	}
	// Again, with --yes: nothing new.
	out, err = runCLI(t, home, "", "import", export, "--yes")
	if err != nil || !strings.Contains(out, "GitHub:alice: already in Assent") || !strings.Contains(out, "nothing new to import") {
		t.Fatalf("second import: %v\n%s", err, out)
	}
}

func TestSettingsShowsAndChangesTheAppsSettings(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	out, err := runCLI(t, home, "", "settings")
	if err != nil || !strings.Contains(out, "auto-lock:        5m0s") || !strings.Contains(out, "close-to-tray:    true") || !strings.Contains(out, "app lock:         none") {
		t.Fatalf("defaults: %v\n%s", err, out)
	}
	out, err = runCLI(t, home, "", "settings", "--auto-lock", "0", "--start-hidden=true", "--close-to-tray", "false")
	if err != nil || !strings.Contains(out, "auto-lock:        never") || !strings.Contains(out, "start-hidden:     true") || !strings.Contains(out, "close-to-tray:    false") {
		t.Fatalf("after changes: %v\n%s", err, out)
	}
	if _, err := runCLI(t, home, "", "settings", "--auto-lock", "2s"); err == nil {
		t.Fatal("a two-second auto-lock was accepted")
	}
	if out, _ := runCLI(t, home, "", "lock", "status"); !strings.Contains(out, "no app lock") {
		t.Fatalf("lock status: %s", out)
	}
}

func TestRenameAndMoveFromTheCommandLine(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	for _, uri := range []string{
		"otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXP&issuer=GitHub",
		"otpauth://totp/Google:bob?secret=JBSWY3DPEHPK3PXP&issuer=Google",
	} {
		if _, err := runCLI(t, home, "", "add", uri); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runCLI(t, home, "", "move", "Google", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, home, "", "rename", "GitHub", "alice@work", "--issuer", "GitHub Enterprise"); err != nil {
		t.Fatal(err)
	}
	out, _ := runCLI(t, home, "", "accounts")
	g, e := strings.Index(out, "Google"), strings.Index(out, "GitHub Enterprise")
	if g < 0 || e < 0 || g > e || !strings.Contains(out, "alice@work") {
		t.Fatalf("accounts after move and rename:\n%s", out)
	}
}

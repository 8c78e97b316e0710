package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/enroll"
)

// An encrypted export named on the command line: the error says to enter
// the password, so the command must ask for it (the next line of standard
// input when it is not a terminal) rather than give up.
func TestImportAsksForThePasswordOfAnEncryptedExport(t *testing.T) {
	home := t.TempDir()
	export, err := filepath.Abs("../../enroll/testdata/importers/aegis_encrypted.json")
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, home, "test\ny\n", "import", export)
	if err != nil {
		t.Fatalf("import with the password on standard input: %v\n%s", err, out)
	}
	if !strings.Contains(out, "From Aegis:") || strings.Contains(out, "test\n") {
		t.Fatalf("output:\n%s", out)
	}
	list, err := runCLI(t, home, "", "accounts")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(list, "\n"); n < 2 {
		t.Fatalf("after the import, list shows:\n%s", list)
	}

	// A wrong password from a pipe is said, and nothing is imported.
	other := t.TempDir()
	_, err = runCLI(t, other, "wrong\ny\n", "import", export)
	if !errors.Is(err, enroll.ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}
	// No password at all: said as such, not "enter the password" with no
	// way to.
	_, err = runCLI(t, other, "", "import", export)
	if err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("no password: %v", err)
	}
}

// At a terminal the password is read without echo, and asked again after
// a wrong one.
func TestImportAsksForTheExportPasswordWithoutEchoAtATerminal(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	export, err := filepath.Abs("../../enroll/testdata/importers/aegis_encrypted.json")
	if err != nil {
		t.Fatal(err)
	}
	env := append(baseEnv(), "LANG=C.UTF-8", "ASSENT_PASSPHRASE=long enough", "ASSENT_KEYSTORE=file")
	p := startPTY(t, env, "--home", home, "import", export)
	p.out.waitFor(t, "Password of the export: ")
	p.typeLine(t, "wrong-guess")
	p.out.waitFor(t, "Wrong password. Try again.")
	p.out.waitCount(t, "Password of the export: ", 2)
	p.typeLine(t, "test")
	p.out.waitFor(t, "From Aegis:")
	p.out.waitFor(t, "[y/N] ")
	p.typeLine(t, "y")
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("import: %v\n%s", err, p.out)
	}
	if strings.Contains(p.out.String(), "wrong-guess") {
		t.Fatalf("the terminal echoed the password:\n%s", p.out)
	}
}

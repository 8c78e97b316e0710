package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/backup"
)

const backupPass = "a long enough backup passphrase"

// cheapBackupKDF makes the commands' Argon2 cheap for the test.
func cheapBackupKDF(t *testing.T) {
	old := backup.DefaultKDF
	backup.DefaultKDF = crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}
	t.Cleanup(func() { backup.DefaultKDF = old })
}

// servedDataDir makes a data folder as assentd serve does, with a user.
func servedDataDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	cfg := server.DefaultConfig()
	cfg.Data = dir
	cfg.OpsListen = "off"
	s, err := server.Open(t.Context(), cfg, cfg.Listen, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddUser(t.Context(), server.NewUser{Login: "alice", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	return dir
}

type cmdResult struct {
	out, errs string
	err       error
}

func runBackup(args []string, stdin string) cmdResult {
	var out, errs bytes.Buffer
	err := backupCmd(context.Background(), args, strings.NewReader(stdin), &out, &errs)
	return cmdResult{out.String(), errs.String(), err}
}

func runRestore(args []string, stdin string) cmdResult {
	var out, errs bytes.Buffer
	err := restoreCmd(context.Background(), args, strings.NewReader(stdin), &out, &errs)
	return cmdResult{out.String(), errs.String(), err}
}

func wantErr(t *testing.T, what string, r cmdResult, want ...string) {
	t.Helper()
	if r.err == nil {
		t.Fatalf("%s: succeeded (%q), want an error saying %q", what, r.out, want)
	}
	for _, w := range want {
		if !strings.Contains(r.err.Error(), w) {
			t.Fatalf("%s: said %q, want %q", what, r.err, w)
		}
	}
}

// TestBackupAndRestoreCommands: backup reads the passphrase from standard
// input, a file or the environment, restore puts a working data folder
// back, and audit verify holds on it.
func TestBackupAndRestoreCommands(t *testing.T) {
	cheapBackupKDF(t)
	data := servedDataDir(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "assent.backup")

	r := runBackup([]string{out, "--data", data}, backupPass+"\n")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.out, "backup written to "+out) || !strings.Contains(r.out, "Keep the passphrase apart") {
		t.Fatalf("backup said %q", r.out)
	}
	if strings.Contains(r.out+r.errs, backupPass) {
		t.Fatal("backup printed the passphrase")
	}

	// Overwriting is refused, before the passphrase is asked for; --force
	// replaces the file.
	before, _ := os.ReadFile(out)
	wantErr(t, "backup over a file", runBackup([]string{out, "--data", data}, ""), "exists already", "--force")
	wantErr(t, "backup onto a folder", runBackup([]string{dir, "--data", data}, ""), "is a folder")
	if after, _ := os.ReadFile(out); !bytes.Equal(before, after) {
		t.Fatal("a refused backup changed the file")
	}
	passFile := filepath.Join(dir, "pass")
	os.WriteFile(passFile, []byte(backupPass+"\r\nsecond line\n"), 0o600)
	if r := runBackup([]string{out, "--data", data, "--force", "--passphrase-file", passFile}, ""); r.err != nil {
		t.Fatalf("backup --force --passphrase-file: %v", r.err)
	}
	if after, _ := os.ReadFile(out); bytes.Equal(before, after) {
		t.Fatal("--force did not replace the file")
	}

	// Restore needs a folder, refuses a taken one before asking anything,
	// and a wrong passphrase restores nothing.
	restored := filepath.Join(dir, "restored")
	wantErr(t, "restore without --data", runRestore([]string{out}, backupPass+"\n"), "say which new data folder")
	wantErr(t, "restore over the live folder", runRestore([]string{out, "--data", data}, ""), "holds assent.db", "new, empty folder")
	wantErr(t, "restore with a wrong passphrase", runRestore([]string{out, "--data", restored}, "not the passphrase at all\n"),
		"wrong passphrase", "nothing was restored")
	if _, err := os.Stat(restored); !os.IsNotExist(err) {
		t.Fatal("a failed restore made the folder")
	}
	wantErr(t, "restore of a non-backup", runRestore([]string{passFile, "--data", restored}, backupPass+"\n"), "not an Assent backup")

	// The passphrase from the environment, for scripts.
	t.Setenv(passphraseEnv, backupPass)
	r = runRestore([]string{out, "--data", restored}, "")
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !strings.Contains(r.out, "restored the backup of") || !strings.Contains(r.out, "assentd audit verify --data "+restored) {
		t.Fatalf("restore said %q", r.out)
	}
	for _, name := range []string{"assent.db", "assentd.key"} {
		fi, err := os.Stat(filepath.Join(restored, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
	}
	cfg := server.DefaultConfig()
	cfg.Data = restored
	st, err := server.OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var v bytes.Buffer
	if err := auditVerify(t.Context(), st, &v); err != nil || !strings.HasPrefix(v.String(), "audit log intact") {
		t.Fatalf("audit verify on the restored folder: %q, %v", v.String(), err)
	}
	if _, err := st.GetUserByLogin(t.Context(), "alice"); err != nil {
		t.Fatalf("alice after restore: %v", err)
	}
}

// TestBackupCommandRefusals: short passphrases, no passphrase, no
// database, wrong arguments, and PostgreSQL.
func TestBackupCommandRefusals(t *testing.T) {
	cheapBackupKDF(t)
	data := servedDataDir(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "b")

	wantErr(t, "a short passphrase", runBackup([]string{out, "--data", data}, "hunter2\n"), "at least 15 characters", "this one has 7")
	wantErr(t, "no passphrase", runBackup([]string{out, "--data", data}, ""), "no passphrase", "--passphrase-file", passphraseEnv)
	wantErr(t, "an empty passphrase file", runBackup([]string{out, "--data", data, "--passphrase-file", os.DevNull}, ""), "first line is empty")
	wantErr(t, "a missing passphrase file", runBackup([]string{out, "--data", data, "--passphrase-file", filepath.Join(dir, "none")}, ""), "passphrase file")
	wantErr(t, "no database", runBackup([]string{out, "--data", filepath.Join(dir, "none")}, backupPass+"\n"), "there is no database")
	wantErr(t, "a missing folder", runBackup([]string{filepath.Join(dir, "no", "b"), "--data", data}, backupPass+"\n"), "does not exist: make it first")
	wantErr(t, "no file", runBackup([]string{"--data", data}, backupPass+"\n"), "usage: assentd backup FILE")
	wantErr(t, "two files", runBackup([]string{out, out + "2", "--data", data}, backupPass+"\n"), "usage: assentd backup FILE")
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Fatalf("refused backups left %v", es)
	}

	if r := runBackup([]string{"--help"}, ""); !errors.Is(r.err, flag.ErrHelp) {
		t.Errorf("backup --help: %v", r.err)
	}
	if r := runRestore([]string{"--help"}, ""); !errors.Is(r.err, flag.ErrHelp) {
		t.Errorf("restore --help: %v", r.err)
	}

	pg := "postgres://assent@127.0.0.1:5432/assent"
	wantErr(t, "backup on PostgreSQL", runBackup([]string{out, "--database", pg}, backupPass+"\n"), "PostgreSQL", "pg_dump", "README")
	wantErr(t, "restore on PostgreSQL", runRestore([]string{out, "--database", pg, "--data", filepath.Join(dir, "r")}, backupPass+"\n"), "pg_dump")
	wantErr(t, "restore of no file", runRestore([]string{"--data", filepath.Join(dir, "r")}, ""), "usage: assentd restore FILE")
	wantErr(t, "restore of a missing file", runRestore([]string{filepath.Join(dir, "none"), "--data", filepath.Join(dir, "r")}, backupPass+"\n"), "no such file")
}

// TestBackupTTYChild is the child of TestBackupAsksTwiceOnATerminal: it
// runs assentd backup with the terminal script(1) gives it as stdin.
func TestBackupTTYChild(t *testing.T) {
	argsJSON := os.Getenv("ASSENT_TEST_BACKUP_TTY")
	if argsJSON == "" {
		return // run as a child only
	}
	var args []string
	if err := json.Unmarshal([]byte(argsJSON), &args); err != nil {
		t.Fatal(err)
	}
	backup.DefaultKDF = crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}
	if err := backupCmd(context.Background(), args, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Println("RESULT: error:", err)
		return
	}
	fmt.Println("RESULT: ok")
}

// TestBackupAsksTwiceOnATerminal types the passphrase into a real
// terminal (script(1) makes one): it is asked twice, and two different
// entries or a short one write nothing.
func TestBackupAsksTwiceOnATerminal(t *testing.T) {
	scriptBin, err := exec.LookPath("script")
	if err != nil {
		t.Fatal("script(1) is needed to give the command a terminal: apt-get install bsdutils")
	}
	data := servedDataDir(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, first, second, want string
		written                   bool
	}{
		{"same twice", backupPass, backupPass, "RESULT: ok", true},
		{"different", backupPass, backupPass + "!", "the two passphrases differ", false},
		{"short", "hunter2", "", "at least 15 characters", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			args, _ := json.Marshal([]string{out, "--data", data})
			cmd := exec.Command(scriptBin, "-q", "-e", "-c", shellQuote(os.Args[0])+" -test.run '^TestBackupTTYChild$' -test.count=1", os.DevNull)
			cmd.Env = append(os.Environ(), "ASSENT_TEST_BACKUP_TTY="+string(args), passphraseEnv+"=")
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			r := bufio.NewReader(stdout)
			var seen strings.Builder
			until := func(want string) {
				t.Helper()
				for !strings.Contains(seen.String(), want) {
					b, err := r.ReadByte()
					if err != nil {
						t.Fatalf("output ended before %q: %v\n%s", want, err, seen.String())
					}
					seen.WriteByte(b)
				}
			}
			until("Backup passphrase: ")
			fmt.Fprintf(stdin, "%s\r", tc.first)
			if tc.second != "" {
				until("Again: ")
				fmt.Fprintf(stdin, "%s\r", tc.second)
			}
			until("RESULT: ")
			for {
				_, after, _ := strings.Cut(seen.String(), "RESULT: ")
				if strings.Contains(after, "\n") {
					break
				}
				b, err := r.ReadByte()
				if err != nil {
					t.Fatalf("output ended: %v\n%s", err, seen.String())
				}
				seen.WriteByte(b)
			}
			stdin.Close()
			cmd.Wait()
			if !strings.Contains(seen.String(), tc.want) {
				t.Fatalf("the terminal shows %q, want %q", seen.String(), tc.want)
			}
			// Whether what was typed is echoed is not checked: the test
			// types as soon as the prompt shows, which can be before
			// term.ReadPassword turns echo off, as a person typing ahead
			// would see it echoed.
			if _, err := os.Stat(out); (err == nil) != tc.written {
				t.Fatalf("backup file written: %v, want %v", err == nil, tc.written)
			}
		})
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

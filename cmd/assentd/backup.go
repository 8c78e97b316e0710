package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/backup"
)

const (
	backupUsage = "usage: assentd backup FILE [--force] [--passphrase-file F]: copy the SQLite database (while the server runs)\n" +
		"and its sealing key into FILE, encrypted with a passphrase (asked twice on the terminal)"
	restoreUsage = "usage: assentd restore FILE --data NEWDIR [--passphrase-file F]: restore a backup into a new, empty data folder"

	// passphraseEnv carries the backup passphrase for scripts.
	passphraseEnv = "ASSENT_BACKUP_PASSPHRASE"
)

// postgresNote is what backup and restore say to a server on PostgreSQL.
const postgresNote = "this server keeps its data in PostgreSQL (--database), which assentd backup does not copy: " +
	"back it up with pg_dump, and keep the sealing key (" + server.SealKeyEnv + " or " + server.SealKeyFile + ") with it, sealed; " +
	"see \"Backups\" in the README"

// backupCommand and restoreCommand are the entries of main's commands.
func backupCommand(ctx context.Context, args []string) error {
	return backupCmd(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

func restoreCommand(ctx context.Context, args []string) error {
	return restoreCmd(ctx, args, os.Stdin, os.Stdout, os.Stderr)
}

// backupCmd is `assentd backup FILE`: a consistent copy of the SQLite
// database, taken while the server runs, and its sealing key, encrypted
// under a passphrase, in one new file.
func backupCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("assentd backup", flag.ContinueOnError)
	force := fs.Bool("force", false, "replace FILE if it exists")
	passFile := fs.String("passphrase-file", "", "read the passphrase from the first line of this file (else "+passphraseEnv+", else the terminal, asked twice, else the first line of standard input)")
	cfg, rest, err := loadConfig(fs, args, backupUsage, storeFlags...)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New(backupUsage)
	}
	if cfg.Postgres() {
		return errors.New(postgresNote)
	}
	out := rest[0]
	// Cheap refusals before the passphrase is asked for.
	if _, err := os.Stat(cfg.DBPath()); err != nil {
		return fmt.Errorf("there is no database at %s: give the server's --data folder (or --config)", cfg.DBPath())
	}
	if err := backup.CheckOutput(out, *force); err != nil {
		return err
	}
	if err := backup.CheckNotData(out, cfg.Data); err != nil {
		return err
	}
	pass, err := readBackupPassphrase(stdin, stderr, *passFile, os.Getenv, true)
	if err != nil {
		return err
	}
	if err := backup.CheckPassphrase(pass); err != nil {
		return err
	}
	start := time.Now()
	res, err := backup.Backup(ctx, out, backup.Options{DataDir: cfg.Data, Passphrase: pass, Force: *force})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "backup written to %s: %s, the database as of %s (%s) and its sealing key (from %s), encrypted with the passphrase; took %s\n",
		res.Path, backupSize(res.FileSize), res.Created.Format(time.RFC3339), backupSize(res.DatabaseSize), res.KeyFrom, time.Since(start).Round(time.Millisecond))
	fmt.Fprintln(stdout, "Keep the passphrase apart from the file: without it the backup cannot be restored, and with it anyone holding the file has every secret in it.")
	return nil
}

// restoreCmd is `assentd restore FILE --data NEWDIR`.
func restoreCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("assentd restore", flag.ContinueOnError)
	passFile := fs.String("passphrase-file", "", "read the passphrase from the first line of this file (else "+passphraseEnv+", else the terminal, else the first line of standard input)")
	cfg, rest, err := loadConfig(fs, args, restoreUsage, storeFlags...)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return errors.New(restoreUsage)
	}
	if cfg.Postgres() {
		return errors.New(postgresNote)
	}
	dataGiven := os.Getenv(server.EnvName("data")) != "" || os.Getenv("ASSENT_CONFIG") != ""
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "data" || f.Name == "config" {
			dataGiven = true
		}
	})
	if !dataGiven {
		return errors.New("say which new data folder to restore into: " + restoreUsage)
	}
	in := rest[0]
	// Refuse what can be refused before asking for the passphrase.
	if err := backup.CheckTarget(cfg.Data); err != nil {
		return err
	}
	if _, err := backup.ReadHeader(in); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	pass, err := readBackupPassphrase(stdin, stderr, *passFile, os.Getenv, false)
	if err != nil {
		return err
	}
	res, err := backup.Restore(ctx, in, backup.RestoreOptions{DataDir: cfg.Data, Passphrase: pass})
	if err != nil {
		return fmt.Errorf("%s: %w; nothing was restored", in, err)
	}
	fmt.Fprintf(stdout, "restored the backup of %s (database %s) into %s: %s and %s (mode 0600)\n",
		res.Header.Created.Format(time.RFC3339), backupSize(res.Header.DatabaseSize), cfg.Data, res.DBPath, res.KeyPath)
	for _, n := range res.Notes {
		fmt.Fprintln(stdout, "Note:", n)
	}
	fmt.Fprintf(stdout, "Start the server with --data %s, then check the audit log with: assentd audit verify --data %s\n", cfg.Data, cfg.Data)
	return nil
}

// readBackupPassphrase reads the backup passphrase: from file when given, else
// from ASSENT_BACKUP_PASSPHRASE, else without echo from the terminal
// (twice when confirm is set), else the first line of stdin.
func readBackupPassphrase(stdin io.Reader, stderr io.Writer, file string, getenv func(string) string, confirm bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("passphrase file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.TrimRight(line, "\r")
		if line == "" {
			return nil, fmt.Errorf("passphrase file %s: its first line is empty", file)
		}
		return []byte(line), nil
	}
	if v := getenv(passphraseEnv); v != "" {
		return []byte(v), nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(stderr, "Backup passphrase: ")
		p, err := term.ReadPassword(fd)
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("passphrase: %w", err)
		}
		if confirm {
			if err := backup.CheckPassphrase(p); err != nil {
				return nil, err
			}
			fmt.Fprint(stderr, "Again: ")
			again, err := term.ReadPassword(fd)
			fmt.Fprintln(stderr)
			if err != nil {
				return nil, fmt.Errorf("passphrase: %w", err)
			}
			if string(again) != string(p) {
				return nil, errors.New("the two passphrases differ; nothing was written")
			}
		}
		if len(p) == 0 {
			return nil, errors.New("no passphrase given")
		}
		return p, nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("passphrase: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return nil, fmt.Errorf("no passphrase: type it on a terminal, or give --passphrase-file FILE, %s, or the first line of standard input", passphraseEnv)
	}
	return []byte(line), nil
}

// backupSize writes a byte count for people.
func backupSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

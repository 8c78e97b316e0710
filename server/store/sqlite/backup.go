package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
)

// BackupTo writes a consistent copy of the whole database to path while
// the store goes on serving: VACUUM INTO (https://sqlite.org/lang_vacuum.html#vacuuminto)
// on a connection of its own, which reads one snapshot of the WAL database
// and so neither waits for nor holds up the writer. The copy is a compact, ordinary
// SQLite file holding every committed transaction up to the moment the read
// began and none after it.
//
// path must not exist, or be an empty file (which lets the caller make it
// with the mode it wants, e.g. with os.CreateTemp: 0600). The copy is
// fsynced before BackupTo returns. On error a file BackupTo made is removed.
func (s *Store) BackupTo(ctx context.Context, path string) error {
	return BackupFile(ctx, s.path, path)
}

// BackupFile is BackupTo for the database file at dbPath, without opening
// it as a Store: no migrations and no checkpoints of its own, so the
// running server's writes go on undisturbed. It is what a separate process
// (assentd backup) uses beside a running server. A missing dbPath is an
// error (SQLite would make an empty database).
func BackupFile(ctx context.Context, dbPath, path string) error {
	if fi, err := os.Stat(dbPath); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("sqlite: backup of %s: there is no database there", dbPath)
	}
	made := false
	if fi, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		// Create it ourselves so that it gets 0600, as Open does.
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("sqlite: backup to %s: %w", path, err)
		}
		f.Close()
		made = true
	} else if err != nil {
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	} else if !fi.Mode().IsRegular() || fi.Size() != 0 {
		return fmt.Errorf("sqlite: backup to %s: the file exists and is not empty", path)
	}
	fail := func(err error) error {
		if made {
			os.Remove(path)
		}
		return fmt.Errorf("sqlite: backup to %s: %w", path, err)
	}
	// A connection of its own: the read pool's are query-only, which
	// SQLite takes to forbid VACUUM INTO too, and the writer must not wait
	// for a copy. VACUUM INTO only reads this database.
	db, err := sql.Open("sqlite", dbPath+"?"+fmt.Sprintf("_busy_timeout=%d", busyTimeout.Milliseconds()))
	if err != nil {
		return fail(err)
	}
	db.SetMaxOpenConns(1)
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", path)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fail(err)
	}
	serr := f.Sync()
	if err := errors.Join(serr, f.Close()); err != nil {
		return fail(err)
	}
	return nil
}

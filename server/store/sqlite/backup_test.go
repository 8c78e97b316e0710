package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// TestBackupToIsAConsistentSnapshotUnderLoad takes copies while writers
// append to the audit chain and add users as fast as they can: each copy
// opens, passes SQLite's integrity check, holds a whole audit chain, and
// has between what was committed before the copy began and after it ended.
func TestBackupToIsAConsistentSnapshotUnderLoad(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "assent.db"))
	defer closeStore(t, s)
	appendEvents(t, s, 50)

	ctx, stop := context.WithCancel(t.Context())
	var committed atomic.Int64 // audit events committed by the writers
	committed.Store(50)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for w := range 3 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				_, err := s.AppendAudit(context.Background(), store.AuditEvent{
					Time: time.Now(), Type: "signin.password_ok", UserID: fmt.Sprintf("w%d-%d", w, i),
					Detail: map[string]string{"i": fmt.Sprint(i)},
				})
				if err != nil {
					errs <- err
					return
				}
				committed.Add(1)
				if w == 0 {
					u := store.User{ID: fmt.Sprintf("u%d", i), Login: fmt.Sprintf("user%d", i), CreatedAt: time.Now()}
					if err := s.CreateUser(context.Background(), u); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	defer func() { stop(); wg.Wait() }()

	for i := range 5 {
		// Let the writers get going between copies.
		for n := committed.Load(); committed.Load() < n+20; {
			time.Sleep(time.Millisecond)
		}
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		before := committed.Load()
		path := filepath.Join(dir, fmt.Sprintf("copy%d.db", i))
		if err := s.BackupTo(t.Context(), path); err != nil {
			t.Fatal(err)
		}
		after := committed.Load()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("copy mode %v, want 0600", fi.Mode().Perm())
		}
		db := rawDB(t, path)
		var ok string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&ok); err != nil || ok != "ok" {
			t.Fatalf("integrity_check of copy %d = %q, %v", i, ok, err)
		}
		db.Close()
		c := open(t, path)
		chk, err := store.VerifyAudit(t.Context(), c)
		if err != nil || chk.Broken != nil {
			t.Fatalf("audit chain of copy %d: %+v, %v", i, chk, err)
		}
		if chk.Checked < before || chk.Checked > after {
			t.Errorf("copy %d holds %d events; %d were committed before it began and %d when it ended", i, chk.Checked, before, after)
		}
		closeStore(t, c)
	}
}

// TestBackupToRefusesToOverwrite: a copy never lands on a file that holds
// something, and a failed copy leaves nothing behind.
func TestBackupToRefusesToOverwrite(t *testing.T) {
	dir := t.TempDir()
	s := open(t, filepath.Join(dir, "assent.db"))
	defer closeStore(t, s)
	appendEvents(t, s, 3)

	full := filepath.Join(dir, "full.db")
	if err := os.WriteFile(full, []byte("precious"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.BackupTo(t.Context(), full); err == nil || !strings.Contains(err.Error(), "exists and is not empty") {
		t.Fatalf("backup onto a full file: %v", err)
	}
	if b, _ := os.ReadFile(full); string(b) != "precious" {
		t.Fatalf("the file was changed to %q", b)
	}
	if err := s.BackupTo(t.Context(), dir); err == nil {
		t.Fatal("backup onto a folder succeeded")
	}
	missing := filepath.Join(dir, "no", "such", "folder", "x.db")
	if err := s.BackupTo(t.Context(), missing); err == nil {
		t.Fatal("backup into a missing folder succeeded")
	}
	// An empty file made beforehand (as os.CreateTemp makes it) is fine.
	f, err := os.CreateTemp(dir, "copy-*.db")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := s.BackupTo(t.Context(), f.Name()); err != nil {
		t.Fatalf("backup onto an empty file: %v", err)
	}
	// BackupFile of no database is an error, and makes none.
	none := filepath.Join(dir, "none.db")
	if err := BackupFile(t.Context(), none, filepath.Join(dir, "none-copy.db")); err == nil || !strings.Contains(err.Error(), "there is no database") {
		t.Fatalf("backup of a missing database: %v", err)
	}
	for _, p := range []string{none, filepath.Join(dir, "none-copy.db")} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("backup of a missing database made %s", p)
		}
	}
	// BackupFile beside the open store, as a second process does.
	side := filepath.Join(dir, "side.db")
	if err := BackupFile(t.Context(), filepath.Join(dir, "assent.db"), side); err != nil {
		t.Fatal(err)
	}
	c := open(t, side)
	if chk, err := store.VerifyAudit(t.Context(), c); err != nil || chk.Checked != 3 {
		t.Fatalf("the copy's audit log: %+v, %v", chk, err)
	}
	closeStore(t, c)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	gone := filepath.Join(dir, "cancelled.db")
	if err := s.BackupTo(ctx, gone); err == nil {
		t.Fatal("a cancelled backup succeeded")
	}
	if _, err := os.Stat(gone); !os.IsNotExist(err) {
		t.Fatalf("a cancelled backup left %s behind: %v", gone, err)
	}
}

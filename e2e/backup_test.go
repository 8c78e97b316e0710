package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/backup"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// startAssentd runs the built assentd serve on data and c.listen until the
// returned stop is called (or the test ends).
func startAssentd(t *testing.T, c *cliEnv, data string) (stop func()) {
	t.Helper()
	srv := exec.Command(filepath.Join(c.bin, "assentd"), "serve", "--data", data, "--listen", c.listen)
	srv.Env = c.env
	log := &strings.Builder{}
	srv.Stderr = log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			srv.Process.Signal(syscall.SIGTERM)
			if err := srv.Wait(); err != nil {
				t.Errorf("assentd on %s exited: %v", data, err)
			}
			if t.Failed() {
				t.Logf("assentd log (%s):\n%s", data, log)
			}
		})
	}
	t.Cleanup(stop)
	waitUp(t, c.url)
	return stop
}

// phone enrolls a fresh device (encrypted file key store) from the link
// assentd enroll prints last.
func phone(t *testing.T, c *cliEnv, data, login string) *core.Core {
	t.Helper()
	out := c.must("", "assentd", "enroll", login, "--data", data, "--listen", c.listen)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	link, err := enroll.ParseLink(lines[len(lines)-1])
	if err != nil {
		t.Fatal(err)
	}
	d, err := core.Open(core.Options{
		Home: filepath.Join(t.TempDir(), login), KeyStore: core.KeyStoreFile,
		Passphrase: func() ([]byte, error) { return []byte("device passphrase"), nil },
		FileKDF:    cheapArgon2, DeviceName: login + "-phone",
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Enroll(context.Background(), link); err != nil {
		t.Fatal(err)
	}
	return d
}

// pushSignIn signs login in with the password and a push that device d
// approves, picking the number the sign-in page shows. It returns errors
// rather than failing, so that load goroutines can call it.
func pushSignIn(ctx context.Context, url, login string, d *core.Core) error {
	tx, err := sdk.New(url).Interact(ctx, "cli-test")
	if err != nil {
		return err
	}
	if _, err := tx.Do(ctx, sdk.RemIdentify, sdk.Request{Login: login}); err != nil {
		return err
	}
	if _, err := tx.Do(ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"}); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	r, err := tx.Do(ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	// The push goes out in the background: poll the device until it has
	// it. Challenges pending when a backup was taken come back pending
	// after a restore (until they expire), so pick the newest one that
	// offers the page's number.
	var p *core.Prompt
	for range 100 {
		ps, err := d.Challenges(ctx)
		if err != nil {
			return fmt.Errorf("device poll: %w", err)
		}
		for i := len(ps) - 1; i >= 0; i-- {
			if slices.Contains(ps[i].Numbers, r.Number) {
				p = &ps[i]
				break
			}
		}
		if p != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if p == nil {
		return fmt.Errorf("the device never saw the push with number %d", r.Number)
	}
	if _, err := d.Approve(ctx, *p, r.Number); err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	r, err = tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{})
	if err != nil {
		return fmt.Errorf("poll: %w", err)
	}
	if r.Status != sdk.StatusSuccess {
		return fmt.Errorf("sign-in ended %+v", r)
	}
	return nil
}

// TestBackupUnderLoadRestoresAWorkingServer takes a backup of a running
// assentd while people sign in with pushes their phones approve and an
// admin adds users from another process, restores it into a new data
// folder, starts assentd there, and signs in again with the same phones:
// users, devices and sealed secrets came back, and the audit chain holds.
func TestBackupUnderLoadRestoresAWorkingServer(t *testing.T) {
	// The load comes from one address: no throttle, no answer floor.
	c := newCLIEnv(t, "ASSENT_SOURCE_RATE=-1", "ASSENT_ANSWER_FLOOR=0")
	dir := c.dir
	stopA := startAssentd(t, c, c.data)

	c.must("", "assentd", c.server("app", "add", "cli-test", "--type", "embedded")...)
	logins := []string{"alice", "bob"}
	phones := map[string]*core.Core{}
	for _, l := range logins {
		c.must("correct horse battery\n", "assentd", c.server("user", "add", l)...)
		phones[l] = phone(t, c, c.data, l)
	}
	ctx := t.Context()
	for _, l := range logins {
		if err := pushSignIn(ctx, c.url, l, phones[l]); err != nil {
			t.Fatalf("%s before the backup: %v", l, err)
		}
	}

	// Load: each person signs in over and over; an admin adds users with
	// the CLI, a second process writing the same file.
	loadCtx, stopLoad := context.WithCancel(ctx)
	var signIns, added atomic.Int64
	loadErr := make(chan error, 8)
	var wg sync.WaitGroup
	for _, l := range logins {
		wg.Go(func() {
			for loadCtx.Err() == nil {
				if err := pushSignIn(loadCtx, c.url, l, phones[l]); err != nil {
					if loadCtx.Err() == nil {
						loadErr <- fmt.Errorf("%s: %w", l, err)
					}
					return
				}
				signIns.Add(1)
			}
		})
	}
	wg.Go(func() {
		for i := 0; loadCtx.Err() == nil; i++ {
			if _, err := c.run("another long password\n", "assentd", c.server("user", "add", fmt.Sprintf("user%d", i))...); err != nil {
				loadErr <- err
				return
			}
			added.Add(1)
		}
	})
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for !cond() {
			select {
			case err := <-loadErr:
				t.Fatalf("load: %v", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("no %s within two minutes", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("load", func() bool { return signIns.Load() >= 4 && added.Load() >= 1 })

	out := filepath.Join(dir, "assent.backup")
	pass := []byte("correct horse battery staple backup")
	signInsBefore, addedBefore := signIns.Load(), added.Load()
	// Through the built binary, as an operator runs it; the passphrase
	// from the environment, as a script would give it.
	// A copy of the environment: the load's goroutines read c's.
	op := *c
	op.env = append(slices.Clone(c.env), "ASSENT_BACKUP_PASSPHRASE="+string(pass))
	op.must("", "assentd", "backup", out, "--data", c.data, "--listen", c.listen)
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatalf("backup under load wrote no file: %v", err)
	}
	signInsDuring := signIns.Load() - signInsBefore
	// The load goes on after the copy, and the live server is unharmed.
	waitFor("load after the backup", func() bool { return signIns.Load() >= signInsBefore+signInsDuring+4 })
	stopLoad()
	wg.Wait()
	select {
	case err := <-loadErr:
		t.Fatalf("load: %v", err)
	default:
	}
	t.Logf("backup of %d bytes taken while %d sign-ins completed; %d sign-ins in all, %d users added",
		fi.Size(), signInsDuring, signIns.Load(), added.Load())
	// What the live server's audit log looks like now: the restore holds
	// a prefix of it.
	liveAudit := c.must("", "assentd", c.server("audit", "verify")...)
	if !strings.HasPrefix(liveAudit, "audit log intact") {
		t.Fatalf("audit verify on the live server: %q", liveAudit)
	}
	stopA()

	// The old machine is gone; the new one gets the file and the
	// passphrase, and the same address.
	restored := filepath.Join(t.TempDir(), "new-data")
	if _, err := backup.Restore(ctx, out, backup.RestoreOptions{DataDir: restored, Passphrase: []byte("correct horse battery staple")}); !errors.Is(err, backup.ErrPassphrase) {
		t.Fatalf("restore with a wrong passphrase: %v", err)
	}
	if _, err := backup.Restore(ctx, out, backup.RestoreOptions{DataDir: c.data, Passphrase: pass}); !errors.Is(err, backup.ErrNotEmpty) {
		t.Fatalf("restore over the old data folder: %v", err)
	}
	op.must("", "assentd", "restore", out, "--data", restored)
	if fi, err := os.Stat(filepath.Join(restored, "assentd.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("restored key: %v, %v", fi, err)
	}

	// The audit chain of the restored database holds, checked by the
	// built assentd before the server starts on it.
	verified := c.must("", "assentd", "audit", "verify", "--data", restored, "--listen", c.listen)
	if !strings.HasPrefix(verified, "audit log intact:") {
		t.Fatalf("audit verify on the restored folder: %q", verified)
	}

	startAssentd(t, c, restored)
	for _, l := range logins {
		if err := pushSignIn(ctx, c.url, l, phones[l]); err != nil {
			t.Fatalf("%s on the restored server: %v", l, err)
		}
	}

	st, err := sqlite.Open(filepath.Join(restored, "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, l := range logins {
		u, err := st.GetUserByLogin(ctx, l)
		if err != nil {
			t.Fatalf("%s after restore: %v", l, err)
		}
		ds, err := st.ListDevices(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		id := phones[l].Accounts()[0].EnrollmentID
		if !slices.ContainsFunc(ds, func(d store.Device) bool { return d.ID == id }) {
			t.Errorf("%s's phone %s is not among the restored devices %+v", l, id, ds)
		}
	}
	// Every user the admin had added before the backup began is there.
	for i := range addedBefore {
		if _, err := st.GetUserByLogin(ctx, fmt.Sprintf("user%d", i)); err != nil {
			t.Errorf("user%d, added before the backup: %v", i, err)
		}
	}
	chk, err := store.VerifyAudit(ctx, st)
	if err != nil || chk.Broken != nil {
		t.Fatalf("audit chain after sign-ins on the restored server: %+v, %v", chk, err)
	}
	// The restored log has the sign-ins of the restored server on top of
	// what the backup held.
	var before int64
	fmt.Sscanf(strings.TrimPrefix(verified, "audit log intact: "), "%d", &before)
	if chk.Checked <= before {
		t.Errorf("the restored log has %d events, %d before the server started on it", chk.Checked, before)
	}
}

package core

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// shortLockWait makes a held lock fail in d instead of ten seconds.
func shortLockWait(t *testing.T, d time.Duration) {
	t.Helper()
	saved := lockWait
	lockWait = d
	t.Cleanup(func() { lockWait = saved })
}

// holdLock takes the home's lock as another process would and returns its
// release.
func holdLock(t *testing.T, home string) func() {
	t.Helper()
	saved := lockWait
	lockWait = 0
	l, err := lockHome(home)
	lockWait = saved
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(l.unlock) }
	t.Cleanup(release)
	return release
}

func TestALockFileLeftBehindDoesNotBlock(t *testing.T) {
	c, home := newHome(t)
	shortLockWait(t, 100*time.Millisecond) // going ahead must not wait at all
	if err := os.WriteFile(filepath.Join(home, lockFile), []byte("99999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddOTP(totpURI("Example", "alice")); err != nil {
		t.Fatalf("AddOTP with an unheld lock file: %v", err)
	}
	if n := len(mustOpen(t, home).Accounts()); n != 1 {
		t.Fatalf("%d accounts saved, want 1", n)
	}
}

// TestALockOfAKilledProcessIsReleased runs a real second process that takes
// the lock, kills it, and changes the home.
func TestALockOfAKilledProcessIsReleased(t *testing.T) {
	if home := os.Getenv("ASSENT_TEST_HOLD_LOCK"); home != "" {
		if _, err := lockHome(home); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println("locked")
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	c, home := newHome(t)
	cmd := exec.Command(os.Args[0], "-test.run", "^TestALockOfAKilledProcessIsReleased$")
	cmd.Env = append(os.Environ(), "ASSENT_TEST_HOLD_LOCK="+home)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if line != "locked\n" {
		cmd.Process.Kill()
		t.Fatalf("the other process said %q", line)
	}
	shortLockWait(t, 200*time.Millisecond)
	if _, err := c.AddOTP(totpURI("Example", "alice")); err == nil {
		t.Fatal("AddOTP went through while another process held the lock")
	}
	cmd.Process.Kill()
	cmd.Wait()
	shortLockWait(t, 5*time.Second)
	if _, err := c.AddOTP(totpURI("Example", "alice")); err != nil {
		t.Fatalf("AddOTP after the holder was killed: %v", err)
	}
}

func TestAHeldLockMakesAChangeWaitThenFail(t *testing.T) {
	c, home := newHome(t)
	mustAdd(t, c, totpURI("Example", "alice"))
	const wait = 300 * time.Millisecond
	shortLockWait(t, wait)
	holdLock(t, home) // another process is at work
	before, files := encode(t, c.Accounts()), snapshot(t, home)

	start := time.Now()
	_, err := c.AddOTP(totpURI("Example", "bob"))
	took := time.Since(start)
	if err == nil {
		t.Fatal("AddOTP went through a lock held by another process")
	}
	want := fmt.Sprintf("%s is in use by another Assent process (still locked after %s); try again when it is done", home, wait)
	if err.Error() != want {
		t.Fatalf("AddOTP = %q\nwant       %q", err, want)
	}
	if took < wait {
		t.Fatalf("AddOTP gave up after %v, before the %v wait", took, wait)
	}
	if got := encode(t, c.Accounts()); got != before {
		t.Fatal("the refused change altered the accounts")
	}
	wantSameFiles(t, files, snapshot(t, home))
}

func TestAChangeGoesThroughWhenTheOtherProcessLetsGoInTime(t *testing.T) {
	c, home := newHome(t)
	// Generous: the lock is let go as soon as AddOTP waits for it, so this
	// only bounds a test that went wrong.
	shortLockWait(t, time.Minute)
	release := holdLock(t, home)
	done := make(chan error, 1)
	go func() {
		_, err := c.AddOTP(totpURI("Example", "alice"))
		done <- err
	}()
	// The other process lets go once AddOTP waits for the lock; AddOTP
	// must not finish before that.
	select {
	case err := <-done:
		t.Fatalf("AddOTP finished (%v) while another process held the lock", err)
	case <-lockWaiter(t):
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("AddOTP after the lock was released: %v", err)
	}
	if n := len(mustOpen(t, home).Accounts()); n != 1 {
		t.Fatalf("%d accounts saved, want 1", n)
	}
}

// lockWaiter is closed once a goroutine of this test process is waiting
// in lockHome's retry loop: it tried the lock, found it held, and sleeps
// before the next try (seen in the goroutines' stacks, not guessed from
// time).
func lockWaiter(t *testing.T) <-chan struct{} {
	t.Helper()
	ch := make(chan struct{})
	quit := make(chan struct{})
	t.Cleanup(func() { close(quit) })
	go func() {
		buf := make([]byte, 1<<20)
		for {
			for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
				if strings.Contains(g, "time.Sleep(") && strings.Contains(g, ".lockHome(") {
					close(ch)
					return
				}
			}
			select {
			case <-quit:
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	return ch
}

func TestALeftoverTempFileDoesNotBreakLoading(t *testing.T) {
	c, home := newHome(t)
	a := mustAdd(t, c, totpURI("Example", "alice"))
	// What a write killed before its rename leaves behind.
	for name, data := range map[string]string{
		"." + vaultFile + ".tmp-123":  "half a vault",
		"." + vaultFile + ".tmp-4567": "",
		"." + configFile + ".tmp-89":  "{",
	} {
		if err := os.WriteFile(filepath.Join(home, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c2 := mustOpen(t, home, withKeyStore(""))
	if got := c2.Accounts(); len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("accounts = %v, want %s", labelsOf(got), a.Label())
	}
	b := mustAdd(t, c2, totpURI("Example", "bob"))
	if got := labelsOf(mustOpen(t, home).Accounts()); !slices.Equal(got, []string{a.Label(), b.Label()}) {
		t.Fatalf("accounts = %v", got)
	}
}

func TestTwoProcessesOnOneHomeSeeEachOthersChanges(t *testing.T) {
	app, home := newHome(t)
	cli := mustOpen(t, home)
	a := mustAdd(t, cli, totpURI("Example", "from-cli"))
	if got := app.Accounts(); len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("the app sees %v, want the CLI's account", labelsOf(got))
	}
	// A change by one starts from what the other wrote.
	if err := app.Rename(a.ID, "Example", "renamed-by-app"); err != nil {
		t.Fatal(err)
	}
	b := mustAdd(t, cli, totpURI("Example", "second"))
	want := []string{"Example:renamed-by-app", b.Label()}
	for name, c := range map[string]*Core{"app": app, "cli": cli} {
		if got := labelsOf(c.Accounts()); !slices.Equal(got, want) {
			t.Fatalf("%s sees %v, want %v", name, got, want)
		}
	}
}

func TestConcurrentAddsFromTwoProcessesLoseNone(t *testing.T) {
	app, home := newHome(t)
	cli := mustOpen(t, home)
	const each = 10
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for who, c := range map[string]*Core{"app": app, "cli": cli} {
		for i := range each {
			wg.Go(func() {
				if _, err := c.AddOTP(totpURI("Example", fmt.Sprintf("%s-%02d", who, i))); err != nil {
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for name, c := range map[string]*Core{"app": app, "cli": cli, "reopened": mustOpen(t, home)} {
		got := labelsOf(c.Accounts())
		slices.Sort(got)
		var want []string
		for _, who := range []string{"app", "cli"} {
			for i := range each {
				want = append(want, fmt.Sprintf("Example:%s-%02d", who, i))
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%s sees %d accounts, want %d:\n%s", name, len(got), len(want), strings.Join(got, "\n"))
		}
	}
	shortLockWait(t, 0)
	if l, err := lockHome(home); err != nil {
		t.Fatalf("the lock was left held: %v", err)
	} else {
		l.unlock()
	}
}

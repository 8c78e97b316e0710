package core

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/push"
)

func withCheapLock(o *Options) { o.LockKDF = cheapArgon2 }

func TestCheckLockSecretKnowsPINsFromPassphrases(t *testing.T) {
	tests := []struct {
		kind, secret string
		ok           bool
	}{
		{LockPIN, "1234", true},
		{LockPIN, "0000000000000000", true},
		{LockPIN, "123", false},
		{LockPIN, "12345678901234567", false},
		{LockPIN, "12a4", false},
		{LockPassphrase, "eight ch", true},
		{LockPassphrase, "ünïcödé!", true},
		{LockPassphrase, "seven c", false},
		{LockPassphrase, "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", false},
		{LockPassphrase, strings.Repeat("x", 1025), false},
		{"face", "12345678", false},
	}
	for _, tt := range tests {
		if err := CheckLockSecret(tt.kind, []byte(tt.secret)); (err == nil) != tt.ok {
			t.Errorf("CheckLockSecret(%s, %q) = %v, want ok=%v", tt.kind, tt.secret, err, tt.ok)
		}
	}
}

func TestAppLockIsSetCheckedChangedAndCleared(t *testing.T) {
	c, home := newHome(t, withCheapLock)
	if c.LockKind() != "" {
		t.Fatal("a new home has an app lock")
	}
	if err := c.CheckUnlock([]byte("1234")); !errors.Is(err, ErrNoAppLock) {
		t.Fatalf("CheckUnlock without a lock: %v", err)
	}
	if err := c.SetLock(LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	// The lock lives in the sealed vault: a reopened home has it, and the
	// files on disk do not show the hash.
	c2 := mustOpen(t, home, withCheapLock)
	if c2.LockKind() != LockPIN {
		t.Fatalf("reopened home: lock %q, want pin", c2.LockKind())
	}
	for _, name := range []string{"config.json", "vault.sealed"} {
		data, _ := os.ReadFile(filepath.Join(home, name))
		if strings.Contains(string(data), "argon2id") {
			t.Fatalf("%s shows the lock's hash", name)
		}
	}
	if err := c2.CheckUnlock([]byte("1357")); !errors.Is(err, ErrWrongUnlock) {
		t.Fatalf("wrong PIN: %v", err)
	}
	if err := c2.CheckUnlock([]byte("2468")); err != nil {
		t.Fatalf("right PIN: %v", err)
	}
	// Changing or clearing needs the current secret.
	if err := c.SetLock(LockPassphrase, []byte("a long passphrase"), []byte("0000")); !errors.Is(err, ErrWrongUnlock) {
		t.Fatalf("change with a wrong PIN: %v", err)
	}
	if err := c.SetLock(LockPassphrase, []byte("a long passphrase"), []byte("2468")); err != nil {
		t.Fatal(err)
	}
	if c.LockKind() != LockPassphrase {
		t.Fatalf("lock %q after the change, want passphrase", c.LockKind())
	}
	if err := c.ClearLock([]byte("2468")); !errors.Is(err, ErrWrongUnlock) {
		t.Fatalf("clear with the old PIN: %v", err)
	}
	if err := c.ClearLock([]byte("a long passphrase")); err != nil {
		t.Fatal(err)
	}
	if c.LockKind() != "" {
		t.Fatal("the lock is still set after ClearLock")
	}
	if err := c.ClearLock(nil); !errors.Is(err, ErrNoAppLock) {
		t.Fatalf("clearing no lock: %v", err)
	}
}

func TestRepeatedWrongUnlocksMakeTheNextTryWait(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	c, _ := newHome(t, withCheapLock, withClock(clk))
	if err := c.SetLock(LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	for i := range freeTries - 1 {
		if err := c.CheckUnlock([]byte("0000")); !errors.Is(err, ErrWrongUnlock) || errors.Is(err, ErrUnlockThrottled) {
			t.Fatalf("wrong try %d: %v", i+1, err)
		}
	}
	err := c.CheckUnlock([]byte("0000"))
	var te *ThrottledError
	if !errors.Is(err, ErrWrongUnlock) || !errors.As(err, &te) || te.Wait != firstThrottle {
		t.Fatalf("try %d: %v, want wrong and a %s wait", freeTries, err, firstThrottle)
	}
	// While throttled even the right PIN is not checked.
	if err := c.CheckUnlock([]byte("2468")); !errors.As(err, &te) || errors.Is(err, ErrWrongUnlock) {
		t.Fatalf("right PIN while throttled: %v", err)
	}
	clk.Set(clk.Now().Add(firstThrottle))
	if err := c.CheckUnlock([]byte("0000")); !errors.As(err, &te) || te.Wait != 2*firstThrottle {
		t.Fatalf("next wrong try: %v, want a %s wait", err, 2*firstThrottle)
	}
	clk.Set(clk.Now().Add(2 * firstThrottle))
	if err := c.CheckUnlock([]byte("2468")); err != nil {
		t.Fatalf("right PIN after the wait: %v", err)
	}
	// A success starts the count again.
	if err := c.CheckUnlock([]byte("0000")); errors.Is(err, ErrUnlockThrottled) {
		t.Fatalf("first wrong try after a success is throttled: %v", err)
	}
}

func TestSettingsDefaultAndPersist(t *testing.T) {
	c, home := newHome(t)
	if got := c.Settings(); got != DefaultSettings() {
		t.Fatalf("new home: %+v, want the defaults %+v", got, DefaultSettings())
	}
	s := Settings{AutoLock: time.Minute, LockWhenHidden: false, CloseToTray: false, StartHidden: true}
	if err := c.SetSettings(s); err != nil {
		t.Fatal(err)
	}
	if got := mustOpen(t, home).Settings(); got != s {
		t.Fatalf("reopened: %+v, want %+v", got, s)
	}
	for _, bad := range []time.Duration{-time.Second, time.Second, 25 * time.Hour} {
		if err := c.SetSettings(Settings{AutoLock: bad}); err == nil {
			t.Errorf("auto-lock %s accepted", bad)
		}
	}
	// Settings and lock survive account changes made through update.
	mustAdd(t, c, totpURI("Example", "alice"))
	if got := c.Settings(); got != s {
		t.Fatalf("after adding an account: %+v, want %+v", got, s)
	}
}

func TestGuardLocksWhenIdleOrHiddenAndUnlocksWithTheSecret(t *testing.T) {
	clk := fakeclock.New(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	c, _ := newHome(t, withCheapLock, withClock(clk))

	// Without a lock nothing ever locks.
	g := c.NewGuard()
	clk.Set(clk.Now().Add(time.Hour))
	if g.Locked() || g.Tick() || g.Hidden() || g.Lock() {
		t.Fatal("a guard without an app lock locked")
	}

	if err := c.SetLock(LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SetSettings(Settings{AutoLock: time.Minute, LockWhenHidden: true}); err != nil {
		t.Fatal(err)
	}
	g = c.NewGuard()
	if !g.Locked() {
		t.Fatal("the app does not start locked")
	}
	if err := g.Unlock([]byte("1111")); !errors.Is(err, ErrWrongUnlock) || !g.Locked() {
		t.Fatalf("wrong PIN: %v, locked %v", err, g.Locked())
	}
	if err := g.Unlock([]byte("2468")); err != nil || g.Locked() {
		t.Fatalf("right PIN: %v, locked %v", err, g.Locked())
	}

	clk.Set(clk.Now().Add(50 * time.Second))
	g.Touch()
	clk.Set(clk.Now().Add(50 * time.Second))
	if g.Tick() || g.Locked() {
		t.Fatal("locked 50 s after the last use, with a one-minute auto-lock")
	}
	clk.Set(clk.Now().Add(10 * time.Second))
	if !g.Tick() || !g.Locked() {
		t.Fatal("not locked a minute after the last use")
	}
	if g.Tick() {
		t.Fatal("Tick reports locking again while already locked")
	}

	if err := g.Unlock([]byte("2468")); err != nil {
		t.Fatal(err)
	}
	if !g.Hidden() || !g.Locked() {
		t.Fatal("hiding the app did not lock it")
	}

	// With "lock when hidden" off, hiding leaves it open.
	if err := c.SetSettings(Settings{AutoLock: 0, LockWhenHidden: false}); err != nil {
		t.Fatal(err)
	}
	g.Unlock([]byte("2468"))
	clk.Set(clk.Now().Add(24 * time.Hour))
	if g.Hidden() || g.Tick() || g.Locked() {
		t.Fatal("locked with auto-lock and lock-when-hidden off")
	}
	if !g.Lock() || !g.Locked() {
		t.Fatal("Lock does not lock")
	}

	// A lock removed elsewhere (the CLI) unlocks a locked guard.
	if err := c.ClearLock([]byte("2468")); err != nil {
		t.Fatal(err)
	}
	if g.Locked() {
		t.Fatal("still locked after the app lock was removed")
	}
}

func TestApprovingAPushThatRequiresVerificationNeedsTheAppLock(t *testing.T) {
	c, _ := newHome(t, withCheapLock)
	ctx := context.Background()
	p := Prompt{Challenge: &push.Challenge{ChallengeClaims: push.ChallengeClaims{
		ID: "chl_1", Nonce: "n", Kind: push.KindSignIn, Numbers: []int{12, 34, 56}, UserVerification: push.UVRequired,
	}}}
	if want, err := c.WantsVerification(p); !want || !errors.Is(err, ErrNoAppLock) {
		t.Fatalf("required without a lock: %v %v, want true and ErrNoAppLock", want, err)
	}
	if _, err := c.Approve(ctx, p, 34); !errors.Is(err, ErrVerificationRequired) {
		t.Fatalf("Approve of a required push: %v", err)
	}
	if err := c.SetLock(LockPIN, []byte("2468"), nil); err != nil {
		t.Fatal(err)
	}
	if want, err := c.WantsVerification(p); !want || err != nil {
		t.Fatalf("required with a lock: %v %v", want, err)
	}
	if _, err := c.ApproveVerified(ctx, p, 34, []byte("0000")); !errors.Is(err, ErrWrongUnlock) {
		t.Fatalf("ApproveVerified with a wrong PIN: %v", err)
	}
	if _, err := c.ApproveVerified(ctx, p, 99, []byte("2468")); !errors.Is(err, ErrNotAChoice) {
		t.Fatalf("ApproveVerified with a number not shown: %v", err)
	}
	p.UserVerification = push.UVPreferred
	if want, _ := c.WantsVerification(p); !want {
		t.Fatal("preferred with a lock set does not ask for it")
	}
	p.UserVerification = push.UVNone
	if want, _ := c.WantsVerification(p); want {
		t.Fatal("none asks for verification")
	}
}

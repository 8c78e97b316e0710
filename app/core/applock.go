package core

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/seed-3a5b824e/assent/crypto"
)

// The app lock keeps someone at an unlocked computer or phone from reading
// codes or approving sign-ins: a PIN or a passphrase, kept as an Argon2id
// hash in the sealed vault, asked when the app opens, after it has sat
// idle, when it was hidden, and before a push that asks for user
// verification is approved.

// Kinds of app lock.
const (
	LockPIN        = "pin"
	LockPassphrase = "passphrase"
)

// Bounds on what an app lock may be.
const (
	MinPINLength        = 4
	MaxPINLength        = 16
	MinPassphraseLength = 8 // characters
	maxPassphraseBytes  = 1024
)

// appLock is the lock as kept in the vault.
type appLock struct {
	Kind string `json:"kind"`
	Hash string `json:"hash"` // Argon2id, PHC string
}

// Errors of the app lock that callers branch on.
var (
	ErrWrongUnlock = errors.New("wrong PIN or passphrase")
	ErrNoAppLock   = errors.New("no app lock is set")
	// ErrUnlockThrottled means too many wrong tries in a row; see
	// ThrottledError for how long to wait.
	ErrUnlockThrottled = errors.New("too many wrong tries")
)

// ThrottledError says how long to wait before the next try.
type ThrottledError struct{ Wait time.Duration }

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many wrong tries: try again in %s", e.Wait.Round(time.Second))
}

func (e *ThrottledError) Unwrap() error { return ErrUnlockThrottled }

// freeTries wrong tries are allowed before each further one makes the next
// wait: 30 s, then doubling up to an hour. A four-digit PIN then takes
// weeks to guess.
const (
	freeTries     = 5
	firstThrottle = 30 * time.Second
	maxThrottle   = time.Hour
)

// LockSecretError says why a PIN or passphrase cannot be the app lock; its
// Problem is written for the person ("a PIN has digits only").
type LockSecretError struct{ Problem string }

func (e *LockSecretError) Error() string { return e.Problem }

// CheckLockSecret says whether secret may be an app lock of kind.
func CheckLockSecret(kind string, secret []byte) error {
	switch kind {
	case LockPIN:
		if len(secret) < MinPINLength || len(secret) > MaxPINLength {
			return &LockSecretError{Problem: fmt.Sprintf("a PIN has %d to %d digits", MinPINLength, MaxPINLength)}
		}
		for _, b := range secret {
			if b < '0' || b > '9' {
				return &LockSecretError{Problem: "a PIN has digits only"}
			}
		}
	case LockPassphrase:
		if !utf8.Valid(secret) {
			return &LockSecretError{Problem: "the passphrase is not UTF-8 text"}
		}
		if n := utf8.RuneCount(secret); n < MinPassphraseLength {
			return &LockSecretError{Problem: fmt.Sprintf("a passphrase has at least %d characters", MinPassphraseLength)}
		}
		if len(secret) > maxPassphraseBytes {
			return &LockSecretError{Problem: fmt.Sprintf("a passphrase has at most %d bytes", maxPassphraseBytes)}
		}
	default:
		return fmt.Errorf("unknown app lock %q: want pin or passphrase", kind)
	}
	return nil
}

// LockKind is the kind of the app lock ("pin" or "passphrase"), or "" when
// there is none.
func (c *Core) LockKind() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.load()
	if c.vault.Lock == nil {
		return ""
	}
	return c.vault.Lock.Kind
}

// SetLock sets or changes the app lock. Changing a lock needs the current
// secret (current is ignored when there is no lock yet).
func (c *Core) SetLock(kind string, secret, current []byte) error {
	if err := CheckLockSecret(kind, secret); err != nil {
		return fmt.Errorf("set app lock: %w", err)
	}
	if c.LockKind() != "" {
		if err := c.CheckUnlock(current); err != nil {
			return fmt.Errorf("change app lock: %w", err)
		}
	}
	hash := crypto.HashPassword(string(secret), c.lockKDF())
	return c.update(func(v *vault) error {
		v.Lock = &appLock{Kind: kind, Hash: hash}
		return nil
	})
}

// ClearLock removes the app lock; it needs the current secret.
func (c *Core) ClearLock(current []byte) error {
	if c.LockKind() == "" {
		return ErrNoAppLock
	}
	if err := c.CheckUnlock(current); err != nil {
		return fmt.Errorf("remove app lock: %w", err)
	}
	return c.update(func(v *vault) error {
		v.Lock = nil
		return nil
	})
}

func (c *Core) lockKDF() crypto.Argon2Params {
	if c.opts.LockKDF != (crypto.Argon2Params{}) {
		return c.opts.LockKDF
	}
	return crypto.DefaultArgon2
}

// throttle counts wrong unlock tries in this process. It is not kept on
// disk: someone who can restart the app at will can also copy the vault
// away, and Argon2id is what slows guessing there.
type throttle struct {
	mu       sync.Mutex
	failures int
	until    time.Time
}

// CheckUnlock checks a PIN or passphrase against the app lock. It returns
// ErrNoAppLock when there is none, ErrWrongUnlock, or a *ThrottledError
// after repeated wrong tries (without checking the secret).
func (c *Core) CheckUnlock(secret []byte) error {
	c.mu.Lock()
	_ = c.load()
	lock := c.vault.Lock
	c.mu.Unlock()
	if lock == nil {
		return ErrNoAppLock
	}
	t := &c.throttle
	t.mu.Lock()
	defer t.mu.Unlock()
	now := c.now()
	if now.Before(t.until) {
		return &ThrottledError{Wait: t.until.Sub(now)}
	}
	ok, err := crypto.VerifyPassword(string(secret), lock.Hash)
	if err != nil {
		return fmt.Errorf("the app lock in the vault is damaged: %w", err)
	}
	if !ok {
		t.failures++
		if extra := t.failures - freeTries; extra >= 0 {
			wait := min(firstThrottle<<min(extra, 20), maxThrottle)
			t.until = now.Add(wait)
			return fmt.Errorf("%w; %w", ErrWrongUnlock, &ThrottledError{Wait: wait})
		}
		return ErrWrongUnlock
	}
	t.failures, t.until = 0, time.Time{}
	return nil
}

// Settings are the person's choices for the app.
type Settings struct {
	// AutoLock locks the app after this long without use; 0 never.
	AutoLock time.Duration `json:"autoLock"`
	// LockWhenHidden locks the app when its window is hidden or it goes to
	// the background.
	LockWhenHidden bool `json:"lockWhenHidden"`
	// CloseToTray keeps the app running in the system tray when its window
	// is closed, so pushes still arrive.
	CloseToTray bool `json:"closeToTray"`
	// StartHidden starts the app in the tray, without a window.
	StartHidden bool `json:"startHidden"`
	// NoNotificationsSaid records that the person was told, once, that this
	// desktop shows no notifications.
	NoNotificationsSaid bool `json:"noNotificationsSaid,omitempty"`
}

// DefaultSettings are the settings of a new home.
func DefaultSettings() Settings {
	return Settings{AutoLock: 5 * time.Minute, LockWhenHidden: true, CloseToTray: true}
}

// MaxAutoLock bounds the auto-lock delay.
const MaxAutoLock = 24 * time.Hour

// Check says whether the settings make sense.
func (s Settings) Check() error {
	if s.AutoLock < 0 || s.AutoLock > MaxAutoLock {
		return fmt.Errorf("auto-lock after %s: want 0 (never) to %s", s.AutoLock, MaxAutoLock)
	}
	if s.AutoLock != 0 && s.AutoLock < 10*time.Second {
		return fmt.Errorf("auto-lock after %s: want at least 10s, or 0 for never", s.AutoLock)
	}
	return nil
}

// Settings are the app's settings, DefaultSettings until changed.
func (c *Core) Settings() Settings {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.load()
	if c.vault.Settings == nil {
		return DefaultSettings()
	}
	return *c.vault.Settings
}

// SetSettings saves the app's settings.
func (c *Core) SetSettings(s Settings) error {
	if err := s.Check(); err != nil {
		return err
	}
	return c.update(func(v *vault) error {
		v.Settings = &s
		return nil
	})
}

// Guard is the app lock of a running app: whether it is locked now, and
// when it locks by itself. The app reports use (Touch), being hidden
// (Hidden) and the passing of time (Tick); the Guard decides.
type Guard struct {
	c        *Core
	mu       sync.Mutex
	locked   bool
	lastUsed time.Time
}

// NewGuard starts locked when an app lock is set.
func (c *Core) NewGuard() *Guard {
	return &Guard{c: c, locked: c.LockKind() != "", lastUsed: c.now()}
}

// Locked says whether the app is locked now.
func (g *Guard) Locked() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.locked && g.c.LockKind() == "" {
		// The lock was removed (by the CLI, say): nothing to unlock.
		g.locked = false
	}
	return g.locked
}

// Unlock checks the secret and unlocks the app.
func (g *Guard) Unlock(secret []byte) error {
	if err := g.c.CheckUnlock(secret); err != nil && !errors.Is(err, ErrNoAppLock) {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.locked = false
	g.lastUsed = g.c.now()
	return nil
}

// Lock locks the app now, if it has a lock; it says whether it is locked.
func (g *Guard) Lock() bool {
	has := g.c.LockKind() != ""
	g.mu.Lock()
	defer g.mu.Unlock()
	g.locked = has
	return g.locked
}

// Touch records use of the app, which puts off the auto-lock.
func (g *Guard) Touch() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastUsed = g.c.now()
}

// Hidden records that the app was hidden; it locks when the settings say
// so. It reports whether the app locked now.
func (g *Guard) Hidden() bool {
	if !g.c.Settings().LockWhenHidden {
		return false
	}
	return g.lockNow()
}

// Tick locks the app when it has not been used for the auto-lock delay.
// It reports whether the app locked now.
func (g *Guard) Tick() bool {
	s := g.c.Settings()
	if s.AutoLock == 0 {
		return false
	}
	g.mu.Lock()
	idle := g.c.now().Sub(g.lastUsed)
	g.mu.Unlock()
	if idle < s.AutoLock {
		return false
	}
	return g.lockNow()
}

func (g *Guard) lockNow() bool {
	has := g.c.LockKind() != ""
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.locked || !has {
		return false
	}
	g.locked = true
	return true
}

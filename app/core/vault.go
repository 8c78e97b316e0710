package core

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
)

// Account kinds.
const (
	KindAssent = "assent" // an enrollment with an Assent server: push + TOTP
	KindTOTP   = "totp"   // a third-party TOTP account
	KindHOTP   = "hotp"   // a third-party HOTP account
)

// Account is one entry of the app's list.
type Account struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	Issuer string `json:"issuer"`
	Name   string `json:"name"`
	// OTP parameters (every kind has a code).
	Secret    []byte `json:"secret"`
	Algorithm string `json:"algorithm"`
	Digits    int    `json:"digits"`
	Period    int    `json:"period,omitempty"`
	Counter   uint64 `json:"counter,omitempty"`
	// Assent enrollments.
	Server       string          `json:"server,omitempty"`
	PushURL      string          `json:"pushUrl,omitempty"`
	EnrollmentID string          `json:"enrollmentId,omitempty"`
	ServerKey    json.RawMessage `json:"serverKey,omitempty"`
	AddedAt      time.Time       `json:"addedAt"`
	// RevokedAt is when this device learnt that its server revoked the
	// enrollment (403 device_revoked); zero while it is live. A later
	// successful connection clears it, so a forged refusal does not stick.
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

// Revoked says whether the server removed this enrollment.
func (a Account) Revoked() bool { return !a.RevokedAt.IsZero() }

// Label is how an account is named to a person: "Issuer:name".
func (a Account) Label() string {
	if a.Issuer == "" {
		return a.Name
	}
	return a.Issuer + ":" + a.Name
}

// OTPParams are the account's code parameters.
func (a Account) OTPParams() crypto.OTPParams {
	return crypto.OTPParams{Secret: a.Secret, Algorithm: a.Algorithm, Digits: a.Digits, Period: a.Period}
}

// checkOTP validates the code parameters for the account's kind:
// OTPParams.Check is the TOTP check and refuses HOTP's missing period.
func (a Account) checkOTP() error {
	if a.Kind == KindHOTP {
		_, err := crypto.HOTP(a.OTPParams(), a.Counter)
		return err
	}
	return a.OTPParams().Check()
}

// vault is the sealed list of accounts, with the app lock and the
// settings: sealed, so that neither can be changed (say, the lock removed)
// by editing a file.
type vault struct {
	Version  int       `json:"version"`
	Accounts []Account `json:"accounts"`
	Lock     *appLock  `json:"lock,omitempty"`
	Settings *Settings `json:"settings,omitempty"`
}

const vaultKeyName = "vault-key"

func (c *Core) vaultAAD() []byte { return []byte("assent:vault:" + c.cfg.Namespace) }

// openVault loads the vault key (creating it for a new home) and reads the
// vault.
func (c *Core) openVault() error {
	key, err := c.keys.Get(vaultKeyName)
	if errors.Is(err, crypto.ErrKeyNotFound) {
		if _, statErr := os.Stat(filepath.Join(c.home, vaultFile)); statErr == nil {
			return fmt.Errorf("the %s key store has no key for the vault in %s: it was made with another keychain or user; nothing was changed", c.cfg.KeyStore, c.home)
		}
		key = crypto.RandomBytes(crypto.SealKeySize)
		if err := c.keys.Set(vaultKeyName, key); err != nil {
			return fmt.Errorf("store the vault key in the %s key store: %w", c.cfg.KeyStore, err)
		}
	} else if err != nil {
		return fmt.Errorf("read the vault key from the %s key store: %w", c.cfg.KeyStore, err)
	}
	c.seal, err = crypto.NewSealer(key)
	if err != nil {
		return err
	}
	return c.load()
}

func (c *Core) load() error {
	data, err := os.ReadFile(filepath.Join(c.home, vaultFile))
	if errors.Is(err, os.ErrNotExist) {
		c.vault = vault{Version: 1}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read vault: %w", err)
	}
	plain, err := c.seal.Open(data, c.vaultAAD())
	if err != nil {
		return fmt.Errorf("vault %s does not open with the key in the %s key store: %w", filepath.Join(c.home, vaultFile), c.cfg.KeyStore, err)
	}
	var v vault
	if err := json.Unmarshal(plain, &v); err != nil || v.Version != 1 {
		return fmt.Errorf("vault %s is damaged", filepath.Join(c.home, vaultFile))
	}
	c.vault = v
	return nil
}

// writeFile is how update saves the vault; tests replace it to play a full
// disk.
var writeFile = writeFileAtomic

// update changes the vault under the home lock: it rereads the vault (a
// CLI may have changed it), applies fn, and writes it back atomically. If
// fn or the write fails, nothing changes, on disk or in memory.
func (c *Core) update(fn func(v *vault) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, err := lockHome(c.home)
	if err != nil {
		return err
	}
	defer l.unlock()
	if err := c.load(); err != nil {
		return err
	}
	v := c.vault
	v.Version = 1
	v.Accounts = append([]Account(nil), c.vault.Accounts...)
	if err := fn(&v); err != nil {
		return err
	}
	plain, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(c.home, vaultFile), c.seal.Seal(plain, c.vaultAAD()), 0o600); err != nil {
		return fmt.Errorf("save vault: %w (nothing was changed)", err)
	}
	c.vault = v
	return nil
}

// Accounts lists the accounts in the person's order.
func (c *Core) Accounts() []Account {
	c.mu.Lock()
	defer c.mu.Unlock()
	_ = c.load() // pick up changes by another process; keep the last good list otherwise
	return append([]Account(nil), c.vault.Accounts...)
}

// AddOTP adds a third-party TOTP or HOTP account from an otpauth:// URI.
func (c *Core) AddOTP(uri string) (Account, error) {
	o, err := enroll.ParseOTPAuth(uri)
	if err != nil {
		return Account{}, err
	}
	return c.addOTPAccount(o)
}

// otpAccount makes the account of a third-party otpauth URI.
func (c *Core) otpAccount(o *enroll.OTPAuth) (Account, error) {
	a := Account{
		ID: newAccountID(), Kind: o.Type, Issuer: o.Issuer, Name: o.Account,
		Secret: o.Secret, Algorithm: o.Algorithm, Digits: o.Digits, Period: o.Period, Counter: o.Counter,
		AddedAt: c.now(),
	}
	if err := a.checkOTP(); err != nil {
		return Account{}, err
	}
	return a, nil
}

func (c *Core) addOTPAccount(o *enroll.OTPAuth) (Account, error) {
	a, err := c.otpAccount(o)
	if err != nil {
		return Account{}, err
	}
	err = c.update(func(v *vault) error {
		v.Accounts = append(v.Accounts, a)
		return nil
	})
	return a, err
}

func newAccountID() string { return "acc_" + crypto.RandomToken(6) }

// Rename changes an account's issuer and name as shown.
func (c *Core) Rename(id, issuer, name string) error {
	if name == "" {
		return errors.New("rename: the name may not be empty")
	}
	return c.update(func(v *vault) error {
		for i := range v.Accounts {
			if v.Accounts[i].ID == id {
				v.Accounts[i].Issuer, v.Accounts[i].Name = issuer, name
				return nil
			}
		}
		return fmt.Errorf("rename: no account %q", id)
	})
}

// Move puts an account at position to (0-based) in the list.
func (c *Core) Move(id string, to int) error {
	return c.update(func(v *vault) error {
		from := -1
		for i, a := range v.Accounts {
			if a.ID == id {
				from = i
			}
		}
		if from < 0 {
			return fmt.Errorf("move: no account %q", id)
		}
		to = max(0, min(to, len(v.Accounts)-1))
		a := v.Accounts[from]
		v.Accounts = append(v.Accounts[:from], v.Accounts[from+1:]...)
		v.Accounts = append(v.Accounts[:to], append([]Account{a}, v.Accounts[to:]...)...)
		return nil
	})
}

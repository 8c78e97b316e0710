package core

import (
	"fmt"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
)

// Code is a one-time code as shown.
type Code struct {
	Account Account
	Code    string
	// Remaining is how long a TOTP code stays current; 0 for HOTP.
	Remaining time.Duration
}

// Code computes the current code of an account (TOTP), or the next one
// (HOTP, which moves the counter on and saves it first, so a code is never
// shown twice).
func (c *Core) Code(id string) (Code, error) {
	a, err := c.Find(id)
	if err != nil {
		return Code{}, err
	}
	if a.Kind == KindHOTP {
		var code string
		err := c.update(func(v *vault) error {
			for i := range v.Accounts {
				if v.Accounts[i].ID == a.ID {
					acct := &v.Accounts[i]
					cd, err := crypto.HOTP(acct.OTPParams(), acct.Counter)
					if err != nil {
						return err
					}
					code = cd
					acct.Counter++
					a = *acct
					return nil
				}
			}
			return fmt.Errorf("account %q is gone", a.ID)
		})
		if err != nil {
			// The counter was not saved: showing the code would let it be
			// shown again.
			return Code{}, err
		}
		return Code{Account: a, Code: code}, nil
	}
	return TOTPCode(a, c.now())
}

// TOTPCode is the code of a TOTP (or Assent) account at now, without
// reading the vault: the app redraws every code each second from the list
// it holds. HOTP codes move a counter and come from Code only.
func TOTPCode(a Account, now time.Time) (Code, error) {
	if a.Kind == KindHOTP {
		return Code{}, fmt.Errorf("%s is an HOTP account: its next code comes from Code, which moves the counter on", a.Label())
	}
	code, err := crypto.TOTP(a.OTPParams(), now)
	if err != nil {
		return Code{}, err
	}
	period := time.Duration(a.Period) * time.Second
	next := time.Unix((crypto.TOTPStep(a.OTPParams(), now)+1)*int64(a.Period), 0)
	return Code{Account: a, Code: code, Remaining: min(next.Sub(now), period)}, nil
}

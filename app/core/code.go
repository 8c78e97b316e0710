package core

import (
	"fmt"
	"strings"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
)

// KindSteam is a Steam Guard account: TOTP whose codes are five characters
// from crypto.SteamAlphabet. It is an imported account's otpauth type, as
// KindTOTP and KindHOTP are.
const KindSteam = "steam"

// Code is a one-time code as shown.
type Code struct {
	Account Account
	Code    string
	// Remaining is how long a TOTP code stays current; 0 for HOTP.
	Remaining time.Duration
}

// Grouped is the code as it is shown: see GroupCode.
func (c Code) Grouped() string { return GroupCode(c.Code) }

// GroupCode spaces a code for reading, the way issuers and other
// authenticators show it: groups of three from the left, with a group of
// four last rather than a lone digit — "123 456", "123 4567", "1234 5678",
// "123 456 789", "123 456 7890". Five characters (short codes, Steam's
// "FR8RV") are shown as they are: Steam shows its codes whole.
func GroupCode(code string) string {
	switch n := len(code); {
	case n <= 5:
		return code
	case n == 8:
		return code[:4] + " " + code[4:]
	default:
		var b strings.Builder
		for len(code) > 4 {
			b.WriteString(code[:3])
			b.WriteByte(' ')
			code = code[3:]
		}
		b.WriteString(code)
		return b.String()
	}
}

// codeParams are the parameters codes are computed with: the account's,
// written in Steam's alphabet for a Steam account.
func codeParams(a Account) crypto.OTPParams {
	p := a.OTPParams()
	if a.Kind == KindSteam {
		p.Encoding = crypto.EncodingSteam
	}
	return p
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
					cd, err := crypto.HOTP(codeParams(*acct), acct.Counter)
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

// TOTPCode is the code of a TOTP, Steam (or Assent) account at now,
// without reading the vault: the app redraws every code each second from
// the list it holds. HOTP codes move a counter and come from Code only.
func TOTPCode(a Account, now time.Time) (Code, error) {
	if a.Kind == KindHOTP {
		return Code{}, fmt.Errorf("%s is an HOTP account: its next code comes from Code, which moves the counter on", a.Label())
	}
	p := codeParams(a)
	code, err := crypto.TOTP(p, now)
	if err != nil {
		return Code{}, err
	}
	period := time.Duration(a.Period) * time.Second
	next := time.Unix((crypto.TOTPStep(p, now)+1)*int64(a.Period), 0)
	return Code{Account: a, Code: code, Remaining: min(next.Sub(now), period)}, nil
}

package core

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
)

func base32NoPad(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(strings.TrimRight(s, "=")))
}

// Client is the push client of an Assent account, with its device key from
// the key store.
func (c *Core) Client(a Account) (*push.Client, error) {
	if a.Kind != KindAssent {
		return nil, fmt.Errorf("%s is not an Assent account; it has codes but no push", a.Label())
	}
	der, err := c.keys.Get(deviceKeyName(a.EnrollmentID))
	if err != nil {
		return nil, fmt.Errorf("device key of %s: %w", a.Label(), err)
	}
	key, err := crypto.ParsePrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("device key of %s: %w", a.Label(), err)
	}
	serverKey, err := crypto.ParsePublicJWK(a.ServerKey)
	if err != nil {
		return nil, fmt.Errorf("server key of %s: %w", a.Label(), err)
	}
	clock, _ := c.clocks.LoadOrStore(a.EnrollmentID, new(push.Clock))
	return &push.Client{Server: a.Server, PushURL: a.PushURL, EnrollmentID: a.EnrollmentID, Key: key, ServerKey: serverKey, HTTP: c.opts.HTTP, Now: c.opts.Now,
		Clock: clock.(*push.Clock)}, nil
}

// Prompt is a pending challenge and the account it is for.
type Prompt struct {
	Account Account
	*push.Challenge
}

// Expired says whether the server will no longer take an answer.
func (p Prompt) Expired(now time.Time) bool { return !now.Before(p.ExpiresAt()) }

func (c *Core) assentAccounts() []Account {
	var out []Account
	for _, a := range c.Accounts() {
		if a.Kind == KindAssent {
			out = append(out, a)
		}
	}
	return out
}

// Challenges asks every Assent account's server for pending challenges.
// It returns what it got even when some servers fail, with their errors.
func (c *Core) Challenges(ctx context.Context) ([]Prompt, error) {
	var (
		mu   sync.Mutex
		out  []Prompt
		errs []error
		wg   sync.WaitGroup
	)
	for _, a := range c.assentAccounts() {
		wg.Go(func() {
			cl, err := c.Client(a)
			var chs []*push.Challenge
			if err == nil {
				chs, _, err = cl.Poll(ctx)
				c.noteServerAnswer(a, err == nil, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", a.Label(), err))
			}
			for _, ch := range chs {
				out = append(out, Prompt{Account: a, Challenge: ch})
			}
		})
	}
	wg.Wait()
	slices.SortFunc(out, func(a, b Prompt) int { return int(a.IAT - b.IAT) })
	return out, errors.Join(errs...)
}

// ErrNoSuchChallenge means no server lists the challenge as pending.
var ErrNoSuchChallenge = errors.New("no pending challenge with that id (answered, expired or cancelled already?)")

// FindPrompt finds a pending challenge by id on the accounts' servers.
func (c *Core) FindPrompt(ctx context.Context, id string) (Prompt, error) {
	ps, err := c.Challenges(ctx)
	for _, p := range ps {
		if p.ID == id {
			return p, nil
		}
	}
	if err != nil {
		return Prompt{}, fmt.Errorf("%w; some servers could not be asked: %v", ErrNoSuchChallenge, err)
	}
	return Prompt{}, ErrNoSuchChallenge
}

// ErrNotAChoice means a number is not among a challenge's choices.
var ErrNotAChoice = errors.New("is not one of the choices")

// ErrVerificationRequired means a challenge asks the person to verify
// themselves (the app lock) before it is approved: use ApproveVerified.
var ErrVerificationRequired = errors.New("this request asks you to verify it's you: enter the app's PIN or passphrase to approve it")

// WantsVerification says whether approving p asks for the app lock first:
// always when the challenge requires user verification (ErrNoAppLock when
// no lock is set, since nothing could verify the person), and when it
// prefers it and a lock is set.
func (c *Core) WantsVerification(p Prompt) (bool, error) {
	switch p.UserVerification {
	case push.UVRequired:
		if c.LockKind() == "" {
			return true, fmt.Errorf("%w: this request asks you to verify it's you, which needs an app lock (PIN or passphrase); set one, then approve", ErrNoAppLock)
		}
		return true, nil
	case push.UVPreferred:
		return c.LockKind() != "", nil
	}
	return false, nil
}

// Approve approves a challenge with the number the person picked. A number
// that is not one of the choices is refused here, without answering, so a
// typo does not burn the push. A challenge that requires user verification
// is refused with ErrVerificationRequired.
func (c *Core) Approve(ctx context.Context, p Prompt, number int) (string, error) {
	if p.UserVerification == push.UVRequired {
		return "", ErrVerificationRequired
	}
	return c.approve(ctx, p, number, false)
}

// ApproveVerified approves a challenge after checking the app lock, and
// tells the server the person verified themselves.
func (c *Core) ApproveVerified(ctx context.Context, p Prompt, number int, secret []byte) (string, error) {
	if err := c.checkChoice(p, number); err != nil {
		return "", err
	}
	if err := c.CheckUnlock(secret); err != nil {
		return "", err
	}
	return c.approve(ctx, p, number, true)
}

func (c *Core) checkChoice(p Prompt, number int) error {
	if len(p.Numbers) > 0 && !slices.Contains(p.Numbers, number) {
		return fmt.Errorf("%d %w %v: pick the number shown on the sign-in page", number, ErrNotAChoice, p.Numbers)
	}
	return nil
}

func (c *Core) approve(ctx context.Context, p Prompt, number int, uv bool) (string, error) {
	if err := c.checkChoice(p, number); err != nil {
		return "", err
	}
	if len(p.Numbers) == 0 {
		number = 0
	}
	return c.answer(ctx, p, push.Answer{Consent: push.ConsentApproved, Number: number, UV: uv})
}

// Deny denies a challenge; report says "this wasn't me", which also raises
// the account's risk on the server.
func (c *Core) Deny(ctx context.Context, p Prompt, report bool) (string, error) {
	consent := push.ConsentDenied
	if report {
		consent = push.ConsentReported
	}
	return c.answer(ctx, p, push.Answer{Consent: consent})
}

func (c *Core) answer(ctx context.Context, p Prompt, a push.Answer) (string, error) {
	cl, err := c.Client(p.Account)
	if err != nil {
		return "", err
	}
	out, err := cl.Respond(ctx, p.Challenge, a)
	if IsRevoked(err) {
		c.noteServerAnswer(p.Account, false, err)
	}
	return out, err
}

// DenyID denies a challenge known only by id (the CLI).
func (c *Core) DenyID(ctx context.Context, id string, report bool) (string, error) {
	p, err := c.FindPrompt(ctx, id)
	if err != nil {
		return "", err
	}
	return c.Deny(ctx, p, report)
}

// Events is what Listen reports. Calls may come from several goroutines
// (one per account) but never at once for the same account.
type Events struct {
	Prompt   func(Prompt)
	Resolved func(a Account, id, outcome string)
	State    func(a Account, s push.ConnState, err error)
	// Drift reports the device clock minus the server's, at each connect.
	Drift func(a Account, drift time.Duration)
	Error func(a Account, err error)
}

// Listen keeps a push channel to every Assent account's server until ctx
// ends, reporting prompts as they arrive.
func (c *Core) Listen(ctx context.Context, ev Events) error {
	accts := c.assentAccounts()
	if len(accts) == 0 {
		return errors.New("no Assent accounts to listen for: enroll with 'assent enroll LINK|QR.png' first")
	}
	var wg sync.WaitGroup
	for _, a := range accts {
		cl, err := c.Client(a)
		if err != nil {
			if ev.Error != nil {
				ev.Error(a, err)
			}
			continue
		}
		wg.Go(func() {
			h := push.Handler{
				Challenge: func(ch *push.Challenge) {
					if ev.Prompt != nil {
						ev.Prompt(Prompt{Account: a, Challenge: ch})
					}
				},
				Resolved: func(id, outcome string) {
					if ev.Resolved != nil {
						ev.Resolved(a, id, outcome)
					}
				},
				Welcome: func(t time.Time) {
					if ev.Drift != nil {
						ev.Drift(a, c.now().Sub(t))
					}
				},
				Error: func(err error) {
					if ev.Error != nil {
						ev.Error(a, err)
					}
				},
				State: func(s push.ConnState, err error) {
					// The vault remembers a revocation, so the account shows
					// it at the next start even before (or without) a
					// connection.
					c.noteServerAnswer(a, s == push.StateConnected, err)
					if ev.State != nil {
						ev.State(a, s, err)
					}
				},
			}
			if err := cl.Run(ctx, h); err != nil && ev.Error != nil {
				ev.Error(a, err)
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}

// Remove deletes an account. An Assent account is first revoked on its
// server through a signed request; if the server cannot be reached the
// account stays, unless force is set.
func (c *Core) Remove(ctx context.Context, id string, force bool) error {
	a, err := c.Find(id)
	if err != nil {
		return err
	}
	if a.Kind == KindAssent {
		cl, err := c.Client(a)
		if err == nil {
			err = cl.Revoke(ctx)
		}
		var ae *push.APIError
		if errors.As(err, &ae) && ae.Code == "device_revoked" {
			err = nil
		}
		if err != nil && !force {
			return fmt.Errorf("remove %s: the server did not confirm the device is revoked (%w); try again, or force removal", a.Label(), err)
		}
	}
	if err := c.update(func(v *vault) error {
		v.Accounts = slices.DeleteFunc(v.Accounts, func(x Account) bool { return x.ID == a.ID })
		return nil
	}); err != nil {
		return err
	}
	if a.Kind == KindAssent {
		if err := c.keys.Delete(deviceKeyName(a.EnrollmentID)); err != nil && !errors.Is(err, crypto.ErrKeyNotFound) {
			return fmt.Errorf("account removed, but its key stayed in the %s key store: %w", c.cfg.KeyStore, err)
		}
	}
	return nil
}

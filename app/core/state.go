package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/push"
)

// CodeDeviceRevoked is the error code with which a server refuses a device
// it no longer knows as enrolled (an administrator removed it, or the
// device revoked itself).
const CodeDeviceRevoked = "device_revoked"

// IsRevoked reports whether err is the server saying this device was
// removed from the account.
func IsRevoked(err error) bool {
	var ae *push.APIError
	return errors.As(err, &ae) && ae.Code == CodeDeviceRevoked
}

// setRevoked records (or clears) that an account's server revoked it. It
// writes the vault only when the flag changes.
func (c *Core) setRevoked(id string, revoked bool) error {
	for _, a := range c.Accounts() {
		if a.ID == id && a.Revoked() == revoked {
			return nil
		}
	}
	return c.update(func(v *vault) error {
		for i := range v.Accounts {
			if v.Accounts[i].ID != id {
				continue
			}
			if revoked && v.Accounts[i].RevokedAt.IsZero() {
				v.Accounts[i].RevokedAt = c.now()
			} else if !revoked {
				v.Accounts[i].RevokedAt = time.Time{}
			}
			return nil
		}
		return nil // removed meanwhile
	})
}

// noteServerAnswer keeps an account's revoked flag in step with what its
// server said: device_revoked sets it, a welcome (ok) clears it.
func (c *Core) noteServerAnswer(a Account, ok bool, err error) {
	switch {
	case IsRevoked(err):
		if serr := c.setRevoked(a.ID, true); serr != nil {
			slog.Warn("record that the server revoked this device", "account", a.Label(), "err", serr)
		}
	case ok && a.Kind == KindAssent:
		if serr := c.setRevoked(a.ID, false); serr != nil {
			slog.Warn("record that this device is live again", "account", a.Label(), "err", serr)
		}
	}
}

// Duplicates lists the Assent accounts already enrolled with a link's
// server for the link's user: enrolling again would make a second device
// that gets every push twice.
func (c *Core) Duplicates(l *enroll.Link) []Account {
	var out []Account
	for _, a := range c.Accounts() {
		if a.Kind == KindAssent && sameServer(a.Server, l.Server) && strings.EqualFold(a.Name, l.User) {
			out = append(out, a)
		}
	}
	return out
}

func sameServer(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// ReplaceError is what EnrollReplacing returns when the new enrollment
// worked but an old one could not be revoked: the new account is saved,
// the old ones that failed stay in the list.
type ReplaceError struct {
	New  Account
	Kept []Account
	Err  error
}

func (e *ReplaceError) Error() string {
	return fmt.Sprintf("enrolled again, but the old enrollment could not be revoked: %v", e.Err)
}

func (e *ReplaceError) Unwrap() error { return e.Err }

// EnrollReplacing enrolls this device with a link's server and then
// revokes the old enrollments given (the same server and user) on the
// server, through the device's own signed DELETE /v1/device, and removes
// them here. The new account takes the first old one's place in the list.
// If the new enrollment fails, the old ones are left as they were. If an
// old one cannot be revoked (the server is unreachable meanwhile), it is
// kept and a *ReplaceError says so; an enrollment the server revoked
// already is simply removed.
func (c *Core) EnrollReplacing(ctx context.Context, l *enroll.Link, old []Account) (Account, error) {
	pos := -1
	if len(old) > 0 {
		pos = slices.IndexFunc(c.Accounts(), func(a Account) bool { return a.ID == old[0].ID })
	}
	a, err := c.Enroll(ctx, l)
	if err != nil {
		return Account{}, err
	}
	var kept []Account
	var errs []error
	for _, o := range old {
		if o.Kind != KindAssent || o.ID == a.ID {
			continue
		}
		// The link's user and server are only what the link says; the
		// server enrolled the user its token belongs to. Only an
		// enrollment of that user on that server is replaced.
		if !sameServer(o.Server, a.Server) || !strings.EqualFold(o.Name, a.Name) {
			kept = append(kept, o)
			errs = append(errs, fmt.Errorf("the server enrolled this device as %s, not %s: %s's enrollment was left as it was", a.Name, o.Name, o.Name))
			continue
		}
		if err := c.Remove(ctx, o.ID, false); err != nil {
			kept = append(kept, o)
			errs = append(errs, err)
		}
	}
	if pos >= 0 {
		if err := c.Move(a.ID, pos); err != nil {
			slog.Warn("move the new enrollment into the old one's place", "err", err)
		}
	}
	if len(errs) > 0 {
		return a, &ReplaceError{New: a, Kept: kept, Err: errors.Join(errs...)}
	}
	return a, nil
}

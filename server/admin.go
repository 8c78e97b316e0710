package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/server/store"
)

// NewUser is what an administrator gives for a new user.
type NewUser struct {
	Login    string
	Email    string
	Groups   []string
	Password string
}

// ErrUserExists means the login is taken.
var ErrUserExists = errors.New("a user with that login exists already")

// AddUser creates a user, with a password when one is given.
func (s *Server) AddUser(ctx context.Context, nu NewUser) (store.User, error) {
	login := NormalizeLogin(nu.Login)
	if login == "" || len(login) > maxLoginLength || !utf8.ValidString(login) || strings.ContainsFunc(login, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return store.User{}, fmt.Errorf("login %q: want 1 to %d printable characters without spaces", nu.Login, maxLoginLength)
	}
	if nu.Email != "" && (!strings.Contains(nu.Email, "@") || len(nu.Email) > 256) {
		return store.User{}, fmt.Errorf("email %q does not look like an address", nu.Email)
	}
	u := store.User{
		ID: newID("usr_"), Login: login, Email: nu.Email, Groups: nu.Groups, Status: store.UserActive,
		Risk: "low", CreatedAt: s.now(),
	}
	// A user may have no password: they sign in only where a policy rule
	// allows passwordless push, and can set one through recovery.
	if nu.Password != "" {
		if err := s.checkNewPassword(u, nu.Password); err != nil {
			var ae *apiError
			if errors.As(err, &ae) {
				return store.User{}, errors.New(ae.Message)
			}
			return store.User{}, err
		}
		u.PasswordHash = crypto.HashPassword(nu.Password, s.opts.PasswordParams)
	}
	if err := s.st.CreateUser(ctx, u); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, fmt.Errorf("%q: %w", login, ErrUserExists)
		}
		return store.User{}, err
	}
	s.audit(ctx, store.AuditEvent{Type: "user.created", UserID: u.ID, Detail: map[string]string{"login": login, "by": "admin"}})
	return u, nil
}

// NewEnrollLink issues a single-use enrollment link for a user, valid for
// the configured enrollment lifetime.
func (s *Server) NewEnrollLink(ctx context.Context, login string) (*enroll.Link, error) {
	u, err := s.st.GetUserByLogin(ctx, NormalizeLogin(login))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no user %q: add one with 'assentd user add %s'", login, login)
	} else if err != nil {
		return nil, err
	}
	if u.Status != store.UserActive {
		return nil, fmt.Errorf("user %q is %s", u.Login, u.Status)
	}
	token := crypto.RandomToken(32)
	now := s.now()
	t := store.EnrollToken{Hash: crypto.HashToken(token), UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(s.opts.EnrollTTL)}
	link := &enroll.Link{Version: 1, Server: s.opts.URL, Token: token, User: u.Login, Org: s.opts.Org, Expires: t.ExpiresAt.Truncate(time.Second), Pin: s.pin}
	// What the app will parse must parse: a server URL or org the link
	// format refuses is caught here, not on the person's phone.
	if _, err := enroll.ParseLink(link.String()); err != nil {
		return nil, fmt.Errorf("cannot make a valid enrollment link: %w", err)
	}
	if err := s.st.CreateEnrollToken(ctx, t); err != nil {
		return nil, err
	}
	s.audit(ctx, store.AuditEvent{Type: "enroll.link_created", UserID: u.ID, Detail: map[string]string{"expires": t.ExpiresAt.UTC().Format(time.RFC3339)}})
	return link, nil
}

// Errors of removing a device and resetting a user's risk.
var (
	// errNoDevice: no device with that ID belongs to the user; an unknown
	// ID and another user's device get this same answer.
	errNoDevice = errors.New("no such device")
	// errDeviceGone: the device was revoked already (by another request,
	// perhaps one racing this one); nothing was done and nothing audited.
	errDeviceGone = errors.New("the device was removed already")
	// errNoUser: no user with that ID or login.
	errNoUser = errors.New("no such user")
)

// revokeDeviceOf revokes a device once, as RevokeDevice does (pending
// pushes cancelled, sockets dropped, an audit event), when it belongs to
// owner ("" takes any owner: the admin's case). The check and the
// revocation happen in one store transaction, so a device of another user
// is never touched, and of fifty requests racing to revoke the same device
// one does it and the others get errDeviceGone: one audit event. by says
// who asked ("user", "admin LOGIN").
func (s *Server) revokeDeviceOf(ctx context.Context, owner, deviceID, by string) (store.Device, error) {
	if deviceID == "" || len(deviceID) > 64 {
		return store.Device{}, errNoDevice
	}
	now := s.now()
	d, err := s.st.UpdateDevice(ctx, deviceID, func(d *store.Device) error {
		switch {
		case owner != "" && d.UserID != owner:
			return errNoDevice
		case !d.RevokedAt.IsZero():
			return errDeviceGone
		}
		d.RevokedAt = now
		return nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound) || errors.Is(err, errNoDevice):
		return store.Device{}, errNoDevice
	case errors.Is(err, errDeviceGone):
		return store.Device{}, errDeviceGone
	case err != nil:
		return store.Device{}, err
	}
	// The device is revoked from here on: what follows only tidies up, and
	// a failure in it is logged, not returned.
	if cs, err := s.st.ListChallenges(ctx, store.ChallengeFilter{DeviceID: d.ID, Status: store.ChallengePending}); err != nil {
		s.log.Error("revoke device: list pending pushes", "err", err)
	} else {
		for _, c := range cs {
			s.cancelChallenge(ctx, c.ID, "device revoked")
		}
	}
	s.audit(ctx, store.AuditEvent{Type: "device.revoked", UserID: d.UserID, DeviceID: d.ID, Detail: map[string]string{"by": by}})
	s.hub.disconnect(d.ID)
	return d, nil
}

// ResetUserRisk sets a user's standing risk back to low, as of now: what
// an administrator does once a reported push is explained. It says the
// level it was; resetting a user at low already changes nothing and
// audits nothing. by says who asked ("admin LOGIN").
func (s *Server) ResetUserRisk(ctx context.Context, userID, by string) (was string, err error) {
	now := s.now()
	errLow := errors.New("low already")
	_, err = s.st.UpdateUser(ctx, userID, func(u *store.User) error {
		was = u.Risk
		if u.Risk == "" || u.Risk == "low" {
			return errLow
		}
		u.Risk, u.RiskSince = "low", now
		return nil
	})
	switch {
	case errors.Is(err, errLow):
		return "low", nil
	case errors.Is(err, store.ErrNotFound):
		return "", errNoUser
	case err != nil:
		return "", err
	}
	s.audit(ctx, store.AuditEvent{Type: "user.risk_reset", UserID: userID, Detail: map[string]string{"by": by, "from": was, "risk": "low"}})
	return was, nil
}

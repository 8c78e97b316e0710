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

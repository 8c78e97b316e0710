package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/push"
)

// ReadInput turns what a person gives — a link, an otpauth URI, or the path
// of a QR image — into the text of a link.
func ReadInput(input string) (string, error) {
	in := strings.TrimSpace(input)
	if in == "" {
		return "", errors.New("give an enrollment link, an otpauth:// URI, or a QR image file")
	}
	if strings.Contains(in, "://") {
		return in, nil
	}
	if _, err := os.Stat(in); err != nil {
		return "", fmt.Errorf("%q is neither a link (assent://… or otpauth://…) nor a readable image file", in)
	}
	return enroll.DecodeFile(in)
}

// Add adds whatever input holds: an Assent enrollment link (enrolling this
// device with the server) or a third-party otpauth:// account.
func (c *Core) Add(ctx context.Context, input string) (Account, error) {
	text, err := ReadInput(input)
	if err != nil {
		return Account{}, err
	}
	v, err := enroll.Parse(text)
	if err != nil {
		return Account{}, err
	}
	switch l := v.(type) {
	case *enroll.Link:
		return c.Enroll(ctx, l)
	case *enroll.OTPAuth:
		return c.addOTPAccount(l)
	}
	return Account{}, fmt.Errorf("unsupported link %T", v)
}

// Enroll enrolls this device with the server of an enrollment link: it makes
// a device key in the key store, proves it to the server, checks the
// server's key against the link's pin, and saves the account.
func (c *Core) Enroll(ctx context.Context, link *enroll.Link) (Account, error) {
	key, err := crypto.NewDeviceKey()
	if err != nil {
		return Account{}, err
	}
	dev := push.Device{Name: c.opts.DeviceName, Platform: runtime.GOOS, OS: runtime.GOOS + "/" + runtime.GOARCH, Model: "assent", KeyStore: c.cfg.KeyStore}
	resp, serverKey, err := push.EnrollDevice(ctx, c.opts.HTTP, link, key, dev, c.now())
	if err != nil {
		return Account{}, err
	}
	secret, err := base32NoPad(resp.TOTP.Secret)
	if err != nil {
		return Account{}, fmt.Errorf("enroll: server sent a bad TOTP secret: %w", err)
	}
	a := Account{
		ID: newAccountID(), Kind: KindAssent, Issuer: resp.Org, Name: resp.User,
		Secret: secret, Algorithm: resp.TOTP.Algorithm, Digits: resp.TOTP.Digits, Period: resp.TOTP.Period,
		Server: link.Server, PushURL: resp.PushURL, EnrollmentID: resp.EnrollmentID, ServerKey: resp.ServerKey,
		AddedAt: c.now(),
	}
	client := &push.Client{Server: link.Server, EnrollmentID: resp.EnrollmentID, Key: key, ServerKey: serverKey, HTTP: c.opts.HTTP, Now: c.opts.Now}
	undo := func(cause error) (Account, error) {
		// The server enrolled a key this device could not keep: take the
		// enrollment back rather than leave one nobody can use.
		if rerr := client.Revoke(context.WithoutCancel(ctx)); rerr != nil {
			cause = fmt.Errorf("%w (and revoking the half-made enrollment failed: %v; an administrator can remove device %s)", cause, rerr, resp.EnrollmentID)
		}
		_ = c.keys.Delete(deviceKeyName(resp.EnrollmentID))
		return Account{}, cause
	}
	if err := a.OTPParams().Check(); err != nil {
		return undo(fmt.Errorf("enroll: server sent bad TOTP parameters: %w", err))
	}
	der, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return undo(err)
	}
	if err := c.keys.Set(deviceKeyName(resp.EnrollmentID), der); err != nil {
		return undo(fmt.Errorf("enroll: store the device key in the %s key store: %w", c.cfg.KeyStore, err))
	}
	if err := c.update(func(v *vault) error {
		v.Accounts = append(v.Accounts, a)
		return nil
	}); err != nil {
		return undo(err)
	}
	return a, nil
}

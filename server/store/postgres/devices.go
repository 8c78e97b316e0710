package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/seed-3a5b824e/assent/server/store"
)

var enrollTokens = table{"enroll_tokens", []string{
	"hash", "user_id", "created_at", "expires_at", "used_at", "device_id",
}}

var devices = table{"devices", []string{
	"id", "user_id", "public_key", "name", "platform", "os", "model", "key_store",
	"totp_secret", "totp_algorithm", "totp_digits", "totp_period", "totp_last_step",
	"created_at", "last_seen", "revoked_at",
}}

var (
	tokenInsert = enrollTokens.insertSQL()
	// The token row stays locked until the enrollment commits: a second
	// CompleteEnrollment waits, then reads it used.
	tokenLock    = "SELECT user_id, expires_at, used_at, device_id FROM enroll_tokens WHERE hash = $1 FOR UPDATE"
	tokenConsume = "UPDATE enroll_tokens SET used_at = $2, device_id = $3 WHERE hash = $1"

	deviceInsert = devices.insertSQL() + " RETURNING " + devices.columns()
	deviceGet    = devices.getSQL()
	deviceLock   = devices.lockSQL()
	deviceUpdate = devices.updateSQL()
	// seq breaks ties between devices created in the same millisecond.
	deviceList = devices.selectSQL() + " WHERE user_id = $1 ORDER BY created_at, seq"
)

func (s *Store) CreateEnrollToken(ctx context.Context, t store.EnrollToken) error {
	_, err := s.pool.Exec(ctx, tokenInsert,
		t.Hash, t.UserID, tsSet(t.CreatedAt), tsSet(t.ExpiresAt), ts(t.UsedAt), t.DeviceID)
	if err != nil {
		return fmt.Errorf("postgres: create enroll token for user %s: %w", t.UserID, dbErr(err))
	}
	return nil
}

func (s *Store) CompleteEnrollment(ctx context.Context, tokenHash string, now time.Time, dev store.Device) (store.Device, error) {
	var out store.Device
	err := s.write(ctx, func(tx pgx.Tx) error {
		var (
			userID, deviceID string
			expires, used    pgtype.Timestamptz
		)
		if err := tx.QueryRow(ctx, tokenLock, tokenHash).Scan(&userID, &expires, &used, &deviceID); err != nil {
			return err
		}
		switch {
		case used.Valid || deviceID != "":
			return store.ErrTokenUsed
		case !fromTS(expires).After(now.Truncate(time.Millisecond)):
			return store.ErrExpired
		}
		dev.UserID = userID
		var err error
		if out, err = scanDevice(tx.QueryRow(ctx, deviceInsert, deviceArgs(dev)...)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, tokenConsume, tokenHash, ts(now), dev.ID)
		return err
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("postgres: complete enrollment of device %s: %w", dev.ID, dbErr(err))
	}
	return out, nil
}

func deviceArgs(d store.Device) []any {
	return []any{
		d.ID, d.UserID, blob(d.PublicKey), d.Name, d.Platform, d.OS, d.Model, d.KeyStore,
		blob(d.TOTPSecret), d.TOTPAlgorithm, d.TOTPDigits, d.TOTPPeriod, d.TOTPLastStep,
		tsSet(d.CreatedAt), ts(d.LastSeen), ts(d.RevokedAt),
	}
}

func scanDevice(sc scanner) (store.Device, error) {
	var (
		d                          store.Device
		created, lastSeen, revoked pgtype.Timestamptz
	)
	err := sc.Scan(&d.ID, &d.UserID, &d.PublicKey, &d.Name, &d.Platform, &d.OS, &d.Model, &d.KeyStore,
		&d.TOTPSecret, &d.TOTPAlgorithm, &d.TOTPDigits, &d.TOTPPeriod, &d.TOTPLastStep,
		&created, &lastSeen, &revoked)
	if err != nil {
		return store.Device{}, err
	}
	d.PublicKey, d.TOTPSecret = fromBlob(d.PublicKey), fromBlob(d.TOTPSecret)
	d.CreatedAt, d.LastSeen, d.RevokedAt = fromTS(created), fromTS(lastSeen), fromTS(revoked)
	return d, nil
}

func (s *Store) GetDevice(ctx context.Context, id string) (store.Device, error) {
	d, err := scanDevice(s.pool.QueryRow(ctx, deviceGet, id))
	if err != nil {
		return store.Device{}, fmt.Errorf("postgres: get device %s: %w", id, dbErr(err))
	}
	return d, nil
}

func (s *Store) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	ds, err := list(ctx, s.pool, scanDevice, deviceList, userID)
	if err != nil {
		return nil, fmt.Errorf("postgres: list devices of user %s: %w", userID, err)
	}
	return ds, nil
}

func (s *Store) UpdateDevice(ctx context.Context, id string, fn func(*store.Device) error) (store.Device, error) {
	return update(ctx, s, "device", id, deviceLock, deviceUpdate, scanDevice, deviceArgs, fn)
}

package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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
	tokenInsert  = enrollTokens.insertSQL()
	tokenGet     = enrollTokens.getSQL()
	tokenConsume = "UPDATE enroll_tokens SET used_at = ?, device_id = ? WHERE hash = ?"

	deviceInsert = devices.insertSQL()
	deviceGet    = devices.getSQL()
	deviceUpdate = devices.updateSQL()
	// rowid breaks ties between devices created in the same millisecond.
	deviceList = devices.selectSQL() + " WHERE user_id = ? ORDER BY created_at, rowid"
	// By user, in deviceList's order (the devices_user index's): the
	// node makes users' device lists from it (store.DeviceScanner).
	deviceAll   = devices.selectSQL() + " ORDER BY user_id, created_at, rowid"
	deviceTouch = "UPDATE devices SET last_seen = ? WHERE id = ? AND last_seen < ?"
	// The devices of a JSON array of ids, in the order the table keeps
	// them (rowid).
	deviceTableOrder = "SELECT id FROM devices WHERE id IN (SELECT value FROM json_each(?)) ORDER BY rowid"
)

// touchChunk bounds the devices one transaction of TouchDevices updates,
// so that other writes get the writer in between.
const touchChunk = 128

// TouchDevices moves the LastSeen of each device forward
// (store.DeviceToucher), in the order the table keeps the devices, at
// most touchChunk to a transaction. A device's row shares its page with
// about ten others, and the table keeps them in the order they were
// enrolled, not by id: a reconnect storm's devices taken in that order
// write each page once, where taken by id or as they come each row wrote
// its page (a transaction writes every page it changed, and the
// checkpoint writes it again). An error leaves the transactions before
// it written; touching those again changes nothing.
func (s *Store) TouchDevices(ctx context.Context, ts []store.DeviceTouch) error {
	at := make(map[string]time.Time, len(ts))
	ids := make([]string, 0, len(ts))
	for _, t := range ts {
		if prev, ok := at[t.ID]; !ok || prev.Before(t.At) {
			if !ok {
				ids = append(ids, t.ID)
			}
			at[t.ID] = t.At
		}
	}
	if len(ids) > 1 {
		var err error
		if ids, err = s.inTableOrder(ctx, ids); err != nil {
			return fmt.Errorf("sqlite: touch %d devices: %w", len(ts), dbErr(err))
		}
	}
	for len(ids) > 0 {
		n := min(len(ids), touchChunk)
		err := s.write(ctx, func(tx querier) error {
			for _, id := range ids[:n] {
				if _, err := tx.ExecContext(ctx, deviceTouch, ms(at[id]), id, ms(at[id])); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sqlite: touch %d devices: %w", len(ids), dbErr(err))
		}
		ids = ids[n:]
	}
	return nil
}

// inTableOrder gives those of ids that name a device, in the order the
// table keeps them.
func (s *Store) inTableOrder(ctx context.Context, ids []string) ([]string, error) {
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, deviceTableOrder, string(list))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := ids[:0]
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

func (s *Store) CreateEnrollToken(ctx context.Context, t store.EnrollToken) error {
	_, err := s.w.ExecContext(ctx, tokenInsert,
		t.Hash, t.UserID, ms(t.CreatedAt), ms(t.ExpiresAt), ms(t.UsedAt), t.DeviceID)
	if err != nil {
		return fmt.Errorf("sqlite: create enroll token for user %s: %w", t.UserID, dbErr(err))
	}
	return nil
}

func (s *Store) CompleteEnrollment(ctx context.Context, tokenHash string, now time.Time, dev store.Device) (store.Device, error) {
	var out store.Device
	err := s.write(ctx, func(tx querier) error {
		var (
			t                      store.EnrollToken
			created, expires, used int64
		)
		err := tx.QueryRowContext(ctx, tokenGet, tokenHash).Scan(
			&t.Hash, &t.UserID, &created, &expires, &used, &t.DeviceID)
		if err != nil {
			return err
		}
		switch {
		case used != 0 || t.DeviceID != "":
			return store.ErrTokenUsed
		case expires <= now.UnixMilli():
			return store.ErrExpired
		}
		dev.UserID = t.UserID
		if _, err := tx.ExecContext(ctx, deviceInsert, deviceArgs(dev)...); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, tokenConsume, ms(now), dev.ID, tokenHash); err != nil {
			return err
		}
		out, err = getDevice(ctx, tx, dev.ID)
		return err
	})
	if err != nil {
		return store.Device{}, fmt.Errorf("sqlite: complete enrollment of device %s: %w", dev.ID, dbErr(err))
	}
	return out, nil
}

func deviceArgs(d store.Device) []any {
	return []any{
		d.ID, d.UserID, blob(d.PublicKey), d.Name, d.Platform, d.OS, d.Model, d.KeyStore,
		blob(d.TOTPSecret), d.TOTPAlgorithm, d.TOTPDigits, d.TOTPPeriod, d.TOTPLastStep,
		ms(d.CreatedAt), ms(d.LastSeen), ms(d.RevokedAt),
	}
}

func scanDevice(sc scanner) (store.Device, error) {
	var (
		d                          store.Device
		created, lastSeen, revoked int64
	)
	err := sc.Scan(&d.ID, &d.UserID, &d.PublicKey, &d.Name, &d.Platform, &d.OS, &d.Model, &d.KeyStore,
		&d.TOTPSecret, &d.TOTPAlgorithm, &d.TOTPDigits, &d.TOTPPeriod, &d.TOTPLastStep,
		&created, &lastSeen, &revoked)
	if err != nil {
		return store.Device{}, err
	}
	d.PublicKey, d.TOTPSecret = fromBlob(d.PublicKey), fromBlob(d.TOTPSecret)
	d.CreatedAt, d.LastSeen, d.RevokedAt = fromMS(created), fromMS(lastSeen), fromMS(revoked)
	return d, nil
}

func getDevice(ctx context.Context, q querier, id string) (store.Device, error) {
	return scanDevice(q.QueryRowContext(ctx, deviceGet, id))
}

func putDevice(ctx context.Context, q querier, id string, d store.Device) error {
	_, err := q.ExecContext(ctx, deviceUpdate, append(deviceArgs(d)[1:], id)...)
	return err
}

func (s *Store) GetDevice(ctx context.Context, id string) (store.Device, error) {
	d, err := getDevice(ctx, s.r, id)
	if err != nil {
		return store.Device{}, fmt.Errorf("sqlite: get device %s: %w", id, dbErr(err))
	}
	return d, nil
}

func (s *Store) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	ds, err := list(ctx, s.r, scanDevice, deviceList, userID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list devices of user %s: %w", userID, err)
	}
	return ds, nil
}

// ListAllDevices reads every device in one query (store.DeviceScanner).
func (s *Store) ListAllDevices(ctx context.Context) ([]store.Device, error) {
	ds, err := list(ctx, s.r, scanDevice, deviceAll)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list devices: %w", err)
	}
	return ds, nil
}

func (s *Store) UpdateDevice(ctx context.Context, id string, fn func(*store.Device) error) (store.Device, error) {
	return update(ctx, s, "device", id, getDevice, putDevice, fn)
}

package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// tokenIsUnused checks, through the interface, that a token can still be
// consumed: the only way to look at a token is to use it.
func tokenIsUnused(t *testing.T, s store.Store, hash, userID string, now time.Time) {
	t.Helper()
	d, err := s.CompleteEnrollment(t.Context(), hash, now, newDevice("probe-"+hash, base))
	if err != nil {
		t.Fatalf("token %s should still be unused: CompleteEnrollment: %v", hash, err)
	}
	if d.UserID != userID {
		t.Errorf("probe device UserID = %q, want %q", d.UserID, userID)
	}
}

func noDevice(t *testing.T, s store.Store, id string) {
	t.Helper()
	if d, err := s.GetDevice(t.Context(), id); err == nil {
		t.Errorf("device %s exists (%+v), want none", id, d)
	} else {
		wantErr(t, "GetDevice "+id, err, store.ErrNotFound)
	}
}

var enrollTests = []test{
	{name: "CompleteEnrollmentConsumesTokenAndCreatesDevice", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		must(t, "CreateEnrollToken", s.CreateEnrollToken(ctx, newToken("h1", "u1")))

		dev := newDevice("d1", base.Add(time.Minute))
		dev.UserID = "someone-else" // the token decides
		got, err := s.CompleteEnrollment(ctx, "h1", base.Add(time.Minute), dev)
		must(t, "CompleteEnrollment", err)
		want := dev
		want.UserID = "u1"
		same(t, "CompleteEnrollment result", got, want)

		stored, err := s.GetDevice(ctx, "d1")
		must(t, "GetDevice", err)
		same(t, "GetDevice", stored, want)
	}},
	{name: "CompleteEnrollmentTwiceIsTokenUsed", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		must(t, "CreateEnrollToken", s.CreateEnrollToken(ctx, newToken("h1", "u1")))
		_, err := s.CompleteEnrollment(ctx, "h1", base, newDevice("d1", base))
		must(t, "CompleteEnrollment", err)

		_, err = s.CompleteEnrollment(ctx, "h1", base, newDevice("d2", base))
		wantErr(t, "second CompleteEnrollment", err, store.ErrTokenUsed)
		noDevice(t, s, "d2")
		// Used wins over expired: the caller learns the token was spent.
		_, err = s.CompleteEnrollment(ctx, "h1", base.Add(24*time.Hour), newDevice("d3", base))
		wantErr(t, "CompleteEnrollment of a used, expired token", err, store.ErrTokenUsed)
		noDevice(t, s, "d3")
	}},
	{name: "CompleteEnrollmentAtOrAfterExpiryIsExpiredAndLeavesTokenUnused", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		tok := newToken("h1", "u1")
		must(t, "CreateEnrollToken", s.CreateEnrollToken(ctx, tok))

		for _, now := range []time.Time{tok.ExpiresAt, tok.ExpiresAt.Add(time.Second), tok.ExpiresAt.Add(30 * 24 * time.Hour)} {
			_, err := s.CompleteEnrollment(ctx, "h1", now, newDevice("d1", base))
			wantErr(t, fmt.Sprintf("CompleteEnrollment %v after expiry", now.Sub(tok.ExpiresAt)), err, store.ErrExpired)
			noDevice(t, s, "d1")
		}
		tokenIsUnused(t, s, "h1", "u1", tok.ExpiresAt.Add(-time.Millisecond))
	}},
	{name: "CompleteEnrollmentWithUnknownTokenIsNotFound", run: func(t *testing.T, s store.Store) {
		createUser(t, s, "u1")
		_, err := s.CompleteEnrollment(t.Context(), "no-such-hash", base, newDevice("d1", base))
		wantErr(t, "CompleteEnrollment", err, store.ErrNotFound)
		noDevice(t, s, "d1")
	}},
	{name: "CompleteEnrollmentWithTakenDeviceIDIsConflictAndLeavesTokenUnused", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		existing := enroll(t, s, "u1", newDevice("d1", base))

		must(t, "CreateEnrollToken", s.CreateEnrollToken(ctx, newToken("h2", "u2")))
		clash := newDevice("d1", base.Add(time.Hour))
		clash.Name = "Intruder"
		_, err := s.CompleteEnrollment(ctx, "h2", base, clash)
		wantErr(t, "CompleteEnrollment", err, store.ErrConflict)

		got, err := s.GetDevice(ctx, "d1")
		must(t, "GetDevice", err)
		same(t, "existing device after the conflict", got, existing)
		tokenIsUnused(t, s, "h2", "u2", base)
	}},
	{name: "CreateEnrollTokenWithTakenHashIsConflict", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		must(t, "CreateEnrollToken", s.CreateEnrollToken(ctx, newToken("h1", "u1")))
		wantErr(t, "CreateEnrollToken again", s.CreateEnrollToken(ctx, newToken("h1", "u2")), store.ErrConflict)
		tokenIsUnused(t, s, "h1", "u1", base)
	}},
	{name: "ConcurrentCompleteEnrollmentSucceedsOnce", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		must(t, "CreateEnrollToken", s.CreateEnrollToken(ctx, newToken("h1", "u1")))
		errs := race(func(i int) error {
			_, err := s.CompleteEnrollment(ctx, "h1", base, newDevice(fmt.Sprint("d", i), base))
			return err
		})
		winner := oneWinner(t, errs, store.ErrTokenUsed)
		ds, err := s.ListDevices(ctx, "u1")
		must(t, "ListDevices", err)
		if len(ds) != 1 || ds[0].ID != fmt.Sprint("d", winner) {
			t.Errorf("ListDevices = %d devices, want only d%d", len(ds), winner)
		}
	}},
}

var deviceTests = []test{
	{name: "DeviceFieldsRoundTrip", run: func(t *testing.T, s store.Store) {
		createUser(t, s, "u1")
		d := newDevice("d1", base)
		d.RevokedAt = base.Add(time.Hour)
		enroll(t, s, "u1", d)
		got, err := s.GetDevice(t.Context(), "d1")
		must(t, "GetDevice", err)
		d.UserID = "u1"
		same(t, "GetDevice", got, d)
	}},
	{name: "DeviceNilAndEmptyBytesAreAlike", run: func(t *testing.T, s store.Store) {
		createUser(t, s, "u1")
		nilDev := store.Device{ID: "d1"}
		emptyDev := store.Device{ID: "d2", PublicKey: []byte{}, TOTPSecret: []byte{}}
		enroll(t, s, "u1", nilDev)
		enroll(t, s, "u1", emptyDev)
		for _, id := range []string{"d1", "d2"} {
			got, err := s.GetDevice(t.Context(), id)
			must(t, "GetDevice", err)
			if len(got.PublicKey) != 0 || len(got.TOTPSecret) != 0 {
				t.Errorf("device %s: PublicKey %q, TOTPSecret %q, want both empty", id, got.PublicKey, got.TOTPSecret)
			}
			if !got.CreatedAt.IsZero() || !got.LastSeen.IsZero() || !got.RevokedAt.IsZero() {
				t.Errorf("device %s: times %v %v %v, want zero", id, got.CreatedAt, got.LastSeen, got.RevokedAt)
			}
		}
	}},
	{name: "MissingDeviceIsNotFound", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, err := s.GetDevice(ctx, "nope")
		wantErr(t, "GetDevice", err, store.ErrNotFound)
		called := false
		_, err = s.UpdateDevice(ctx, "nope", func(*store.Device) error { called = true; return nil })
		wantErr(t, "UpdateDevice", err, store.ErrNotFound)
		if called {
			t.Error("UpdateDevice called fn for a missing device")
		}
	}},
	{name: "ListDevicesListsAUsersDevicesOldestFirstRevokedIncluded", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		got, err := s.ListDevices(ctx, "u1")
		must(t, "ListDevices before any", err)
		if len(got) != 0 {
			t.Fatalf("ListDevices = %d devices before any enrolled", len(got))
		}
		// Enrolled out of creation order, one revoked, one of another user.
		enroll(t, s, "u1", newDevice("d-new", base.Add(3*time.Hour)))
		old := newDevice("d-old", base.Add(time.Hour))
		old.RevokedAt = base.Add(2 * time.Hour)
		enroll(t, s, "u1", old)
		enroll(t, s, "u2", newDevice("d-other", base.Add(2*time.Hour)))
		enroll(t, s, "u1", newDevice("d-mid", base.Add(2*time.Hour)))

		got, err = s.ListDevices(ctx, "u1")
		must(t, "ListDevices", err)
		var ids []string
		for _, d := range got {
			ids = append(ids, d.ID)
		}
		if want := []string{"d-old", "d-mid", "d-new"}; fmt.Sprint(ids) != fmt.Sprint(want) {
			t.Errorf("ListDevices(u1) = %q, want %q", ids, want)
		}
		if len(got) > 0 {
			old.UserID = "u1"
			same(t, "ListDevices d-old", got[0], old)
		}
		got, err = s.ListDevices(ctx, "nobody")
		must(t, "ListDevices nobody", err)
		if len(got) != 0 {
			t.Errorf("ListDevices(nobody) = %d devices", len(got))
		}
	}},
	{name: "UpdateDeviceAppliesFn", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		d := enroll(t, s, "u1", newDevice("d1", base))
		got, err := s.UpdateDevice(ctx, "d1", func(d *store.Device) error {
			d.TOTPLastStep++
			d.LastSeen = base.Add(time.Hour)
			d.RevokedAt = base.Add(2 * time.Hour)
			d.Name = "Old phone"
			return nil
		})
		must(t, "UpdateDevice", err)
		want := d
		want.TOTPLastStep++
		want.LastSeen = base.Add(time.Hour)
		want.RevokedAt = base.Add(2 * time.Hour)
		want.Name = "Old phone"
		same(t, "UpdateDevice result", got, want)
		stored, err := s.GetDevice(ctx, "d1")
		must(t, "GetDevice", err)
		same(t, "GetDevice after UpdateDevice", stored, want)
	}},
	{name: "UpdateDeviceFnErrorWritesNothingAndIsReturned", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		d := enroll(t, s, "u1", newDevice("d1", base))
		_, err := s.UpdateDevice(ctx, "d1", func(d *store.Device) error {
			d.RevokedAt = base
			d.TOTPSecret[0] = 0x55
			return errFn
		})
		wantErr(t, "UpdateDevice", err, errFn)
		got, err := s.GetDevice(ctx, "d1")
		must(t, "GetDevice", err)
		same(t, "GetDevice after failed update", got, d)
	}},
}

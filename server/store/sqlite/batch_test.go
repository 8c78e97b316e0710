package sqlite

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// The sole node's group commits write batches of one-time keys and device
// touches: each key gets its own answer, and every statement runs
// prepared (an unprepared one costs modernc SQLite about twice as much).
func TestBatchesKeepEachAnswerAndRunPrepared(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	now := time.Now()
	later := now.Add(time.Hour)
	if err := s.UseNonce(ctx, "seen", now, later); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, "old", now.Add(-2*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	us := []store.NonceUse{
		{Key: "a", Now: now, Expires: later},
		{Key: "b", Now: now, Expires: later},
		{Key: "a", Now: now, Expires: later},    // twice in the batch
		{Key: "seen", Now: now, Expires: later}, // before the batch
		{Key: "old", Now: now, Expires: later},  // past its expiry: new again
	}
	errs, err := s.UseNonces(ctx, us)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, false, true, true, false}
	for i, e := range errs {
		if replay := errors.Is(e, store.ErrReplay); replay != want[i] || (e != nil && !replay) {
			t.Errorf("key %d (%s): %v; want replay %v", i, us[i].Key, e, want[i])
		}
	}
	if err := s.UseNonce(ctx, "b", now, later); !errors.Is(err, store.ErrReplay) {
		t.Errorf("a key the batch recorded, used again: %v; want a replay", err)
	}
	if err := s.TouchDevices(ctx, []store.DeviceTouch{{ID: "dev_a", At: now}, {ID: "dev_b", At: now}}); err != nil {
		t.Fatal(err)
	}
	if n := s.w.txMisses.Load(); n > 0 {
		t.Errorf("%d statements ran unprepared in a transaction: add them to inTx", n)
	}
}

package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

var nonceBatchTests = []test{
	{name: "EachKeyGetsItsOwnAnswer", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		b, ok := s.(store.NonceBatcher)
		if !ok {
			t.Fatalf("%T cannot record several one-time keys in one transaction (store.NonceBatcher)", s)
		}
		now := time.Now()
		later := now.Add(time.Hour)
		must(t, "UseNonce seen", s.UseNonce(ctx, "seen", now, later))
		must(t, "UseNonce old", s.UseNonce(ctx, "old", now.Add(-2*time.Hour), now.Add(-time.Hour)))
		us := []store.NonceUse{
			{Key: "b", Now: now, Expires: later},
			{Key: "a", Now: now, Expires: later},
			{Key: "b", Now: now, Expires: later},    // twice in the batch
			{Key: "seen", Now: now, Expires: later}, // before the batch
			{Key: "old", Now: now, Expires: later},  // past its expiry: new again
		}
		errs, err := b.UseNonces(ctx, us)
		must(t, "UseNonces", err)
		want := []bool{false, false, true, true, false}
		for i, e := range errs {
			if replay := errors.Is(e, store.ErrReplay); replay != want[i] || (e != nil && !replay) {
				t.Errorf("key %d (%s): %v; want replay %v", i, us[i].Key, e, want[i])
			}
		}
		wantErr(t, "a key the batch recorded, used again", s.UseNonce(ctx, "a", now, later), store.ErrReplay)
	}},
	{name: "ConcurrentBatchesRecordEachKeyOnce", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		b := s.(store.NonceBatcher)
		now := time.Now()
		later := now.Add(time.Hour)
		// Half the batches name the two keys in one order, half in the other.
		first, second := make([]error, concurrency), make([]error, concurrency)
		race(func(i int) error {
			keys := []string{"k1", "k2"}
			if i%2 == 1 {
				keys = []string{"k2", "k1"}
			}
			errs, err := b.UseNonces(ctx, []store.NonceUse{{Key: keys[0], Now: now, Expires: later}, {Key: keys[1], Now: now, Expires: later}})
			if err != nil {
				first[i], second[i] = err, err
				return err
			}
			if i%2 == 1 {
				errs[0], errs[1] = errs[1], errs[0]
			}
			first[i], second[i] = errs[0], errs[1]
			return nil
		})
		oneWinner(t, first, store.ErrReplay)
		oneWinner(t, second, store.ErrReplay)
	}},
}

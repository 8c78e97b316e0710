package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// errLimit is what a counter update refuses with once a limit is reached.
var errLimit = errors.New("storetest: limit reached")

func newCounter(key string) store.Counter {
	return store.Counter{
		Key:         key,
		Count:       3,
		WindowStart: base,
		Until:       base.Add(15 * time.Minute),
		Last:        base.Add(time.Minute),
		ExpiresAt:   base.Add(time.Hour),
	}
}

// setCounter stores c through the only way there is to write a counter.
func setCounter(t *testing.T, s store.Store, c store.Counter) {
	t.Helper()
	_, err := s.UpdateCounter(t.Context(), c.Key, func(got *store.Counter) error {
		*got = c
		return nil
	})
	must(t, "UpdateCounter "+c.Key, err)
}

var counterTests = []test{
	{name: "UpdateCounterOfNewKeyStartsFromZero", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		want := newCounter("k1")
		got, err := s.UpdateCounter(ctx, "k1", func(c *store.Counter) error {
			same(t, "fn argument", *c, store.Counter{Key: "k1"})
			*c = want
			return nil
		})
		must(t, "UpdateCounter", err)
		same(t, "UpdateCounter result", got, want)
		stored, err := s.GetCounter(ctx, "k1")
		must(t, "GetCounter", err)
		same(t, "GetCounter", stored, want)
	}},
	{name: "UpdateCounterFnSeesTheStoredCounterAndUpdatesIt", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		c := newCounter("k1")
		setCounter(t, s, c)
		change := func(c *store.Counter) error {
			c.Count++
			c.Until = time.Time{}
			c.Last = base.Add(2 * time.Minute)
			c.ExpiresAt = base.Add(2 * time.Hour)
			return nil
		}
		got, err := s.UpdateCounter(ctx, "k1", func(got *store.Counter) error {
			same(t, "fn argument", *got, c)
			return change(got)
		})
		must(t, "UpdateCounter", err)
		want := c
		must(t, "change", change(&want))
		same(t, "UpdateCounter result", got, want)
		stored, err := s.GetCounter(ctx, "k1")
		must(t, "GetCounter", err)
		same(t, "GetCounter after UpdateCounter", stored, want)
	}},
	{name: "CounterWithZeroTimesRoundTrips", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		want := store.Counter{Key: "k1", Count: 1}
		got, err := s.UpdateCounter(ctx, "k1", func(c *store.Counter) error { c.Count = 1; return nil })
		must(t, "UpdateCounter", err)
		same(t, "UpdateCounter result", got, want)
		stored, err := s.GetCounter(ctx, "k1")
		must(t, "GetCounter", err)
		same(t, "GetCounter", stored, want)
	}},
	{name: "MissingCounterIsNotFound", run: func(t *testing.T, s store.Store) {
		_, err := s.GetCounter(t.Context(), "nope")
		wantErr(t, "GetCounter", err, store.ErrNotFound)
	}},
	{name: "UpdateCounterFnErrorWritesNothingAndReturnsTheCounterRead", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		got, err := s.UpdateCounter(ctx, "new", func(c *store.Counter) error {
			c.Count = 7
			return errFn
		})
		wantErr(t, "UpdateCounter new", err, errFn)
		same(t, "UpdateCounter new result", got, store.Counter{Key: "new"})
		_, err = s.GetCounter(ctx, "new")
		wantErr(t, "GetCounter new", err, store.ErrNotFound)

		c := newCounter("k1")
		setCounter(t, s, c)
		got, err = s.UpdateCounter(ctx, "k1", func(c *store.Counter) error {
			c.Count = 100
			c.Until = base.Add(24 * time.Hour)
			return errFn
		})
		wantErr(t, "UpdateCounter k1", err, errFn)
		same(t, "UpdateCounter k1 result", got, c)
		stored, err := s.GetCounter(ctx, "k1")
		must(t, "GetCounter k1", err)
		same(t, "GetCounter after failed update", stored, c)
	}},
	{name: "UpdateCounterCannotChangeKey", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		got, err := s.UpdateCounter(ctx, "k1", func(c *store.Counter) error {
			c.Key = "k2"
			c.Count = 1
			c.ExpiresAt = base
			return nil
		})
		must(t, "UpdateCounter", err)
		want := store.Counter{Key: "k1", Count: 1, ExpiresAt: base}
		same(t, "UpdateCounter result", got, want)
		stored, err := s.GetCounter(ctx, "k1")
		must(t, "GetCounter k1", err)
		same(t, "GetCounter k1", stored, want)
		_, err = s.GetCounter(ctx, "k2")
		wantErr(t, "GetCounter k2", err, store.ErrNotFound)
	}},
	{name: "CountersAreIndependent", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		a, b := newCounter("a"), newCounter("b")
		b.Count = 9
		setCounter(t, s, a)
		setCounter(t, s, b)
		for _, want := range []store.Counter{a, b} {
			got, err := s.GetCounter(ctx, want.Key)
			must(t, "GetCounter "+want.Key, err)
			same(t, "GetCounter "+want.Key, got, want)
		}
	}},
	{name: "ConcurrentUpdateCounterLosesNoUpdate", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		// The key has no row yet: the racers also race to create it.
		errs := race(func(int) error {
			_, err := s.UpdateCounter(ctx, "k1", func(c *store.Counter) error {
				c.Count++
				c.ExpiresAt = base.Add(time.Hour)
				return nil
			})
			return err
		})
		for i, err := range errs {
			must(t, fmt.Sprint("UpdateCounter ", i), err)
		}
		got, err := s.GetCounter(ctx, "k1")
		must(t, "GetCounter", err)
		if got.Count != concurrency {
			t.Errorf("Count = %d after %d concurrent increments, want %d", got.Count, concurrency, concurrency)
		}
	}},
	{name: "ConcurrentUpdateCounterCannotPassALimit", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		const limit = 5
		for _, fresh := range []bool{true, false} {
			key := "fresh"
			if !fresh {
				key = "existing"
				setCounter(t, s, store.Counter{Key: key, ExpiresAt: base.Add(time.Hour)})
			}
			errs := race(func(int) error {
				_, err := s.UpdateCounter(ctx, key, func(c *store.Counter) error {
					if c.Count >= limit {
						return errLimit
					}
					c.Count++
					c.ExpiresAt = base.Add(time.Hour)
					return nil
				})
				return err
			})
			wins := 0
			for i, err := range errs {
				switch {
				case err == nil:
					wins++
				case !errors.Is(err, errLimit):
					t.Errorf("%s: UpdateCounter %d: %v, want nil or %v", key, i, err, errLimit)
				}
			}
			if wins != limit {
				t.Errorf("%s: %d of %d updates passed a limit of %d", key, wins, concurrency, limit)
			}
			got, err := s.GetCounter(ctx, key)
			must(t, "GetCounter "+key, err)
			if got.Count != limit {
				t.Errorf("%s: Count = %d, want the limit %d", key, got.Count, limit)
			}
		}
	}},
	{name: "GarbageCollectDeletesCountersAtOrPastExpiryOnly", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		now := base.Add(time.Hour)
		past, atNow, future := newCounter("past"), newCounter("now"), newCounter("future")
		past.ExpiresAt, atNow.ExpiresAt, future.ExpiresAt = now.Add(-time.Minute), now, now.Add(time.Millisecond)
		blocked := newCounter("blocked") // blocked, but its record has expired
		blocked.Until, blocked.ExpiresAt = now.Add(time.Hour), now.Add(-time.Second)
		for _, c := range []store.Counter{past, atNow, future, blocked} {
			setCounter(t, s, c)
		}
		res, err := s.GarbageCollect(ctx, now)
		must(t, "GarbageCollect", err)
		if res.Deleted != 3 {
			t.Errorf("Deleted = %d, want 3 counters", res.Deleted)
		}
		for _, key := range []string{"past", "now", "blocked"} {
			_, err := s.GetCounter(ctx, key)
			wantErr(t, "GetCounter "+key, err, store.ErrNotFound)
		}
		got, err := s.GetCounter(ctx, "future")
		must(t, "GetCounter future", err)
		same(t, "GetCounter future", got, future)
		// A collected key starts from zero again.
		_, err = s.UpdateCounter(ctx, "past", func(c *store.Counter) error {
			same(t, "fn argument after GarbageCollect", *c, store.Counter{Key: "past"})
			return nil
		})
		must(t, "UpdateCounter past", err)
	}},
}

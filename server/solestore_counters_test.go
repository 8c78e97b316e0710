package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// countingCounters counts the store's counter updates and puts.
type countingCounters struct {
	store.Store
	updates, puts atomic.Int32
}

func (s *countingCounters) UpdateCounter(ctx context.Context, key string, fn func(*store.Counter) error) (store.Counter, error) {
	s.updates.Add(1)
	return s.Store.UpdateCounter(ctx, key, fn)
}

func (s *countingCounters) PutCounters(ctx context.Context, cs []store.Counter) error {
	s.puts.Add(int32(len(cs)))
	return s.Store.(store.CounterPutter).PutCounters(ctx, cs)
}

var errFull = errors.New("full")

// charge is a limit's check and count (as windowCharge): refused at limit.
func charge(limit int, now time.Time) func(*store.Counter) error {
	return func(c *store.Counter) error {
		if c.Count >= limit {
			return errFull
		}
		c.Count++
		c.Last, c.ExpiresAt = now, now.Add(time.Hour)
		return nil
	}
}

// Fifty parallel charges of one counter with room for twenty, on every
// round a fresh counter: exactly twenty pass, and the store and the cache
// agree on twenty. Only the first change goes to the store's
// read-change-write; the others are written as they are.
func TestCountersChangedInMemoryKeepTheirLimit(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	cs := &countingCounters{Store: f.raw}
	p := newSoleStore(cs, func(context.Context, []store.AuditEvent) {})
	defer p.counterPuts.close()
	now := time.Now()
	for round := range 10 {
		key := "k" + string(rune('a'+round))
		var wg sync.WaitGroup
		var passed atomic.Int32
		for range 50 {
			wg.Go(func() {
				_, err := p.UpdateCounter(ctx, key, charge(20, now))
				switch {
				case err == nil:
					passed.Add(1)
				case !errors.Is(err, errFull):
					t.Error(err)
				}
			})
		}
		wg.Wait()
		stored, err := f.raw.GetCounter(ctx, key)
		cached, _ := p.GetCounter(ctx, key)
		if passed.Load() != 20 || err != nil || stored.Count != 20 || cached.Count != 20 {
			t.Fatalf("round %d: %d passed; store %d (%v), cache %d", round, passed.Load(), stored.Count, err, cached.Count)
		}
		if stored != cached {
			t.Fatalf("round %d: store %+v, cache %+v", round, stored, cached)
		}
	}
	if u, n := cs.updates.Load(), cs.puts.Load(); u != 10 || n != 10*19 {
		t.Fatalf("%d read-change-writes and %d puts; want 10 and 190", u, n)
	}
	// A refused change returns the counter as it was, as the store does.
	c, err := p.UpdateCounter(ctx, "ka", charge(20, now))
	if !errors.Is(err, errFull) || c.Count != 20 || c.Key != "ka" {
		t.Fatalf("refused change = %+v, %v", c, err)
	}
}

// A counter the store collected while cached is written again whole by
// the next change (as if collection had come after it), and an unknown
// counter is still not found.
func TestCachedCounterAfterCollection(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	p := newSoleStore(f.raw, func(context.Context, []store.AuditEvent) {})
	defer p.counterPuts.close()
	now := time.Now()
	if _, err := p.UpdateCounter(ctx, "k", charge(5, now)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.raw.GarbageCollect(ctx, now.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.raw.GetCounter(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("collected counter = %v", err)
	}
	if c, err := p.UpdateCounter(ctx, "k", charge(5, now)); err != nil || c.Count != 2 {
		t.Fatalf("change after collection = %+v, %v", c, err)
	}
	if c, err := f.raw.GetCounter(ctx, "k"); err != nil || c.Count != 2 {
		t.Fatalf("stored after collection = %+v, %v", c, err)
	}
	if _, err := p.GetCounter(ctx, "unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown counter = %v", err)
	}
}

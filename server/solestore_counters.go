package server

import (
	"context"

	"github.com/seed-3a5b824e/assent/server/store"
)

// Counters (throttles, lockouts, push budgets) on a node that alone
// changes them: cached as last written or read (writeCache), changed in
// memory under the counter's lock and written as they are with the other
// counters that change meanwhile (group commit). The lock is held until
// the write committed, so a limit's check and its count stay one step:
// fifty parallel guesses still meet the counter one at a time, each after
// the one before it is stored.

// GetCounter reads a counter from the cache, or from the store (filling
// the cache).
func (p *soleStore) GetCounter(ctx context.Context, key string) (store.Counter, error) {
	if p.counterPuts == nil {
		return p.Store.GetCounter(ctx, key)
	}
	if c, ok := p.counters.get(key); ok {
		return c, nil
	}
	l := p.counters.lock(key)
	l.Lock()
	defer l.Unlock()
	c, err := p.Store.GetCounter(ctx, key)
	if err == nil {
		p.counters.put(key, c)
	}
	return c, err
}

// UpdateCounter changes a counter: the cached one in memory, written as
// it is; one not cached in the store, then cached. As from the store, a
// change that fn refuses returns the counter as it was with fn's error.
func (p *soleStore) UpdateCounter(ctx context.Context, key string, fn func(*store.Counter) error) (store.Counter, error) {
	if p.counterPuts == nil {
		return p.Store.UpdateCounter(ctx, key, fn)
	}
	l := p.counters.lock(key)
	l.Lock()
	defer l.Unlock()
	c, ok := p.counters.get(key)
	if !ok {
		c, err := p.Store.UpdateCounter(ctx, key, fn)
		if err == nil {
			p.counters.put(key, c)
		}
		return c, err
	}
	read := c
	if err := fn(&c); err != nil {
		return read, err
	}
	c.Key = key
	err := p.counterPuts.do(ctx, &c, func() error { return p.putCounters(ctx, &c) })
	if err != nil {
		p.counters.drop(key)
		return store.Counter{}, err
	}
	p.counters.put(key, c)
	return c, nil
}

// putCounters writes counters as they are, in one transaction, and leaves
// each as the store returns it.
func (p *soleStore) putCounters(ctx context.Context, cs ...*store.Counter) error {
	vs := make([]store.Counter, len(cs))
	for i, c := range cs {
		vs[i] = *c
	}
	if err := p.Store.(store.CounterPutter).PutCounters(ctx, vs); err != nil {
		return err
	}
	for i, c := range cs {
		*c = vs[i]
	}
	return nil
}

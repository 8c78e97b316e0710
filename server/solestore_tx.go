package server

import (
	"bytes"
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// writeCache keeps records (transactions in progress, counters) as they
// were last written or read, for a node that alone changes them
// (soleStore). Every step of a sign-in reads its transaction, and most
// steps write it: with the cache a step's read is the previous step's
// write (GetTransaction was 7 % of the server's CPU in a profile of whole
// sign-ins), and a change is made in memory and written as it is.
//
// The store stays the record: every change is written to it before the
// caller hears of it. The cache never holds a record older than the
// store's: a record's writes, and the reads that fill the cache, hold its
// lock (one of cacheLocks, by key), so they reach the cache in the order
// they committed. A read that finds it cached takes no lock (as a read of
// the store may run beside a write). Records are copied in and out; only
// those keep says to keep are kept.
type writeCache[T any] struct {
	mu      sync.Mutex
	byKey   map[string]T
	swept   time.Time // when a full cache last dropped its expired ones
	seed    maphash.Seed
	lks     [cacheLocks]sync.Mutex
	max     int
	keep    func(T) bool
	expires func(T) time.Time
	clone   func(T) T
}

// cacheLocks is how many locks a writeCache spreads its keys over.
const cacheLocks = 64

const (
	// maxCachedTx bounds the transactions cached (a transaction is a few
	// KB at most); past it, expired ones are dropped (at most once a
	// second: a cache full of live ones is not walked at every write), and
	// if that is not enough, reads go to the store.
	maxCachedTx = 20_000
	// maxCachedCounters bounds the counters cached (about 200 B each).
	maxCachedCounters = 100_000
)

type txCache = writeCache[store.Transaction]

func newTxCache() *txCache {
	return &txCache{byKey: map[string]store.Transaction{}, seed: maphash.MakeSeed(), max: maxCachedTx,
		keep:    func(t store.Transaction) bool { return t.Status == store.TxActive },
		expires: func(t store.Transaction) time.Time { return t.ExpiresAt },
		clone:   copyTx}
}

func newCounterCache() *writeCache[store.Counter] {
	return &writeCache[store.Counter]{byKey: map[string]store.Counter{}, seed: maphash.MakeSeed(), max: maxCachedCounters,
		keep:    func(store.Counter) bool { return true },
		expires: func(c store.Counter) time.Time { return c.ExpiresAt },
		clone:   func(c store.Counter) store.Counter { return c }}
}

func (c *writeCache[T]) lock(key string) *sync.Mutex {
	return &c.lks[maphash.String(c.seed, key)%cacheLocks]
}

func copyTx(t store.Transaction) store.Transaction {
	t.Data = bytes.Clone(t.Data)
	return t
}

func (c *writeCache[T]) get(key string) (T, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.byKey[key]
	return c.clone(v), ok
}

// put caches v as the store now holds it; the caller holds key's lock.
func (c *writeCache[T]) put(key string, v T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.keep(v) {
		delete(c.byKey, key)
		return
	}
	if _, ok := c.byKey[key]; !ok && len(c.byKey) >= c.max {
		if now := time.Now(); now.Sub(c.swept) >= time.Second {
			c.swept = now
			for k, o := range c.byKey {
				if now.After(c.expires(o)) {
					delete(c.byKey, k)
				}
			}
		}
		if len(c.byKey) >= c.max {
			return
		}
	}
	c.byKey[key] = c.clone(v)
}

func (c *writeCache[T]) drop(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byKey, key)
}

// CreateTransaction writes a new transaction, with those that sign-ins
// start meanwhile when the store can, and caches it once written.
func (p *soleStore) CreateTransaction(ctx context.Context, t store.Transaction) error {
	l := p.txs.lock(t.ID)
	l.Lock()
	defer l.Unlock()
	if err := p.txCreates.do(ctx, t, func() error { return p.Store.CreateTransaction(ctx, t) }); err != nil {
		return err
	}
	p.txs.put(t.ID, t)
	return nil
}

func (p *soleStore) GetTransaction(ctx context.Context, id string) (store.Transaction, error) {
	if t, ok := p.txs.get(id); ok {
		return t, nil
	}
	l := p.txs.lock(id)
	l.Lock()
	defer l.Unlock()
	t, err := p.Store.GetTransaction(ctx, id)
	if err == nil {
		p.txs.put(t.ID, t)
	}
	return t, err
}

// UpdateTransaction changes the transaction in the store and caches what
// was written; after a failure the cache forgets it. A cached transaction
// is the store's (its writes hold its lock), so it is changed in memory and
// written as it is, with the others that come in meanwhile (group commit),
// instead of read again in a transaction of its own.
func (p *soleStore) UpdateTransaction(ctx context.Context, id string, fn func(*store.Transaction) error) (store.Transaction, error) {
	l := p.txs.lock(id)
	l.Lock()
	defer l.Unlock()
	if t, ok := p.txs.get(id); ok && p.txPuts != nil {
		if err := fn(&t); err != nil {
			return store.Transaction{}, err
		}
		t.ID = id
		err := p.txPuts.do(ctx, &t, func() error { return p.putTransactions(ctx, &t)[0] })
		if err != nil {
			p.txs.drop(id)
			return store.Transaction{}, err
		}
		p.txs.put(t.ID, t)
		return t, nil
	}
	t, err := p.Store.UpdateTransaction(ctx, id, fn)
	if err != nil {
		p.txs.drop(id)
		return t, err
	}
	p.txs.put(t.ID, t)
	return t, nil
}

// putTransactions writes transactions as they are, in one transaction,
// leaves each as the store returns it and gives each its own outcome.
func (p *soleStore) putTransactions(ctx context.Context, ps ...*store.Transaction) []error {
	ts := make([]store.Transaction, len(ps))
	for i, t := range ps {
		ts[i] = *t
	}
	errs, err := p.Store.(store.TransactionPutter).PutTransactions(ctx, ts)
	if err != nil {
		errs = make([]error, len(ps))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	for i, t := range ps {
		*t = ts[i]
	}
	return errs
}

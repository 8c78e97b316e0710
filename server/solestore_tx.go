package server

import (
	"bytes"
	"context"
	"hash/maphash"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// txCache keeps transactions in progress as they were last written or
// read, for a node that alone changes them (soleStore). Every step of a
// sign-in reads its transaction, and most steps write it: with the cache a
// step's read is the previous step's write (GetTransaction was 7 % of the
// server's CPU in a profile of whole sign-ins).
//
// The store stays the record: every change is written to it first. The
// cache never holds a transaction older than the store's: a transaction's
// writes, and the reads that fill the cache, hold its lock (one of
// txLocks, by id), so they reach the cache in the order they committed. A
// read that finds it cached takes no lock (as a read of the store may run
// beside a write). Only active transactions are kept, copied in and out.
type txCache struct {
	mu    sync.Mutex
	byID  map[string]store.Transaction
	swept time.Time // when a full cache last dropped its expired ones
	seed  maphash.Seed
	lks   [txLocks]sync.Mutex
}

const (
	txLocks = 64
	// maxCachedTx bounds the cache (a transaction is a few KB at most);
	// past it, expired ones are dropped (at most once a second: a cache
	// full of live ones is not walked at every write), and if that is not
	// enough, reads go to the store.
	maxCachedTx = 20_000
)

func newTxCache() *txCache {
	return &txCache{byID: map[string]store.Transaction{}, seed: maphash.MakeSeed()}
}

func (c *txCache) lock(id string) *sync.Mutex {
	return &c.lks[maphash.String(c.seed, id)%txLocks]
}

func copyTx(t store.Transaction) store.Transaction {
	t.Data = bytes.Clone(t.Data)
	return t
}

func (c *txCache) get(id string) (store.Transaction, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.byID[id]
	return copyTx(t), ok
}

// put caches t as the store now holds it; the caller holds t's lock.
func (c *txCache) put(t store.Transaction) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.Status != store.TxActive {
		delete(c.byID, t.ID)
		return
	}
	if _, ok := c.byID[t.ID]; !ok && len(c.byID) >= maxCachedTx {
		if now := time.Now(); now.Sub(c.swept) >= time.Second {
			c.swept = now
			for id, o := range c.byID {
				if now.After(o.ExpiresAt) {
					delete(c.byID, id)
				}
			}
		}
		if len(c.byID) >= maxCachedTx {
			return
		}
	}
	c.byID[t.ID] = copyTx(t)
}

func (c *txCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byID, id)
}

func (p *soleStore) CreateTransaction(ctx context.Context, t store.Transaction) error {
	l := p.txs.lock(t.ID)
	l.Lock()
	defer l.Unlock()
	if err := p.Store.CreateTransaction(ctx, t); err != nil {
		return err
	}
	p.txs.put(t)
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
		p.txs.put(t)
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
		err := p.txPuts.do(ctx, &t, func() error { return p.putTransaction(ctx, &t) })
		if err != nil {
			p.txs.drop(id)
			return store.Transaction{}, err
		}
		p.txs.put(t)
		return t, nil
	}
	t, err := p.Store.UpdateTransaction(ctx, id, fn)
	if err != nil {
		p.txs.drop(id)
		return t, err
	}
	p.txs.put(t)
	return t, nil
}

// putTransaction writes one transaction as it is, alone.
func (p *soleStore) putTransaction(ctx context.Context, t *store.Transaction) error {
	ts := []store.Transaction{*t}
	errs, err := p.Store.(store.TransactionPutter).PutTransactions(ctx, ts)
	if err != nil {
		return err
	}
	*t = ts[0]
	return errs[0]
}

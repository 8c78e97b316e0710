package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// txCountingStore counts the store's transaction reads; with slow, a
// write returns after a pause of up to a millisecond (as when the writer
// is descheduled between its commit and its return).
type txCountingStore struct {
	store.Store
	gets, updates, puts atomic.Int32
	slow                bool
}

func (s *txCountingStore) UpdateTransaction(ctx context.Context, id string, fn func(*store.Transaction) error) (store.Transaction, error) {
	s.updates.Add(1)
	t, err := s.Store.UpdateTransaction(ctx, id, fn)
	if s.slow {
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
	}
	return t, err
}

func (s *txCountingStore) GetTransaction(ctx context.Context, id string) (store.Transaction, error) {
	s.gets.Add(1)
	return s.Store.GetTransaction(ctx, id)
}

// txPuttingStore is a txCountingStore that also writes transactions as
// they are (store.TransactionPutter), as the SQLite store does.
type txPuttingStore struct{ *txCountingStore }

func (s txPuttingStore) PutTransactions(ctx context.Context, ts []store.Transaction) ([]error, error) {
	s.puts.Add(int32(len(ts)))
	errs, err := s.Store.(store.TransactionPutter).PutTransactions(ctx, ts)
	if s.slow {
		time.Sleep(time.Duration(rand.IntN(1000)) * time.Microsecond)
	}
	return errs, err
}

// eachWay runs a test of the transaction cache on a store that updates
// transactions (read, change, write) and on one that also writes them as
// they are, through the group commit.
func eachWay(t *testing.T, test func(t *testing.T, put bool)) {
	for _, put := range []bool{false, true} {
		t.Run(map[bool]string{false: "update", true: "put"}[put], func(t *testing.T) { test(t, put) })
	}
}

func newTxFixture(t *testing.T, put bool) (*soleStore, *txCountingStore, store.Transaction) {
	t.Helper()
	f := newPendingFixture(t)
	cs := &txCountingStore{Store: f.raw}
	var st store.Store = cs
	if put {
		st = txPuttingStore{cs}
	}
	p := newSoleStore(st, func(context.Context, []store.AuditEvent) {})
	t.Cleanup(func() {
		if p.txPuts != nil {
			p.txPuts.close()
		}
	})
	if (p.txPuts != nil) != put {
		t.Fatalf("group commit of transactions: %v, want %v", p.txPuts != nil, put)
	}
	now := time.Now()
	tx := store.Transaction{ID: "tx_1", App: "intranet", Kind: "signin", Status: store.TxActive, Data: []byte("0"),
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := p.CreateTransaction(context.Background(), tx); err != nil {
		t.Fatal(err)
	}
	return p, cs, tx
}

// step is a sign-in step as advance makes it: it moves the transaction
// on only from the generation it read (Data holds the generation here).
func step(from int) func(*store.Transaction) error {
	return func(t *store.Transaction) error {
		if string(t.Data) != strconv.Itoa(from) {
			return errStepMoved
		}
		t.Data = []byte(strconv.Itoa(from + 1))
		return nil
	}
}

// A step reads what the step before it wrote without asking the store;
// what it reads is what the store holds.
func TestTxCacheServesTheLastWrite(t *testing.T) { eachWay(t, testTxCacheServesTheLastWrite) }

func testTxCacheServesTheLastWrite(t *testing.T, put bool) {
	ctx := context.Background()
	p, cs, tx := newTxFixture(t, put)
	for gen := range 5 {
		got, err := p.GetTransaction(ctx, tx.ID)
		if err != nil || string(got.Data) != strconv.Itoa(gen) {
			t.Fatalf("step %d read %q, %v", gen, got.Data, err)
		}
		if _, err := p.UpdateTransaction(ctx, tx.ID, step(gen)); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.gets.Load(); n != 0 {
		t.Fatalf("the steps read the store %d times", n)
	}
	if put && (cs.updates.Load() != 0 || cs.puts.Load() != 5) {
		t.Fatalf("%d updates and %d puts; want the 5 steps written as they are", cs.updates.Load(), cs.puts.Load())
	}
	stored, _ := cs.Store.GetTransaction(ctx, tx.ID)
	if cached, _ := p.GetTransaction(ctx, tx.ID); !bytes.Equal(cached.Data, stored.Data) {
		t.Fatalf("cache %q, store %q", cached.Data, stored.Data)
	}
	// A caller changing what it got changes neither.
	got, _ := p.GetTransaction(ctx, tx.ID)
	got.Data[0] = 'x'
	if again, _ := p.GetTransaction(ctx, tx.ID); again.Data[0] == 'x' {
		t.Fatal("a caller's change reached the cache")
	}
}

// Fifty requests of one transaction at once, each reading it and trying
// to move it on (as fifty parallel steps would): every move that was
// written is one generation on, and afterwards the cache holds exactly
// what the store holds, never an older write that reached it late.
func TestTxCacheNeverOlderThanTheStore(t *testing.T) { eachWay(t, testTxCacheNeverOlderThanTheStore) }

func testTxCacheNeverOlderThanTheStore(t *testing.T, put bool) {
	ctx := context.Background()
	for round := range 20 {
		p, cs, tx := newTxFixture(t, put)
		cs.slow = true
		var wg sync.WaitGroup
		var moved atomic.Int32
		for range 50 {
			wg.Go(func() {
				for range 4 {
					cur, err := p.GetTransaction(ctx, tx.ID)
					if err != nil {
						t.Error(err)
						return
					}
					from, _ := strconv.Atoi(string(cur.Data))
					if _, err := p.UpdateTransaction(ctx, tx.ID, step(from)); err == nil {
						moved.Add(1)
					} else if !errors.Is(err, errStepMoved) {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		stored, _ := cs.Store.GetTransaction(ctx, tx.ID)
		cached, _ := p.GetTransaction(ctx, tx.ID)
		if want := fmt.Sprint(moved.Load()); string(stored.Data) != want || string(cached.Data) != want {
			t.Fatalf("round %d: %d moves; store at %q, cache at %q", round, moved.Load(), stored.Data, cached.Data)
		}
	}
}

// A step that fails leaves the store as it was, and the cache agrees; a
// transaction that ended is not kept (its next read asks the store).
func TestTxCacheAfterFailuresAndTheEnd(t *testing.T) { eachWay(t, testTxCacheAfterFailuresAndTheEnd) }

func testTxCacheAfterFailuresAndTheEnd(t *testing.T, put bool) {
	ctx := context.Background()
	p, cs, tx := newTxFixture(t, put)
	if _, err := p.UpdateTransaction(ctx, tx.ID, step(7)); !errors.Is(err, errStepMoved) {
		t.Fatalf("a step from a generation it was not at = %v", err)
	}
	if got, err := p.GetTransaction(ctx, tx.ID); err != nil || string(got.Data) != "0" {
		t.Fatalf("after the refused step: %q, %v", got.Data, err)
	}
	if _, err := p.UpdateTransaction(ctx, tx.ID, func(t *store.Transaction) error { t.Status = store.TxSuccess; return nil }); err != nil {
		t.Fatal(err)
	}
	n := cs.gets.Load()
	got, err := p.GetTransaction(ctx, tx.ID)
	if err != nil || got.Status != store.TxSuccess || cs.gets.Load() != n+1 {
		t.Fatalf("an ended transaction read as %q (%v), %d store reads", got.Status, err, cs.gets.Load()-n)
	}
	if _, err := p.GetTransaction(ctx, "tx_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown transaction = %v", err)
	}
}

// A cached transaction that the store no longer holds (collected after it
// expired) is not written back: the step gets ErrNotFound, as from the
// store, the cache forgets it, and the others in the same batch are
// written.
func TestTxPutOfATransactionTheStoreDropped(t *testing.T) {
	ctx := context.Background()
	p, cs, tx := newTxFixture(t, true)
	other := tx
	other.ID = "tx_2"
	if err := p.CreateTransaction(ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Store.GarbageCollect(ctx, tx.ExpiresAt.Add(store.GCGrace+time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := p.CreateTransaction(ctx, other); err != nil {
		t.Fatal(err)
	}
	ts := []store.Transaction{tx, other}
	errs, err := p.Store.(store.TransactionPutter).PutTransactions(ctx, ts)
	if err != nil || !errors.Is(errs[0], store.ErrNotFound) || errs[1] != nil {
		t.Fatalf("batch: %v, %v", errs, err)
	}
	if _, err := p.UpdateTransaction(ctx, tx.ID, step(0)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("step of a collected transaction = %v", err)
	}
	n := cs.gets.Load()
	if _, err := p.GetTransaction(ctx, tx.ID); !errors.Is(err, store.ErrNotFound) || cs.gets.Load() != n+1 {
		t.Fatalf("after the failed put the cache still answered: %v", err)
	}
}

// A full cache keeps no more: a new transaction is not cached while the
// others are live; expired ones make room, dropped at most once a second.
func TestTxCacheBound(t *testing.T) {
	c := newTxCache()
	now := time.Now()
	for i := range maxCachedTx {
		c.byKey[fmt.Sprint("tx_", i)] = store.Transaction{ID: fmt.Sprint("tx_", i), Status: store.TxActive, ExpiresAt: now.Add(time.Hour)}
	}
	c.put("tx_new", store.Transaction{ID: "tx_new", Status: store.TxActive, ExpiresAt: now.Add(time.Hour)})
	if _, ok := c.get("tx_new"); ok || len(c.byKey) != maxCachedTx {
		t.Fatalf("a full cache took one more: %d held", len(c.byKey))
	}
	for id, o := range c.byKey {
		o.ExpiresAt = now.Add(-time.Minute)
		c.byKey[id] = o
		break
	}
	c.put("tx_new", store.Transaction{ID: "tx_new", Status: store.TxActive, ExpiresAt: now.Add(time.Hour)})
	if _, ok := c.get("tx_new"); ok {
		t.Fatal("swept again within the second")
	}
	c.swept = time.Time{}
	c.put("tx_new", store.Transaction{ID: "tx_new", Status: store.TxActive, ExpiresAt: now.Add(time.Hour)})
	if _, ok := c.get("tx_new"); !ok || len(c.byKey) != maxCachedTx {
		t.Fatalf("an expired one did not make room: %d held", len(c.byKey))
	}
}

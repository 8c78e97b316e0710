package server

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-3a5b824e/assent/server/store"
)

// groupCommit writes items that come in while a write is running together,
// in the next write (group commit): the first item is written at once,
// nobody waits for a batch to fill, and under load many items share one
// transaction instead of queueing for the store's single writer one by
// one.
//
// There is no committer goroutine: a caller that finds no write running
// writes its item itself, on its own goroutine (it leads), and callers
// that come meanwhile queue. When the leader's write ends it gives every
// item its outcome and hands the lead to the first caller still queued,
// which writes itself with the others queued behind it. A lone item, the
// common case below capacity, thus costs no hand-off between goroutines
// at all (two wake-ups of a parked goroutine, each a futex call, and
// often a thread woken on the other core, which a committer goroutine
// cost at every write).
//
// Before it closes a batch, the leader yields the processor once
// (runtime.Gosched): callers that are runnable but have not queued yet
// (answers being verified on the other core, or queued behind the leader
// on this one) join this batch instead of each paying a commit of its own
// in the next. With nothing else to run the yield returns at once, so an
// idle server still writes the first item without delay.
type groupCommit[T any] struct {
	mu      sync.Mutex
	queue   []*groupItem[T] // waiting for the next write, oldest first
	leading bool            // a caller is writing a batch
	closed  bool
	idle    sync.Cond // signalled when a leader stops leading (for close)
	max     int
	// write writes a batch and gives each item its own outcome.
	write func([]T) []error
	// batches and items count what was written, for the batch size
	// (assent_group_commit_*_total).
	batches, items atomic.Uint64
}

type groupItem[T any] struct {
	v T
	// done gets the item's outcome, or errLead: the caller leads the next
	// batch, its own item first.
	done chan error
}

// errLead tells a queued caller that the lead passed to it.
var errLead = errors.New("group commit: lead the next batch")

// errWriteAborted is the outcome of items whose batch's write panicked.
var errWriteAborted = errors.New("group commit: the write was aborted")

func newGroupCommit[T any](max int, write func([]T) []error) *groupCommit[T] {
	g := &groupCommit[T]{max: max, write: write}
	g.idle.L = &g.mu
	return g
}

// do writes v with whatever else comes in meanwhile and returns its
// outcome; once the group commit is closed, or where there is none (nil:
// the store cannot write batches), alone calls the store directly.
// A caller whose ctx ends before its item is taken gets ctx's error; once
// taken, it waits for the outcome (the write is not undone).
func (g *groupCommit[T]) do(ctx context.Context, v T, alone func() error) error {
	if g == nil {
		return alone()
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return alone()
	}
	if !g.leading {
		g.leading = true
		g.mu.Unlock()
		return g.lead(&groupItem[T]{v: v})
	}
	it := &groupItem[T]{v: v, done: make(chan error, 1)}
	g.queue = append(g.queue, it)
	g.mu.Unlock()
	var err error
	select {
	case err = <-it.done:
	case <-ctx.Done():
		g.mu.Lock()
		for i, q := range g.queue {
			if q == it {
				g.queue = slices.Delete(g.queue, i, i+1)
				g.mu.Unlock()
				return ctx.Err()
			}
		}
		g.mu.Unlock()
		// Taken already: its outcome (or the lead) is on its way.
		err = <-it.done
	}
	if err == errLead {
		return g.lead(it)
	}
	return err
}

// lead writes first and what queued meanwhile (at most max in all), gives
// every other item its outcome, passes the lead on, and returns first's
// outcome. The caller holds the lead.
func (g *groupCommit[T]) lead(first *groupItem[T]) (err error) {
	runtime.Gosched()
	g.mu.Lock()
	n := min(len(g.queue), g.max-1)
	batch := make([]*groupItem[T], 0, n+1)
	batch = append(append(batch, first), g.queue[:n]...)
	g.queue = slices.Delete(g.queue, 0, n)
	g.mu.Unlock()
	g.batches.Add(1)
	g.items.Add(uint64(len(batch)))
	vs := make([]T, len(batch))
	for i, it := range batch {
		vs[i] = it.v
	}
	told := 1
	// Even when the write panics, every item taken gets an outcome and the
	// lead passes on: nobody waits for ever.
	defer func() {
		for _, it := range batch[told:] {
			it.done <- errWriteAborted
		}
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.leading = false
			g.idle.Broadcast()
			g.mu.Unlock()
			return
		}
		next := g.queue[0]
		g.queue = slices.Delete(g.queue, 0, 1)
		g.mu.Unlock()
		next.done <- errLead
	}()
	errs := g.write(vs)
	for ; told < len(batch); told++ {
		batch[told].done <- errs[told]
	}
	return errs[0]
}

// close makes every later item go to the store alone, and returns once the
// items queued already are written.
func (g *groupCommit[T]) close() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.closed = true
	for g.leading {
		g.idle.Wait()
	}
	g.mu.Unlock()
}

// collectors count the transactions g wrote and the items in them
// (assent_group_commit_{batches,items}_total{kind}): items ÷ batches is
// the batch size; none for a nil one.
func (g *groupCommit[T]) collectors(kind string) []prometheus.Collector {
	if g == nil {
		return nil
	}
	return batchCollectors(kind, &g.batches, &g.items)
}

// batchCollectors are assent_group_commit_{batches,items}_total{kind}
// over the two counts of a writer of batches.
func batchCollectors(kind string, batches, items *atomic.Uint64) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "assent_group_commit_batches_total", Help: "Transactions written by a group commit, by what they write.",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(batches.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "assent_group_commit_items_total", Help: "Items written by a group commit, by what they are; ÷ batches is the batch size.",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(items.Load()) }),
	}
}

// allOrEach is a group commit whose items that come in together are
// written in one transaction by all, all or none; a batch that failed is
// written again one item at a time through one, so that each gets its own
// outcome (one duplicate must not fail the others).
func allOrEach[T any](all func(context.Context, []T) error, one func(context.Context, T) error) *groupCommit[T] {
	return newGroupCommit(maxBatch, func(vs []T) []error {
		errs := make([]error, len(vs))
		ctx := context.Background()
		if len(vs) > 1 && all(ctx, vs) == nil {
			return errs
		}
		for i, v := range vs {
			errs[i] = one(ctx, v)
		}
		return errs
	})
}

// challengeCreates creates challenges, each with its events, that come in
// together in one transaction of b (allOrEach), or through create.
func challengeCreates(b store.ChallengeBatcher, create func(context.Context, store.Challenge, ...*store.Audit) error) *groupCommit[store.ChallengeWrite] {
	return allOrEach(b.CreateChallenges, func(ctx context.Context, w store.ChallengeWrite) error {
		return create(ctx, w.Challenge, w.Audit...)
	})
}

// nonceBatches records one-time keys (a device token's jti at every
// connect, which a reconnect storm sends by the thousand) that come in
// together in one transaction of b, each with its own answer; one alone
// goes through one.
func nonceBatches(b store.NonceBatcher, one func(context.Context, store.NonceUse) error) *groupCommit[store.NonceUse] {
	return newGroupCommit(maxBatch, func(us []store.NonceUse) []error {
		ctx := context.Background()
		if len(us) == 1 {
			return []error{one(ctx, us[0])}
		}
		errs, err := b.UseNonces(ctx, us)
		if err != nil {
			errs = make([]error, len(us))
			for i := range errs {
				errs[i] = err
			}
		}
		return errs
	})
}

package server

import (
	"context"
	"runtime"
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
// Before it closes a batch, the committer yields the processor once
// (runtime.Gosched): callers that are runnable but have not reached the
// channel yet (answers being verified on the other core, or queued behind
// the committer on this one) join this batch instead of each paying a
// commit of its own in the next. With nothing else to run the yield
// returns at once, so an idle server still writes the first item without
// delay.
type groupCommit[T any] struct {
	in   chan groupItem[T]
	stop chan struct{}
	done sync.WaitGroup
	once sync.Once
	max  int
	// write writes a batch and gives each item its own outcome.
	write func([]T) []error
	// batches and items count what was written, for the batch size
	// (assent_group_commit_*_total).
	batches, items atomic.Uint64
}

type groupItem[T any] struct {
	v    T
	done chan error
}

func newGroupCommit[T any](max int, write func([]T) []error) *groupCommit[T] {
	g := &groupCommit[T]{in: make(chan groupItem[T]), stop: make(chan struct{}), max: max, write: write}
	g.done.Add(1)
	go g.run()
	return g
}

func (g *groupCommit[T]) run() {
	defer g.done.Done()
	for {
		var first groupItem[T]
		select {
		case first = <-g.in:
		case <-g.stop:
			return
		}
		batch := []groupItem[T]{first}
		yielded := false
	more:
		for len(batch) < g.max {
			select {
			case it := <-g.in:
				batch = append(batch, it)
			default:
				if yielded {
					break more
				}
				yielded = true
				runtime.Gosched()
			}
		}
		g.batches.Add(1)
		g.items.Add(uint64(len(batch)))
		vs := make([]T, len(batch))
		for i, it := range batch {
			vs[i] = it.v
		}
		for i, err := range g.write(vs) {
			batch[i].done <- err
		}
	}
}

// do writes v with whatever else comes in meanwhile and returns its
// outcome; once the committer is closed, or where there is none (nil: the
// store cannot write batches), alone calls the store directly.
// A caller whose ctx ends before its item is taken gets ctx's error; once
// taken, it waits for the outcome (the write is not undone).
func (g *groupCommit[T]) do(ctx context.Context, v T, alone func() error) error {
	if g == nil {
		return alone()
	}
	done := make(chan error, 1)
	select {
	case g.in <- groupItem[T]{v, done}:
		return <-done
	case <-g.stop:
		return alone()
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the committer once the batch in progress is written.
func (g *groupCommit[T]) close() {
	if g == nil {
		return
	}
	g.once.Do(func() {
		close(g.stop)
		g.done.Wait()
	})
}

// collectors count the transactions g wrote and the items in them
// (assent_group_commit_{batches,items}_total{kind}): items ÷ batches is
// the batch size; none for a nil one.
func (g *groupCommit[T]) collectors(kind string) []prometheus.Collector {
	if g == nil {
		return nil
	}
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "assent_group_commit_batches_total", Help: "Transactions written by a group commit, by what they write.",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(g.batches.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "assent_group_commit_items_total", Help: "Items written by a group commit, by what they are; ÷ batches is the batch size.",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return float64(g.items.Load()) }),
	}
}

// challengeCreates creates challenges, each with its events, that come in
// together in one transaction of b. A batch is all or none: one that
// failed is written again one challenge at a time through create, so that
// each gets its own outcome (one duplicate must not fail the others).
func challengeCreates(b store.ChallengeBatcher, create func(context.Context, store.Challenge, ...*store.Audit) error) *groupCommit[store.ChallengeWrite] {
	return newGroupCommit(maxBatch, func(ws []store.ChallengeWrite) []error {
		errs := make([]error, len(ws))
		ctx := context.Background()
		if len(ws) > 1 && b.CreateChallenges(ctx, ws) == nil {
			return errs
		}
		for i, w := range ws {
			errs[i] = create(ctx, w.Challenge, w.Audit...)
		}
		return errs
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

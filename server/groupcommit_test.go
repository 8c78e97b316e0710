package server

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Items that arrive while a write runs share the next write, never more
// than max of them, and each caller gets its own item's outcome.
func TestGroupCommitBatchesWhatComesInMeanwhile(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	g := newGroupCommit(4, func(vs []int) []error {
		mu.Lock()
		first := len(sizes) == 0
		sizes = append(sizes, len(vs))
		mu.Unlock()
		if first {
			<-release // the first write holds the lead while the others queue
		}
		errs := make([]error, len(vs))
		for i, v := range vs {
			if v%2 == 1 {
				errs[i] = fmt.Errorf("odd %d", v)
			}
		}
		return errs
	})
	defer g.close()

	ctx := context.Background()
	firstDone := make(chan error, 1)
	go func() { firstDone <- g.do(ctx, 0, nil) }()
	for g.batches.Load() == 0 && len(snapshot(&mu, &sizes)) == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	errs := make([]error, 9)
	for i := 1; i <= 8; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = g.do(ctx, i, nil) }()
	}
	// The eight queue behind the held write.
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	if err := <-firstDone; err != nil {
		t.Fatalf("item 0: %v", err)
	}
	for i := 1; i <= 8; i++ {
		if (i%2 == 1) != (errs[i] != nil) {
			t.Errorf("item %d: got %v, want its own outcome", i, errs[i])
		}
	}
	got := snapshot(&mu, &sizes)
	if len(got) != 3 || got[0] != 1 || got[1] != 4 || got[2] != 4 {
		t.Fatalf("batch sizes %v, want [1 4 4]: the first alone, then the queue in batches of at most 4", got)
	}
	if b, n := g.batches.Load(), g.items.Load(); b != 3 || n != 9 {
		t.Fatalf("counted %d batches of %d items, want 3 of 9", b, n)
	}
}

func snapshot(mu *sync.Mutex, s *[]int) []int {
	mu.Lock()
	defer mu.Unlock()
	return append([]int(nil), *s...)
}

// A caller whose context ends before its item is taken gets the
// context's error; after close, items go to the store alone.
func TestGroupCommitCancelAndClose(t *testing.T) {
	hold := make(chan struct{})
	g := newGroupCommit(8, func(vs []int) []error { <-hold; return make([]error, len(vs)) })
	go g.do(context.Background(), 0, nil) // holds the lead
	for g.batches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.do(ctx, 1, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled caller: got %v, want the context's error", err)
	}
	close(hold)
	g.close()
	alone := errors.New("alone")
	if err := g.do(context.Background(), 2, func() error { return alone }); err != alone {
		t.Fatalf("after close: got %v, want the store called directly", err)
	}
}

// BenchmarkGroupCommit: callers on every processor write items through a
// group commit whose write costs about a small SQLite commit; items/batch is
// how many share a write.
func BenchmarkGroupCommit(b *testing.B) {
	g := newGroupCommit(maxBatch, func(vs []int) []error {
		spin(50 * time.Microsecond)
		return make([]error, len(vs))
	})
	defer g.close()
	ctx := context.Background()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			spin(20 * time.Microsecond) // the caller's own work (an answer's verification)
			if err := g.do(ctx, 1, nil); err != nil {
				b.Error(err)
			}
		}
	})
	b.ReportMetric(float64(g.items.Load())/float64(max(g.batches.Load(), 1)), "items/batch")
}

func spin(d time.Duration) {
	for t := time.Now(); time.Since(t) < d; {
	}
}

// Fifty parallel callers: every item is written exactly once, in batches of
// at most max, each caller gets its own item's outcome, and once they are
// done nobody leads (the next item is written at once).
func TestGroupCommitFiftyParallelCallers(t *testing.T) {
	var mu sync.Mutex
	written := map[int]int{}
	g := newGroupCommit(8, func(vs []int) []error {
		if len(vs) > 8 {
			t.Errorf("a batch of %d, want at most 8", len(vs))
		}
		spin(200 * time.Microsecond)
		errs := make([]error, len(vs))
		mu.Lock()
		for i, v := range vs {
			written[v]++
			errs[i] = fmt.Errorf("item %d", v)
		}
		mu.Unlock()
		return errs
	})
	defer g.close()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := g.do(context.Background(), i, nil); err == nil || err.Error() != fmt.Sprintf("item %d", i) {
				t.Errorf("caller %d got %v, want its own outcome", i, err)
			}
		}()
	}
	wg.Wait()
	for i := range 50 {
		if written[i] != 1 {
			t.Errorf("item %d written %d times, want once", i, written[i])
		}
	}
	if g.batches.Load() >= 50 {
		t.Errorf("%d batches for 50 parallel items: nothing was grouped", g.batches.Load())
	}
	g.mu.Lock()
	leading, queued := g.leading, len(g.queue)
	g.mu.Unlock()
	if leading || queued != 0 {
		t.Fatalf("after every caller returned: leading %v, %d queued; want neither", leading, queued)
	}
}

// A write that panics fails its batch's other items with an error (the
// panic is its leader's), and the lead passes on: items queued behind it
// and later ones are still written.
func TestGroupCommitWriteThatPanicsBlocksNobody(t *testing.T) {
	hold := make(chan struct{})
	g := newGroupCommit(8, func(vs []int) []error {
		if vs[0] == 0 {
			<-hold
			panic("write failed")
		}
		return make([]error, len(vs))
	})
	defer g.close()
	leader := make(chan any, 1)
	go func() {
		defer func() { leader <- recover() }()
		_ = g.do(context.Background(), 0, nil)
	}()
	for g.batches.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	queued := make(chan error, 1)
	go func() { queued <- g.do(context.Background(), 1, nil) }()
	for {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(hold)
	if p := <-leader; p == nil {
		t.Fatal("the leader's panic was swallowed")
	}
	if err := <-queued; err != nil {
		t.Fatalf("item queued behind the panicking write: %v, want it written by the next leader", err)
	}
	if err := g.do(context.Background(), 2, nil); err != nil {
		t.Fatalf("item after the panic: %v", err)
	}
}

// BenchmarkGroupCommitAlone: one caller at a time, as below capacity
// (250 pushes/s), with a write that costs nothing: what the group commit
// itself costs a lone item.
func BenchmarkGroupCommitAlone(b *testing.B) {
	g := newGroupCommit(maxBatch, func(vs []int) []error { return make([]error, len(vs)) })
	defer g.close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := g.do(ctx, 1, nil); err != nil {
			b.Fatal(err)
		}
	}
}

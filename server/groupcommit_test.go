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
			<-release // the first write holds the committer while the others queue
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
	// The eight wait on the channel behind the held write.
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
	go g.do(context.Background(), 0, nil) // holds the committer
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

// BenchmarkGroupCommit: callers on every processor hand items to a
// committer whose write costs about a small SQLite commit; items/batch is
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

package server

import (
	"testing"
	"time"
)

// A poll is held at most maxPollWait, and never past half the listener's
// write timeout (the answer must still get out).
func TestPollWaitBounds(t *testing.T) {
	s := &Server{opts: Options{HTTP: HTTPLimits{WriteTimeout: 30 * time.Second}}}
	for wait, want := range map[int]time.Duration{-5: 0, 0: 0, 3: 3 * time.Second, 20: 15 * time.Second, 3600: 15 * time.Second} {
		if got := s.pollWait(wait); got != want {
			t.Errorf("pollWait(%d) with a 30 s write timeout = %v, want %v", wait, got, want)
		}
	}
	s.opts.HTTP.WriteTimeout = time.Hour
	if got := s.pollWait(3600); got != maxPollWait {
		t.Errorf("pollWait(3600) = %v, want %v", got, maxPollWait)
	}
}

// Waiters are counted per transaction and per node, and removing one
// leaves the others' wake-ups alone.
func TestPushWaitsCapsAndWakes(t *testing.T) {
	w := newPushWaits()
	a, removeA, ok := w.add("tx1", []string{"c1", "c2"})
	if !ok {
		t.Fatal("first waiter refused")
	}
	b, removeB, ok := w.add("tx1", []string{"c1", "c2"})
	if !ok {
		t.Fatal("second waiter refused")
	}
	if _, _, ok := w.add("tx1", []string{"c1"}); ok {
		t.Fatal("a third waiter of one transaction was held")
	}
	removeA()
	w.wake("c2")
	select {
	case <-b:
	default:
		t.Fatal("the remaining waiter was not woken")
	}
	select {
	case <-a:
		t.Fatal("a removed waiter was woken")
	default:
	}
	removeB()
	w.n = maxWaits // a node holding as many as it may
	if _, _, ok := w.add("tx2", []string{"c3"}); ok {
		t.Fatal("a waiter past the node's cap was held")
	}
	w.n = 0
	if w.waiting() != 0 || len(w.byID) != 0 || len(w.byTx) != 0 {
		t.Fatalf("after removing both: %d waiting, %d ids, %d transactions", w.waiting(), len(w.byID), len(w.byTx))
	}
}

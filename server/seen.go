package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-3a5b824e/assent/server/store"
)

// seenDelay is how long a device's LastSeen may wait in memory before it
// is written.
const seenDelay = time.Second

// seenWriter writes when devices were last seen behind the connects that
// saw them: a connect notes its device's time and goes on, and the times
// noted within a second are written together, the store taking them in
// the order it keeps the devices (sqlite.Store.TouchDevices). In a
// reconnect storm a group commit per handful of connects wrote a page per
// device (and copied it again at each checkpoint); taken together in the
// table's order, each page is written once.
//
// LastSeen decides nothing (it is shown to people, and a connect moves it
// at most once a minute), so a kill -9 may lose the last second of it; a
// clean stop writes what is noted (flush). A write that fails keeps its
// times for the next one, a second later.
type seenWriter struct {
	write func(context.Context, []store.DeviceTouch) error
	// failed is told of a write that failed after one that did not (a
	// full disk fails every second; it is told once).
	failed func(error)
	delay  time.Duration

	mu      sync.Mutex
	pending map[string]time.Time
	timer   *time.Timer // set while a write is due
	closed  bool        // after close, a note is written at once
	failing bool

	writing sync.Mutex // one write at a time

	batches, items atomic.Uint64
}

func newSeenWriter(write func(context.Context, []store.DeviceTouch) error, failed func(error)) *seenWriter {
	return &seenWriter{write: write, failed: failed, delay: seenDelay, pending: map[string]time.Time{}}
}

// note records that device id was seen at; only a later time moves it.
func (w *seenWriter) note(id string, at time.Time) {
	w.mu.Lock()
	w.putLocked(id, at)
	closed := w.closed
	if !closed && w.timer == nil {
		w.timer = time.AfterFunc(w.delay, w.due)
	}
	w.mu.Unlock()
	if closed {
		w.flush(context.Background())
	}
}

func (w *seenWriter) putLocked(id string, at time.Time) {
	if prev, ok := w.pending[id]; !ok || prev.Before(at) {
		w.pending[id] = at
	}
}

func (w *seenWriter) due() {
	w.mu.Lock()
	w.timer = nil
	w.mu.Unlock()
	w.flush(context.Background())
}

// flush writes every time noted so far, in one call of the store (which
// takes them in the order it keeps the devices); on an error they stay
// noted, and another write is due a second later.
func (w *seenWriter) flush(ctx context.Context) error {
	w.writing.Lock()
	defer w.writing.Unlock()
	w.mu.Lock()
	if len(w.pending) == 0 {
		w.mu.Unlock()
		return nil
	}
	ts := make([]store.DeviceTouch, 0, len(w.pending))
	for id, at := range w.pending {
		ts = append(ts, store.DeviceTouch{ID: id, At: at})
	}
	// A new map: one cleared would keep a storm's size for good.
	w.pending = map[string]time.Time{}
	w.mu.Unlock()
	if err := w.write(ctx, ts); err != nil {
		w.mu.Lock()
		for _, t := range ts {
			w.putLocked(t.ID, t.At)
		}
		tell := !w.failing
		w.failing = true
		if !w.closed && w.timer == nil {
			w.timer = time.AfterFunc(w.delay, w.due)
		}
		w.mu.Unlock()
		if tell {
			w.failed(err)
		}
		return err
	}
	w.batches.Add(1)
	w.items.Add(uint64(len(ts)))
	w.mu.Lock()
	w.failing = false
	w.mu.Unlock()
	return nil
}

// close writes what is noted; notes after it are written at once.
func (w *seenWriter) close(ctx context.Context) error {
	w.mu.Lock()
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	w.mu.Unlock()
	return w.flush(ctx)
}

// noted counts the times not written yet (for tests).
func (w *seenWriter) noted() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.pending)
}

// collectors count its writes and the times in them, as a group commit's
// (kind device_touches; a write of more than 128 times is several
// transactions of the store).
func (w *seenWriter) collectors(kind string) []prometheus.Collector {
	if w == nil {
		return nil
	}
	return batchCollectors(kind, &w.batches, &w.items)
}

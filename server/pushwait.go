package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server/store"
)

// A challenge-poll may ask the server to hold its answer while the push it
// polls still waits (sdk.Request.Wait): the answer then comes the moment the
// person answers, and one request replaces a poll a second. The waiter is
// woken by the resolved message every node's hub receives through the
// broker when a challenge ends; it also looks at the store every
// Options.PollRecheck, so that a message the broker dropped costs at most
// that.
const (
	// maxPollWait bounds what a caller may ask; it stays under the
	// listener's write timeout (see pollWait).
	maxPollWait = 20 * time.Second
	// maxWaitsPerTx polls of one transaction may wait at once; more answer
	// at once (the caller polls again), so that one state handle cannot
	// hold many requests open.
	maxWaitsPerTx = 2
	// maxWaits bounds the waiting polls of a node (each holds its
	// request's goroutine, some 25 KB).
	maxWaits = 10000
)

// pushWaits are the challenge-polls waiting on this node.
type pushWaits struct {
	mu   sync.Mutex
	byID map[string][]chan struct{} // challenge id → its waiters
	byTx map[string]int             // transaction id → waiting polls
	n    int
}

func newPushWaits() *pushWaits {
	return &pushWaits{byID: map[string][]chan struct{}{}, byTx: map[string]int{}}
}

// add registers a waiter for the challenges of one transaction; ok is
// false when the transaction or the node has as many as it may.
func (w *pushWaits) add(txID string, ids []string) (wake chan struct{}, remove func(), ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.n >= maxWaits || w.byTx[txID] >= maxWaitsPerTx {
		return nil, nil, false
	}
	wake = make(chan struct{}, 1)
	w.n++
	w.byTx[txID]++
	for _, id := range ids {
		w.byID[id] = append(w.byID[id], wake)
	}
	return wake, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.n--
		if w.byTx[txID]--; w.byTx[txID] <= 0 {
			delete(w.byTx, txID)
		}
		for _, id := range ids {
			rest := w.byID[id][:0]
			for _, c := range w.byID[id] {
				if c != wake {
					rest = append(rest, c)
				}
			}
			if len(rest) == 0 {
				delete(w.byID, id)
			} else {
				w.byID[id] = rest
			}
		}
	}, true
}

// wake tells the waiters of challenge id that it ended.
func (w *pushWaits) wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range w.byID[id] {
		select {
		case c <- struct{}{}:
		default:
		}
	}
}

// waiting is how many polls wait on this node (tests, metrics).
func (w *pushWaits) waiting() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// interested says whether this node has a use for a message of type
// msgType for a device: when it holds one of the device's sockets, or the
// message ends a push and a poll here may wait for it. deliver does
// nothing with any other.
func (s *Server) interested(deviceID, msgType string) bool {
	return s.hub.holds(deviceID) || (msgType == push.MsgResolved && s.waits.waiting() > 0)
}

// deliver is the node's broker subscription: messages go to the device's
// sockets, and a resolved challenge also wakes the polls waiting for it.
func (s *Server) deliver(deviceID string, msg push.Message) {
	s.hub.deliver(deviceID, msg)
	if msg.Type == push.MsgResolved {
		s.waits.wake(msg.ID)
	}
}

// pollWait is how long a challenge-poll that asked for wait seconds may
// be held: at most maxPollWait, and well inside the listener's write
// timeout.
func (s *Server) pollWait(wait int) time.Duration {
	if wait <= 0 {
		return 0
	}
	d := min(time.Duration(wait)*time.Second, maxPollWait)
	if wt := s.opts.HTTP.WriteTimeout; wt > 0 {
		d = min(d, wt/2)
	}
	return d
}

// waitPush holds a challenge-poll until the push p of transaction txID
// has an answer to give (a challenge ended, is gone, or the push expired),
// d passes, or the caller leaves. It says whether it waited at all: when
// the transaction or the node has as many waiting polls as it may, the
// poll answers at once. The caller loads the transaction again after a
// wait and decides from what is stored, never from what woke it.
func (s *Server) waitPush(ctx context.Context, txID string, p *pushState, d time.Duration) bool {
	if d <= 0 || p == nil || len(p.ChallengeIDs) == 0 {
		return false
	}
	wake, remove, ok := s.waits.add(txID, p.ChallengeIDs)
	if !ok {
		return false
	}
	defer remove()
	deadline := time.NewTimer(min(d, p.ExpiresAt.Sub(s.now())))
	defer deadline.Stop()
	recheck := time.NewTicker(s.opts.PollRecheck)
	defer recheck.Stop()
	for s.pushStillWaits(ctx, p) {
		select {
		case <-wake:
			return true // a challenge ended: the poll reads how
		case <-recheck.C:
		case <-deadline.C:
			return true
		case <-ctx.Done():
			return true
		case <-s.done:
			return true
		}
	}
	return true
}

// pushStillWaits says whether every challenge of p is stored and pending
// (or, for a push sent in the background, not out yet) and unexpired. Any
// doubt answers false: the poll then reads the store itself.
func (s *Server) pushStillWaits(ctx context.Context, p *pushState) bool {
	now := s.now()
	if !now.Before(p.ExpiresAt) {
		return false
	}
	for _, id := range p.ChallengeIDs {
		c, err := s.st.GetChallenge(ctx, id)
		if errors.Is(err, store.ErrNotFound) && p.Quiet {
			continue
		}
		if err != nil || c.Status != store.ChallengePending || !now.Before(c.ExpiresAt) {
			return false
		}
	}
	return true
}

package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/seed-3a5b824e/assent/server/store"
)

// noSpaceRetry is the Retry-After, in seconds, of errNoSpace: the store
// recovers by itself within seconds of space coming back.
const noSpaceRetry = 10

// errNoSpace is the answer when the store cannot write for want of disk
// space (store.ErrNoSpace): 503 with Retry-After, as for a database that
// does not answer, and in words the person at the sign-in understands.
var errNoSpace = &apiError{Status: http.StatusServiceUnavailable, Code: "unavailable", RetryAfter: noSpaceRetry,
	Message: "the server cannot save anything right now (its storage is full); nothing was changed, try again in a moment"}

// noSpaceLogEvery bounds how often a store out of space is logged: every
// request fails alike, and the log may be on the full volume.
const noSpaceLogEvery = 10 * time.Second

// noSpace logs a write that failed for want of space (at most once every
// noSpaceLogEvery) and returns errNoSpace.
func (s *Server) noSpace(op string, err error) error {
	s.metrics.errors.WithLabelValues(op).Inc()
	// /readyz need not wait for its next probe to know.
	s.writeProbe().set(err)
	now, last := time.Now().UnixNano(), s.noSpaceLogged.Load()
	if now-last >= int64(noSpaceLogEvery) && s.noSpaceLogged.CompareAndSwap(last, now) {
		s.log.Error(op+": the database is out of space; requests that write get 503 until space is freed on its volume", "err", err)
	}
	return errNoSpace
}

// The write probe of /readyz: a tiny write transaction (one counter row,
// probeKey), so that a node whose store answers pings but cannot write is
// not ready. A result is reused for a while, so that /readyz stays cheap;
// a failure for less long, so that readiness comes back soon after space
// does.
const (
	probeKey     = "readyz:write-probe"
	probeOKFor   = 2 * time.Second
	probeFailFor = 500 * time.Millisecond
)

type writeProbe struct {
	sf singleflight.Group // one probe at a time; callers share its result

	mu  sync.Mutex
	at  time.Time // when the last probe ended; zero: none yet
	err error
}

// probeTimeout bounds one probe, whoever waits for it.
const probeTimeout = 5 * time.Second

// probeWrite returns the last probe's result while it is fresh; otherwise
// it runs the probe (or joins the one running) and waits for it, at most
// until ctx ends.
func (s *Server) probeWrite(ctx context.Context) error {
	p := s.writeProbe()
	if ok, err := p.fresh(); ok {
		return err
	}
	ch := p.sf.DoChan("", func() (any, error) {
		if ok, err := p.fresh(); ok {
			return nil, err
		}
		// A context of its own: the probe serves every caller waiting.
		pctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		defer cancel()
		now := s.now()
		_, err := s.st.UpdateCounter(pctx, probeKey, func(c *store.Counter) error {
			c.Count++
			c.Last = now
			c.ExpiresAt = now.Add(time.Hour)
			return nil
		})
		p.set(err)
		return nil, err
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return fmt.Errorf("write probe did not finish: %w", ctx.Err())
	}
}

func (s *Server) writeProbe() *writeProbe { return &s.probe }

// set records a result.
func (p *writeProbe) set(err error) {
	p.mu.Lock()
	p.at, p.err = time.Now(), err
	p.mu.Unlock()
}

// fresh returns true and the last result while it may be reused.
func (p *writeProbe) fresh() (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ttl := probeOKFor
	if p.err != nil {
		ttl = probeFailFor
	}
	return !p.at.IsZero() && time.Since(p.at) < ttl, p.err
}

// storeWriteCheck is the "store-write" value /readyz shows.
func storeWriteCheck(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, store.ErrNoSpace):
		return "failing: the database is out of space; free space on its volume"
	default:
		return "failing: " + err.Error()
	}
}

// spaceShort is what a store that keeps a space reserve offers (the SQLite
// store: see its SpaceShort).
type spaceShort interface{ SpaceShort() bool }

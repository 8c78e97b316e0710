package server

import (
	"context"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-3a5b824e/assent/server/store"
)

// sharedStore is the store of a node that shares it with other nodes
// (PostgreSQL and NATS, or the tests' nodes on one file). Every challenge
// is written to the store as it is made and as it changes, as before, but
// the writes of challenges with their events that come in while one runs
// go together in the next transaction (group commit): every audited write
// of every node takes the audit log's one lock until it commits, so under
// load one take for many challenges, not one each, is what lets the nodes
// keep up.
type sharedStore struct {
	store.Store
	changes *groupCommit[*challengeChange]
	// nonces records the one-time keys of connects that come in together
	// in one transaction (a node's devices reconnecting to the others).
	nonces *groupCommit[store.NonceUse]
}

// challengeChange is a CreateChallenge or UpdateChallenge call in a group
// commit, with its outcome.
type challengeChange struct {
	store.ChallengeChange
	out store.Challenge
}

func newSharedStore(st store.Store) *sharedStore {
	p := &sharedStore{Store: st}
	if b, ok := st.(store.ChallengeChanger); ok {
		p.changes = newGroupCommit(maxBatch, func(cs []*challengeChange) []error {
			ctx := context.Background()
			// A batch of one too: the store's batch takes fewer round
			// trips than CreateChallenge or UpdateChallenge.
			batch := make([]store.ChallengeChange, len(cs))
			for i, c := range cs {
				batch[i] = c.ChallengeChange
			}
			out, errs, err := b.ChangeChallenges(ctx, batch)
			if err == nil {
				for i, c := range cs {
					c.out = out[i]
				}
				return errs
			}
			if len(cs) == 1 {
				return []error{err}
			}
			// A batch whose transaction failed (none of it was written;
			// one duplicate fails a batch): one at a time, each with its
			// own outcome.
			errs = make([]error, len(cs))
			for i, c := range cs {
				errs[i] = c.alone(ctx, p.Store)
			}
			return errs
		})
	}
	if b, ok := st.(store.NonceBatcher); ok {
		p.nonces = nonceBatches(b, func(ctx context.Context, u store.NonceUse) error {
			return p.Store.UseNonce(ctx, u.Key, u.Now, u.Expires)
		})
	}
	return p
}

// UseNonce records a one-time key with the others that come in meanwhile.
func (p *sharedStore) UseNonce(ctx context.Context, key string, now, expires time.Time) error {
	return p.nonces.do(ctx, store.NonceUse{Key: key, Now: now, Expires: expires},
		func() error { return p.Store.UseNonce(ctx, key, now, expires) })
}

// alone makes the change through st by itself.
func (c *challengeChange) alone(ctx context.Context, st store.Store) error {
	if c.New != nil {
		return st.CreateChallenge(ctx, *c.New, c.Audit...)
	}
	var err error
	c.out, err = st.UpdateChallenge(ctx, c.ID, c.Fn, c.Audit...)
	return err
}

// do makes a change with the others that come in meanwhile. Changes
// without events take no lock of the audit log and go alone.
func (p *sharedStore) do(ctx context.Context, c *challengeChange) error {
	if len(c.Audit) == 0 {
		return c.alone(ctx, p.Store)
	}
	return p.changes.do(ctx, c, func() error { return c.alone(ctx, p.Store) })
}

// CreateChallenge writes c with its events, with the other changes that
// come in meanwhile.
func (p *sharedStore) CreateChallenge(ctx context.Context, c store.Challenge, audit ...*store.Audit) error {
	return p.do(ctx, &challengeChange{ChallengeChange: store.ChallengeChange{New: &c, ID: c.ID, Audit: audit}})
}

// UpdateChallenge changes a challenge with its events, with the other
// changes that come in meanwhile.
func (p *sharedStore) UpdateChallenge(ctx context.Context, id string, fn func(*store.Challenge) error, audit ...*store.Audit) (store.Challenge, error) {
	c := &challengeChange{ChallengeChange: store.ChallengeChange{ID: id, Fn: fn, Audit: audit}}
	err := p.do(ctx, c)
	return c.out, err
}

// collectors count the group commits' transactions and their items.
func (p *sharedStore) collectors() []prometheus.Collector {
	return slices.Concat(p.changes.collectors("challenge_changes"), p.nonces.collectors("nonces"))
}

// Close stops the group commits and closes the store.
func (p *sharedStore) Close() error {
	p.changes.close()
	p.nonces.close()
	return p.Store.Close()
}

// SpaceShort passes on whether the store gave up its space reserve.
func (p *sharedStore) SpaceShort() bool {
	sp, ok := p.Store.(spaceShort)
	return ok && sp.SpaceShort()
}

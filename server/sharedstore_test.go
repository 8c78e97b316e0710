package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/internal/pgtest"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/postgres"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// sharedBackends are the stores several nodes share: PostgreSQL, and one
// SQLite file (the tests' nodes), each with a user and a device.
func sharedBackends(t *testing.T) map[string]func(t *testing.T) (store.Store, store.Device) {
	setUp := func(t *testing.T, st store.Store) (store.Store, store.Device) {
		t.Helper()
		ctx := context.Background()
		now := time.Now()
		if err := st.CreateUser(ctx, store.User{ID: "usr_1", Login: "ann", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := st.CreateEnrollToken(ctx, store.EnrollToken{Hash: "h", UserID: "usr_1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		d, err := st.CompleteEnrollment(ctx, "h", now, store.Device{ID: "dev_1", UserID: "usr_1", PublicKey: []byte("{}"), Name: "Phone", CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		return st, d
	}
	return map[string]func(t *testing.T) (store.Store, store.Device){
		"postgres": func(t *testing.T) (store.Store, store.Device) {
			st, err := postgres.Open(context.Background(), pgtest.Schema(t, "assent_shared"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return setUp(t, st)
		},
		"sqlite": func(t *testing.T) (store.Store, store.Device) {
			st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return setUp(t, st)
		},
	}
}

func sharedChallenge(id string, d store.Device) store.Challenge {
	now := time.Now()
	return store.Challenge{ID: id, DeviceID: d.ID, UserID: d.UserID, Kind: "signin", Nonce: "n-" + id,
		Status: store.ChallengePending, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
}

func sentAudit(c store.Challenge) *store.Audit {
	return &store.Audit{Events: []store.AuditEvent{{Time: c.CreatedAt, Type: "push.sent", UserID: c.UserID, DeviceID: c.DeviceID, ChallengeID: c.ID}}}
}

// Two nodes on one store, fifty answers to one challenge between them, each
// node writing what comes in together in one transaction: one answer
// settles it, with one event; the chain stays whole.
func TestSharedNodesSettleAChallengeOnce(t *testing.T) {
	for name, open := range sharedBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, d := open(t)
			// Not closed through the nodes: the test's cleanup closes st.
			nodes := []*sharedStore{newSharedStore(st), newSharedStore(st)}
			defer nodes[0].changes.close()
			defer nodes[1].changes.close()
			c := sharedChallenge("chl_a", d)
			if err := nodes[0].CreateChallenge(ctx, c, sentAudit(c)); err != nil {
				t.Fatal(err)
			}
			var won, refused atomic.Int32
			var wg sync.WaitGroup
			for i := range 50 {
				wg.Go(func() {
					a := outcomeAudit()
					got, err := nodes[i%2].UpdateChallenge(ctx, "chl_a", approve, a)
					switch {
					case err == nil:
						won.Add(1)
						if got.Status != store.ChallengeApproved || len(a.Stored) != 1 {
							t.Errorf("the winner got %+v, events %+v", got, a.Stored)
						}
					case errors.Is(err, errNotPending):
						refused.Add(1)
						if a.Stored != nil {
							t.Errorf("a refused answer kept events %+v", a.Stored)
						}
					default:
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if won.Load() != 1 || refused.Load() != 49 {
				t.Fatalf("%d settled, %d refused; want 1 and 49", won.Load(), refused.Load())
			}
			if got, want := eventsOf(t, st, "chl_a"), []string{"push.sent", "push.approved"}; !slices.Equal(got, want) {
				t.Fatalf("events = %v, want %v", got, want)
			}
			if check, err := store.VerifyAudit(ctx, st); err != nil || check.Broken != nil {
				t.Fatalf("VerifyAudit = %+v, %v", check, err)
			}
			batches, items := nodes[0].changes.batches.Load()+nodes[1].changes.batches.Load(), nodes[0].changes.items.Load()+nodes[1].changes.items.Load()
			if items != 51 || batches > items {
				t.Errorf("%d changes in %d transactions; want 51 changes", items, batches)
			}
		})
	}
}

// A batch that fails as a whole (one of its challenges was there already)
// is written again change by change: the duplicate fails alone, the rest
// is written with its events.
func TestSharedStoreBatchWithADuplicateFailsOnlyItself(t *testing.T) {
	for name, open := range sharedBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, d := open(t)
			p := newSharedStore(st)
			defer p.changes.close()
			for _, id := range []string{"chl_0", "chl_1"} {
				if err := st.CreateChallenge(ctx, sharedChallenge(id, d)); err != nil {
					t.Fatal(err)
				}
			}
			dup, fresh := sharedChallenge("chl_1", d), sharedChallenge("chl_2", d)
			settled := outcomeAudit()
			cs := []*challengeChange{
				{ChallengeChange: store.ChallengeChange{New: &dup, ID: dup.ID, Audit: []*store.Audit{sentAudit(dup)}}},
				{ChallengeChange: store.ChallengeChange{New: &fresh, ID: fresh.ID, Audit: []*store.Audit{sentAudit(fresh)}}},
				{ChallengeChange: store.ChallengeChange{ID: "chl_0", Fn: approve, Audit: []*store.Audit{settled}}},
			}
			errs := p.changes.write(cs)
			if !errors.Is(errs[0], store.ErrConflict) || errs[1] != nil || errs[2] != nil {
				t.Fatalf("outcomes %v; want a conflict, then two written", errs)
			}
			if cs[2].out.Status != store.ChallengeApproved || len(settled.Stored) != 1 {
				t.Errorf("the approval: %+v, events %+v", cs[2].out, settled.Stored)
			}
			if _, err := st.GetChallenge(ctx, "chl_2"); err != nil {
				t.Errorf("the fresh challenge: %v", err)
			}
			if got := eventsOf(t, st, "chl_1"); len(got) != 0 {
				t.Errorf("the duplicate wrote events %v", got)
			}
			if got, want := eventsOf(t, st, "chl_0"), []string{"push.approved"}; !slices.Equal(got, want) {
				t.Errorf("events of chl_0 = %v, want %v", got, want)
			}
		})
	}
}

// A change alone in its batch goes through the store's batch too, and
// keeps the outcome CreateChallenge or UpdateChallenge would give it.
func TestSharedStoreLoneChangeKeepsItsOutcome(t *testing.T) {
	for name, open := range sharedBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, d := open(t)
			p := newSharedStore(st)
			defer p.changes.close()
			if err := st.CreateChallenge(ctx, sharedChallenge("chl_1", d)); err != nil {
				t.Fatal(err)
			}
			dup := sharedChallenge("chl_1", d)
			sent := sentAudit(dup)
			if err := p.CreateChallenge(ctx, dup, sent); !errors.Is(err, store.ErrConflict) || sent.Stored != nil {
				t.Errorf("a duplicate alone = %v, events %+v; want ErrConflict and none", err, sent.Stored)
			}
			if _, err := p.UpdateChallenge(ctx, "chl_9", approve, outcomeAudit()); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a missing challenge alone = %v, want ErrNotFound", err)
			}
			refused := outcomeAudit()
			if _, err := p.UpdateChallenge(ctx, "chl_1", func(*store.Challenge) error { return errBadNonce }, refused); !errors.Is(err, errBadNonce) || refused.Stored != nil {
				t.Errorf("a refused change alone = %v, events %+v; want errBadNonce and none", err, refused.Stored)
			}
			settled := outcomeAudit()
			c, err := p.UpdateChallenge(ctx, "chl_1", approve, settled)
			if err != nil || c.Status != store.ChallengeApproved || len(settled.Stored) != 1 {
				t.Fatalf("an approval alone = %+v, %v, events %+v", c, err, settled.Stored)
			}
			if got, want := eventsOf(t, st, "chl_1"), []string{"push.approved"}; !slices.Equal(got, want) {
				t.Errorf("events = %v, want %v", got, want)
			}
			if b := p.changes.batches.Load(); b != 4 {
				t.Errorf("%d transactions of the group commit, want 4 (each change its own)", b)
			}
		})
	}
}

// Fifty connects at once with one device token, between two nodes that
// group the one-time keys they record: one is let in, the rest are
// replays; and fifty different tokens are each let in once.
func TestSharedNodesLetADeviceTokenInOnce(t *testing.T) {
	for name, open := range sharedBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			st, _ := open(t)
			nodes := []*sharedStore{newSharedStore(st), newSharedStore(st)}
			defer nodes[0].nonces.close()
			defer nodes[1].nonces.close()
			defer nodes[0].changes.close()
			defer nodes[1].changes.close()
			now := time.Now()
			var in, replays atomic.Int32
			var wg sync.WaitGroup
			for i := range 100 {
				wg.Go(func() {
					key := "jti-same"
					if i%2 == 1 {
						key = fmt.Sprintf("jti-%d", i)
					}
					err := nodes[i%2].UseNonce(ctx, key, now, now.Add(time.Minute))
					switch {
					case err == nil:
						in.Add(1)
					case errors.Is(err, store.ErrReplay):
						replays.Add(1)
					default:
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if in.Load() != 51 || replays.Load() != 49 {
				t.Fatalf("%d let in, %d replays; want 51 (one of the same token, fifty different) and 49", in.Load(), replays.Load())
			}
		})
	}
}

// BenchmarkSharedNonceStorm records one-time keys from many connects at
// once (a node's devices reconnecting to the others) on PostgreSQL, each
// alone against grouped as a shared node does.
func BenchmarkSharedNonceStorm(b *testing.B) {
	st, err := postgres.Open(context.Background(), pgtest.Schema(b, "assent_shared"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := newSharedStore(st)
	defer p.nonces.close()
	defer p.changes.close()
	var n atomic.Int64
	for _, tc := range []struct {
		name string
		use  func(ctx context.Context, key string, now, expires time.Time) error
	}{{"alone", st.UseNonce}, {"grouped", p.UseNonce}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					now := time.Now()
					if err := tc.use(ctx, fmt.Sprintf("jti-%d", n.Add(1)), now, now.Add(time.Minute)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

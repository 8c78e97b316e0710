package storetest

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// Bench runs the same benchmarks against a backend: the writes and reads
// of the push path. open returns a fresh, empty store.
func Bench(b *testing.B, open func(b *testing.B) store.Store) {
	setup := func(b *testing.B) (store.Store, store.Device) {
		s := open(b)
		b.Cleanup(func() { s.Close() })
		ctx := context.Background()
		if err := s.CreateUser(ctx, store.User{ID: "u1", Login: "alice"}); err != nil {
			b.Fatal(err)
		}
		if err := s.CreateEnrollToken(ctx, store.EnrollToken{Hash: "h1", UserID: "u1", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		d, err := s.CompleteEnrollment(ctx, "h1", time.Now(), store.Device{ID: "d1"})
		if err != nil {
			b.Fatal(err)
		}
		return s, d
	}
	ctx := context.Background()
	b.Run("CreateChallenge", func(b *testing.B) {
		s, d := setup(b)
		i := 0
		for b.Loop() {
			i++
			if err := s.CreateChallenge(ctx, benchChallenge(fmt.Sprint("c", i), d)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("GetChallengeParallel", func(b *testing.B) {
		s, d := setup(b)
		if err := s.CreateChallenge(ctx, benchChallenge("c1", d)); err != nil {
			b.Fatal(err)
		}
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.GetChallenge(ctx, "c1"); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("UpdateChallenge", func(b *testing.B) {
		s, d := setup(b)
		if err := s.CreateChallenge(ctx, benchChallenge("c1", d)); err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.UpdateChallenge(ctx, "c1", func(c *store.Challenge) error { c.Correct++; return nil }); err != nil {
				b.Fatal(err)
			}
		}
	})
	// GOMAXPROCS goroutines answering challenges of their own at once.
	b.Run("UpdateChallengeParallel", func(b *testing.B) {
		s, d := setup(b)
		const n = 64
		for i := range n {
			if err := s.CreateChallenge(ctx, benchChallenge(fmt.Sprint("c", i), d)); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				id := fmt.Sprint("c", next.Add(1)%n)
				if _, err := s.UpdateChallenge(ctx, id, func(c *store.Challenge) error { c.Correct++; return nil }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("AppendAuditParallel", func(b *testing.B) {
		s, _ := setup(b)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, err := s.AppendAudit(ctx, store.AuditEvent{Time: time.Now(), Type: "push.approved", UserID: "u1",
					Detail: map[string]string{"app": "wiki"}})
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	// The sole node's group commit of settled pushes: 64 challenges, each
	// with its push.sent and its outcome, in one transaction.
	b.Run("CreateChallenges64", func(b *testing.B) {
		s, d := setup(b)
		cb, ok := s.(store.ChallengeBatcher)
		if !ok {
			b.Skip("the store does not batch challenges")
		}
		i := 0
		ws := make([]store.ChallengeWrite, 64)
		for b.Loop() {
			for j := range ws {
				i++
				c := benchChallenge(fmt.Sprint("c", i), d)
				c.Status, c.AnsweredAt = store.ChallengeApproved, c.CreatedAt.Add(time.Second)
				ws[j] = store.ChallengeWrite{Challenge: c, Audit: SettledPushAudits(c)}
			}
			if err := cb.CreateChallenges(ctx, ws); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ws)*1000), "µs/challenge")
	})
	// A batch of 16 events, as the server's group commit writes them.
	b.Run("AppendAudits16", func(b *testing.B) {
		s, _ := setup(b)
		batch := make([]store.AuditEvent, 16)
		for i := range batch {
			batch[i] = store.AuditEvent{Time: time.Now(), Type: "push.approved", UserID: "u1", Detail: map[string]string{"app": "wiki"}}
		}
		for b.Loop() {
			if err := s.AppendAudits(ctx, batch); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func benchChallenge(id string, d store.Device) store.Challenge {
	now := time.Now()
	return store.Challenge{
		ID: id, TxID: "tx-" + id, DeviceID: d.ID, UserID: d.UserID, Kind: "signin",
		Nonce: "n-" + id, Numbers: []int{12, 47, 85}, Correct: 47,
		Context: []byte(`{"app":"wiki","ip":"192.0.2.7","ua":"Firefox/140"}`),
		JWS:     strings.Repeat("x", 600), Status: store.ChallengePending,
		CreatedAt: now, ExpiresAt: now.Add(2 * time.Minute),
	}
}

// SettledPushAudits are the events a push round trip commits: push.sent
// when it is created and its outcome when it is settled.
func SettledPushAudits(c store.Challenge) []*store.Audit {
	sent := &store.Audit{Events: []store.AuditEvent{{Time: c.CreatedAt, Type: "push.sent", UserID: c.UserID, DeviceID: c.DeviceID,
		TxID: c.TxID, ChallengeID: c.ID, ClientIP: "192.0.2.7", Detail: map[string]string{"kind": c.Kind, "risk": "low"}}}}
	outcome := &store.Audit{For: func(c store.Challenge) []store.AuditEvent {
		return []store.AuditEvent{{Time: c.AnsweredAt, Type: "push." + c.Status, UserID: c.UserID, DeviceID: c.DeviceID,
			TxID: c.TxID, ChallengeID: c.ID, ClientIP: "192.0.2.7", Detail: map[string]string{"kind": c.Kind}}}
	}}
	return []*store.Audit{sent, outcome}
}

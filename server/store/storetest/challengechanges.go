package storetest

import (
	"slices"
	"testing"

	"github.com/seed-3a5b824e/assent/server/store"
)

// changer is s as a store.ChallengeChanger; both backends are one.
func changer(t *testing.T, s store.Store) store.ChallengeChanger {
	t.Helper()
	c, ok := s.(store.ChallengeChanger)
	if !ok {
		t.Fatalf("%T cannot change several challenges in one transaction (store.ChallengeChanger)", s)
	}
	return c
}

func outcomeAudit() *store.Audit {
	return &store.Audit{For: func(c store.Challenge) []store.AuditEvent {
		return []store.AuditEvent{{Time: c.AnsweredAt, Type: "push." + c.Status, ChallengeID: c.ID}}
	}}
}

func logTypes(t *testing.T, s store.Store) []string {
	t.Helper()
	got, err := s.ListAudit(t.Context(), store.AuditFilter{})
	must(t, "ListAudit", err)
	var types []string
	for _, e := range got {
		types = append(types, e.Type+" "+e.ChallengeID)
	}
	return types
}

var challengeChangeTests = []test{
	{name: "EachChangeGetsItsOwnOutcome", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		must(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("c0", d1, "tx0", base)))
		c1, c2 := newChallenge("c1", d1, "tx1", base), newChallenge("c2", d1, "tx2", base)
		sent := &store.Audit{Events: []store.AuditEvent{{Time: base, Type: "push.sent", ChallengeID: "c1"}}}
		settled, again, missing := outcomeAudit(), outcomeAudit(), outcomeAudit()
		called := false
		out, errs, err := changer(t, s).ChangeChallenges(ctx, []store.ChallengeChange{
			{New: &c1, ID: c1.ID, Audit: []*store.Audit{sent}},
			{ID: "c0", Fn: approve, Audit: []*store.Audit{settled}},
			{ID: "c0", Fn: approve, Audit: []*store.Audit{again}},
			{ID: "nope", Fn: func(*store.Challenge) error { called = true; return nil }, Audit: []*store.Audit{missing}},
			{New: &c2, ID: c2.ID},
		})
		must(t, "ChangeChallenges", err)
		for i, want := range []error{nil, nil, errNotPending, store.ErrNotFound, nil} {
			if want == nil {
				must(t, "change "+string(rune('0'+i)), errs[i])
			} else {
				wantErr(t, "change "+string(rune('0'+i)), errs[i], want)
			}
		}
		if called {
			t.Error("the update of a missing challenge ran its fn")
		}
		if out[1].Status != store.ChallengeApproved || out[1].ID != "c0" {
			t.Errorf("the approval's outcome = %+v, want c0 approved", out[1])
		}
		got, err := s.GetChallenge(ctx, "c0")
		must(t, "GetChallenge c0", err)
		same(t, "c0 as returned", got, out[1])
		for _, c := range []store.Challenge{c1, c2} {
			got, err := s.GetChallenge(ctx, c.ID)
			must(t, "GetChallenge "+c.ID, err)
			same(t, "created "+c.ID, got, c)
		}
		if again.Stored != nil || missing.Stored != nil {
			t.Errorf("a refused change kept events: %+v, %+v", again.Stored, missing.Stored)
		}
		if want := []string{"push.sent c1", "push.approved c0"}; !slices.Equal(logTypes(t, s), want) {
			t.Fatalf("audit log = %q, want %q", logTypes(t, s), want)
		}
		if len(sent.Stored) != 1 || len(settled.Stored) != 1 || settled.Stored[0].PrevHash != sent.Stored[0].Hash {
			t.Errorf("events kept as stored: %+v then %+v, want push.approved chained after push.sent", sent.Stored, settled.Stored)
		}
		check, err := store.VerifyAudit(ctx, s)
		must(t, "VerifyAudit", err)
		if check.Broken != nil || check.Checked != 2 {
			t.Errorf("VerifyAudit = %+v, want 2 events whole", check)
		}
	}},
	{name: "UpdatesOfOneIDRunInTurn", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		must(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("c0", d1, "tx0", base)))
		var seen string
		out, errs, err := changer(t, s).ChangeChallenges(ctx, []store.ChallengeChange{
			{ID: "c0", Fn: func(c *store.Challenge) error { c.Reason = "first"; return nil }},
			{ID: "c0", Fn: func(c *store.Challenge) error { seen = c.Reason; return approve(c) }, Audit: []*store.Audit{outcomeAudit()}},
		})
		must(t, "ChangeChallenges", err)
		must(t, "first", errs[0])
		must(t, "second", errs[1])
		if seen != "first" {
			t.Errorf("the second update read reason %q, want the first's %q", seen, "first")
		}
		if out[0].Reason != "first" || out[1].Status != store.ChallengeApproved {
			t.Errorf("outcomes %+v, %+v", out[0], out[1])
		}
	}},
	{name: "AFailedBatchWritesNothing", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		must(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("c0", d1, "tx0", base)))
		must(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("c1", d1, "tx1", base)))
		dup := newChallenge("c1", d1, "tx9", base)
		settled := outcomeAudit()
		sent := &store.Audit{Events: []store.AuditEvent{{Time: base, Type: "push.sent", ChallengeID: "c1"}}}
		_, _, err := changer(t, s).ChangeChallenges(ctx, []store.ChallengeChange{
			{ID: "c0", Fn: approve, Audit: []*store.Audit{settled}},
			{New: &dup, ID: dup.ID, Audit: []*store.Audit{sent}},
		})
		wantErr(t, "a batch creating a challenge already stored", err, store.ErrConflict)
		got, err := s.GetChallenge(ctx, "c0")
		must(t, "GetChallenge c0", err)
		if got.Status != store.ChallengePending {
			t.Errorf("c0 is %s after a batch that failed, want pending", got.Status)
		}
		if settled.Stored != nil || sent.Stored != nil {
			t.Errorf("a failed batch kept events: %+v, %+v", settled.Stored, sent.Stored)
		}
		if types := logTypes(t, s); len(types) != 0 {
			t.Errorf("audit log after a failed batch = %q, want empty", types)
		}
	}},
	{name: "ConcurrentBatchesApproveEachOnce", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		must(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("c1", d1, "tx1", base)))
		must(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("c2", d1, "tx2", base)))
		// Half the batches name the two in one order, half in the other.
		first, second := make([]error, concurrency), make([]error, concurrency)
		race(func(i int) error {
			ids := []string{"c1", "c2"}
			if i%2 == 1 {
				ids = []string{"c2", "c1"}
			}
			_, errs, err := changer(t, s).ChangeChallenges(ctx, []store.ChallengeChange{
				{ID: ids[0], Fn: approve, Audit: []*store.Audit{outcomeAudit()}},
				{ID: ids[1], Fn: approve, Audit: []*store.Audit{outcomeAudit()}},
			})
			if err != nil {
				first[i], second[i] = err, err
				return err
			}
			if i%2 == 1 {
				errs[0], errs[1] = errs[1], errs[0]
			}
			first[i], second[i] = errs[0], errs[1]
			return nil
		})
		oneWinner(t, first, errNotPending)
		oneWinner(t, second, errNotPending)
		types := logTypes(t, s)
		slices.Sort(types)
		if want := []string{"push.approved c1", "push.approved c2"}; !slices.Equal(types, want) {
			t.Errorf("audit log after racing batches = %q, want %q", types, want)
		}
	}},
}

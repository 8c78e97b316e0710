package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

var errNotPending = errors.New("storetest: challenge is not pending")

// approve is the update the hub makes when a device answers.
func approve(c *store.Challenge) error {
	if c.Status != store.ChallengePending {
		return errNotPending
	}
	c.Status = store.ChallengeApproved
	c.Reason = "approved on device"
	c.UV = true
	c.AnsweredAt = base.Add(30 * time.Second)
	return nil
}

// challengeWorld is two users with a device each, u1 with a second one.
func challengeWorld(t *testing.T, s store.Store) (d1, d2, d3 store.Device) {
	t.Helper()
	createUser(t, s, "u1")
	createUser(t, s, "u2")
	d1 = enroll(t, s, "u1", newDevice("d1", base))
	d2 = enroll(t, s, "u1", newDevice("d2", base))
	d3 = enroll(t, s, "u2", newDevice("d3", base))
	return d1, d2, d3
}

var challengeTests = []test{
	{name: "ChallengeFieldsRoundTrip", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		c := newChallenge("c1", d1, "tx1", base)
		c.Status = store.ChallengeDenied
		c.Reason = "denied on device"
		c.UV = true
		c.AnsweredAt = base.Add(time.Second)
		must(t, "CreateChallenge", s.CreateChallenge(ctx, c))
		got, err := s.GetChallenge(ctx, "c1")
		must(t, "GetChallenge", err)
		same(t, "GetChallenge", got, c)
	}},
	{name: "ChallengeWithoutNumbersOrContextRoundTrips", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		for i, c := range []store.Challenge{
			{ID: "c-nil", DeviceID: d1.ID, UserID: d1.UserID, Status: store.ChallengePending},
			{ID: "c-empty", DeviceID: d1.ID, UserID: d1.UserID, Status: store.ChallengePending, Numbers: []int{}, Context: []byte{}},
		} {
			must(t, fmt.Sprint("CreateChallenge ", i), s.CreateChallenge(ctx, c))
			got, err := s.GetChallenge(ctx, c.ID)
			must(t, "GetChallenge", err)
			same(t, "GetChallenge "+c.ID, got, c)
		}
	}},
	{name: "CreateChallengeWithTakenIDIsConflict", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, d2, _ := challengeWorld(t, s)
		c := newChallenge("c1", d1, "tx1", base)
		must(t, "CreateChallenge", s.CreateChallenge(ctx, c))
		wantErr(t, "CreateChallenge again", s.CreateChallenge(ctx, newChallenge("c1", d2, "tx2", base)), store.ErrConflict)
		got, err := s.GetChallenge(ctx, "c1")
		must(t, "GetChallenge", err)
		same(t, "GetChallenge after conflict", got, c)
	}},
	{name: "MissingChallengeIsNotFound", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, err := s.GetChallenge(ctx, "nope")
		wantErr(t, "GetChallenge", err, store.ErrNotFound)
		called := false
		_, err = s.UpdateChallenge(ctx, "nope", func(*store.Challenge) error { called = true; return nil })
		wantErr(t, "UpdateChallenge", err, store.ErrNotFound)
		if called {
			t.Error("UpdateChallenge called fn for a missing challenge")
		}
	}},
	{name: "ListChallengesMatchesEachFilterFieldOldestFirst", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, d2, d3 := challengeWorld(t, s)
		// Created out of order; c4 and c5 in the same millisecond keep the
		// order they were created in.
		cs := []store.Challenge{
			newChallenge("c3", d1, "tx2", base.Add(3*time.Minute)),
			newChallenge("c1", d1, "tx1", base.Add(1*time.Minute)),
			newChallenge("c2", d2, "tx1", base.Add(2*time.Minute)),
			newChallenge("c4", d3, "tx3", base.Add(4*time.Minute)),
			newChallenge("c5", d1, "tx3", base.Add(4*time.Minute)),
		}
		cs[1].Status = store.ChallengeApproved
		cs[3].Status = store.ChallengeDenied
		for _, c := range cs {
			must(t, "CreateChallenge "+c.ID, s.CreateChallenge(ctx, c))
		}
		for _, tc := range []struct {
			name   string
			filter store.ChallengeFilter
			want   []string
		}{
			{"Empty", store.ChallengeFilter{}, []string{"c1", "c2", "c3", "c4", "c5"}},
			{"DeviceID", store.ChallengeFilter{DeviceID: "d1"}, []string{"c1", "c3", "c5"}},
			{"UserID", store.ChallengeFilter{UserID: "u2"}, []string{"c4"}},
			{"TxID", store.ChallengeFilter{TxID: "tx1"}, []string{"c1", "c2"}},
			{"Status", store.ChallengeFilter{Status: store.ChallengePending}, []string{"c2", "c3", "c5"}},
			{"SinceIsInclusive", store.ChallengeFilter{Since: base.Add(3 * time.Minute)}, []string{"c3", "c4", "c5"}},
			{"DeviceAndStatus", store.ChallengeFilter{DeviceID: "d1", Status: store.ChallengePending}, []string{"c3", "c5"}},
			{"UserAndSince", store.ChallengeFilter{UserID: "u1", Since: base.Add(2 * time.Minute)}, []string{"c2", "c3", "c5"}},
			{"TxAndUser", store.ChallengeFilter{TxID: "tx3", UserID: "u1"}, []string{"c5"}},
			{"NoMatch", store.ChallengeFilter{DeviceID: "d1", TxID: "tx1", Status: store.ChallengeDenied}, nil},
			{"UnknownDevice", store.ChallengeFilter{DeviceID: "nope"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListChallenges(ctx, tc.filter)
				must(t, "ListChallenges", err)
				var ids []string
				for _, c := range got {
					ids = append(ids, c.ID)
					i := slices.IndexFunc(cs, func(w store.Challenge) bool { return w.ID == c.ID })
					same(t, "ListChallenges "+c.ID, c, cs[i])
				}
				if !slices.Equal(ids, tc.want) {
					t.Errorf("ListChallenges(%+v) = %q, want %q", tc.filter, ids, tc.want)
				}
			})
		}
	}},
	{name: "UpdateChallengeAppliesFn", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		c := newChallenge("c1", d1, "tx1", base)
		must(t, "CreateChallenge", s.CreateChallenge(ctx, c))
		got, err := s.UpdateChallenge(ctx, "c1", approve)
		must(t, "UpdateChallenge", err)
		want := c
		must(t, "approve", approve(&want))
		same(t, "UpdateChallenge result", got, want)
		stored, err := s.GetChallenge(ctx, "c1")
		must(t, "GetChallenge", err)
		same(t, "GetChallenge after UpdateChallenge", stored, want)
	}},
	{name: "UpdateChallengeFnErrorWritesNothingAndIsReturned", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		c := newChallenge("c1", d1, "tx1", base)
		c.Status = store.ChallengeDenied
		must(t, "CreateChallenge", s.CreateChallenge(ctx, c))
		_, err := s.UpdateChallenge(ctx, "c1", func(c *store.Challenge) error {
			c.Numbers[0] = 99
			c.Reason = "changed"
			return approve(c) // not pending: fails
		})
		wantErr(t, "UpdateChallenge", err, errNotPending)
		got, err := s.GetChallenge(ctx, "c1")
		must(t, "GetChallenge", err)
		same(t, "GetChallenge after failed update", got, c)
	}},
	{name: "ChallengeAuditCommitsWithTheChange", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		sent := &store.Audit{Events: []store.AuditEvent{{Time: base, Type: "push.sent", UserID: d1.UserID, DeviceID: d1.ID, ChallengeID: "c1"}}}
		must(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("c1", d1, "tx1", base), sent))
		if len(sent.Stored) != 1 || sent.Stored[0].Seq == 0 || sent.Stored[0].Hash == "" {
			t.Fatalf("Stored after CreateChallenge = %+v, want the event with its seq and hash", sent.Stored)
		}
		// A refused change writes neither the change nor its event.
		refused := &store.Audit{For: func(c store.Challenge) []store.AuditEvent {
			return []store.AuditEvent{{Time: base, Type: "push." + c.Status, ChallengeID: c.ID}}
		}}
		_, err := s.UpdateChallenge(ctx, "c1", func(*store.Challenge) error { return errNotPending }, refused)
		wantErr(t, "UpdateChallenge refused", err, errNotPending)
		if refused.Stored != nil {
			t.Errorf("Stored after a refused update = %+v, want none", refused.Stored)
		}
		// A duplicate challenge writes no event either.
		dup := &store.Audit{Events: []store.AuditEvent{{Time: base, Type: "push.sent", ChallengeID: "c1"}}}
		wantErr(t, "CreateChallenge again", s.CreateChallenge(ctx, newChallenge("c1", d1, "tx1", base), dup), store.ErrConflict)
		settled := &store.Audit{For: func(c store.Challenge) []store.AuditEvent {
			return []store.AuditEvent{{Time: c.AnsweredAt, Type: "push." + c.Status, ChallengeID: c.ID, Detail: map[string]string{"reason": c.Reason}}}
		}}
		_, err = s.UpdateChallenge(ctx, "c1", approve, settled)
		must(t, "UpdateChallenge", err)
		if len(settled.Stored) != 1 || settled.Stored[0].Type != "push.approved" || settled.Stored[0].PrevHash != sent.Stored[0].Hash {
			t.Fatalf("Stored after UpdateChallenge = %+v, want push.approved chained after push.sent", settled.Stored)
		}
		got, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, "ListAudit", err)
		var types []string
		for _, e := range got {
			types = append(types, e.Type)
		}
		if want := []string{"push.sent", "push.approved"}; !slices.Equal(types, want) {
			t.Fatalf("audit log = %q, want %q", types, want)
		}
		for i, want := range append(sent.Stored, settled.Stored...) {
			same(t, "stored event "+want.Type, got[i], want)
		}
		check, err := store.VerifyAudit(ctx, s)
		must(t, "VerifyAudit", err)
		if check.Broken != nil {
			t.Errorf("VerifyAudit found a broken chain: %+v", check)
		}
	}},
	{name: "ConcurrentAuditedSettlementsWriteOneEvent", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		must(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("c1", d1, "tx1", base)))
		errs := race(func(int) error {
			a := &store.Audit{For: func(c store.Challenge) []store.AuditEvent {
				return []store.AuditEvent{{Time: c.AnsweredAt, Type: "push." + c.Status, ChallengeID: c.ID}}
			}}
			_, err := s.UpdateChallenge(ctx, "c1", approve, a)
			return err
		})
		oneWinner(t, errs, errNotPending)
		got, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, "ListAudit", err)
		if len(got) != 1 || got[0].Type != "push.approved" {
			t.Errorf("audit log after racing settlements = %+v, want one push.approved", got)
		}
	}},
	{name: "ConcurrentUpdateChallengeApprovesOnce", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		must(t, "CreateChallenge", s.CreateChallenge(ctx, newChallenge("c1", d1, "tx1", base)))
		errs := race(func(int) error {
			_, err := s.UpdateChallenge(ctx, "c1", approve)
			return err
		})
		oneWinner(t, errs, errNotPending)
		got, err := s.GetChallenge(ctx, "c1")
		must(t, "GetChallenge", err)
		if got.Status != store.ChallengeApproved {
			t.Errorf("Status = %q, want approved", got.Status)
		}
	}},
}

package storetest

import (
	"bytes"
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

var auditTests = []test{
	{name: "AppendAuditAssignsIncreasingSeq", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		var last int64
		for i := range 5 {
			e, err := s.AppendAudit(ctx, store.AuditEvent{Time: base, Type: "login"})
			must(t, "AppendAudit", err)
			if i > 0 && e.Seq <= last {
				t.Errorf("event %d: Seq %d after %d, want it larger", i, e.Seq, last)
			}
			last = e.Seq
		}
	}},
	{name: "AuditEventFieldsAndDetailRoundTrip", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		in := []store.AuditEvent{
			{
				Time: base, Type: "push.approved", UserID: "u1", DeviceID: "d1", TxID: "tx1",
				ChallengeID: "c1", ClientIP: "192.0.2.7",
				Detail: map[string]string{"app": "wiki", "uv": "true", "note": "ünïcode ✓"},
			},
			{Type: "server.start"},
			{Type: "server.stop", Detail: map[string]string{}},
		}
		var appended []store.AuditEvent
		for _, e := range in {
			got, err := s.AppendAudit(ctx, e)
			must(t, "AppendAudit", err)
			want := e
			want.Seq, want.PrevHash, want.Hash = got.Seq, got.PrevHash, got.Hash
			same(t, "AppendAudit result", got, want)
			appended = append(appended, want)
		}
		listed, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, "ListAudit", err)
		if len(listed) != len(appended) {
			t.Fatalf("ListAudit = %d events, want %d", len(listed), len(appended))
		}
		for i := range listed {
			same(t, fmt.Sprint("ListAudit event ", i), listed[i], appended[i])
		}
	}},
	{name: "AppendAuditsStoresABatchInOrder", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		var batch []store.AuditEvent
		for i := range 5 {
			batch = append(batch, store.AuditEvent{Time: base, Type: fmt.Sprintf("batch.%d", i), UserID: "u1", Detail: map[string]string{"i": fmt.Sprint(i)}})
		}
		must(t, "AppendAudits", s.AppendAudits(ctx, batch))
		must(t, "AppendAudits empty", s.AppendAudits(ctx, nil))
		got, err := s.ListAudit(ctx, store.AuditFilter{UserID: "u1"})
		must(t, "ListAudit", err)
		if len(got) != 5 {
			t.Fatalf("ListAudit = %d events, want 5", len(got))
		}
		for i, e := range got {
			if e.Type != batch[i].Type || e.Detail["i"] != fmt.Sprint(i) || (i > 0 && e.Seq <= got[i-1].Seq) {
				t.Fatalf("event %d = %+v", i, e)
			}
		}
	}},
	{name: "ListAuditFiltersOldestFirst", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seq := map[string]int64{}
		for i, e := range []store.AuditEvent{
			{ChallengeID: "e1", UserID: "u1", Type: "login"},
			{ChallengeID: "e2", UserID: "u2", Type: "login"},
			{ChallengeID: "e3", UserID: "u1", Type: "push.sent"},
			{ChallengeID: "e4", UserID: "u1", Type: "login"},
			{ChallengeID: "e5", Type: "server.start"},
		} {
			e.Time = base.Add(time.Duration(i) * time.Minute)
			got, err := s.AppendAudit(ctx, e)
			must(t, "AppendAudit", err)
			seq[e.ChallengeID] = got.Seq
		}
		listAuditCases(t, s, []auditCase{
			{"Empty", store.AuditFilter{}, []string{"e1", "e2", "e3", "e4", "e5"}},
			{"UserID", store.AuditFilter{UserID: "u1"}, []string{"e1", "e3", "e4"}},
			{"Type", store.AuditFilter{Types: []string{"login"}}, []string{"e1", "e2", "e4"}},
			{"Types", store.AuditFilter{Types: []string{"push.sent", "server.start"}}, []string{"e3", "e5"}},
			{"Since", store.AuditFilter{Since: base.Add(3 * time.Minute)}, []string{"e4", "e5"}},
			{"BeforeSeq", store.AuditFilter{BeforeSeq: seq["e3"]}, []string{"e1", "e2"}},
			{"Newest", store.AuditFilter{Newest: true}, []string{"e5", "e4", "e3", "e2", "e1"}},
			{"NewestLimit", store.AuditFilter{Newest: true, Limit: 2}, []string{"e5", "e4"}},
			{"NewestPage", store.AuditFilter{Newest: true, BeforeSeq: seq["e4"], Limit: 2}, []string{"e3", "e2"}},
			{"UserSinceTypes", store.AuditFilter{UserID: "u1", Since: base.Add(time.Minute), Types: []string{"login"}}, []string{"e4"}},
			{"AfterSeq", store.AuditFilter{AfterSeq: seq["e2"]}, []string{"e3", "e4", "e5"}},
			{"AfterLast", store.AuditFilter{AfterSeq: seq["e5"]}, nil},
			{"Limit", store.AuditFilter{Limit: 2}, []string{"e1", "e2"}},
			{"LimitAboveCount", store.AuditFilter{Limit: 50}, []string{"e1", "e2", "e3", "e4", "e5"}},
			{"UserAndLimit", store.AuditFilter{UserID: "u1", Limit: 2}, []string{"e1", "e3"}},
			{"TypeAndAfterSeq", store.AuditFilter{Types: []string{"login"}, AfterSeq: seq["e1"]}, []string{"e2", "e4"}},
			{"AllFields", store.AuditFilter{UserID: "u1", Types: []string{"login"}, AfterSeq: seq["e1"], Limit: 1}, []string{"e4"}},
			{"UnknownUser", store.AuditFilter{UserID: "nobody"}, nil},
		})
	}},
	{name: "ListAuditByUserReadsEveryTypeIndexedOrNot", run: func(t *testing.T, s store.Store) {
		// The backends index a user's events of store.UserAuditTypes only
		// (push.sent and push.approved, two for every push, stay out):
		// a filter by user gives the same events whether its types are
		// indexed, some are, or none.
		ctx := t.Context()
		seq := map[string]int64{}
		for i, e := range []store.AuditEvent{
			{ChallengeID: "s1", UserID: "u1", Type: "signin.success"},
			{ChallengeID: "p1", UserID: "u1", Type: "push.sent"},
			{ChallengeID: "a1", UserID: "u1", Type: "push.approved"},
			{ChallengeID: "s2", UserID: "u2", Type: "signin.success"},
			{ChallengeID: "d1", UserID: "u1", Type: "push.denied"},
			{ChallengeID: "r1", UserID: "u1", Type: "push.reported"},
			{ChallengeID: "s3", UserID: "u1", Type: "signin.success"},
			{ChallengeID: "f2", UserID: "u2", Type: "signin.password_failed"},
		} {
			e.Time = base.Add(time.Duration(i) * time.Minute)
			got, err := s.AppendAudit(ctx, e)
			must(t, "AppendAudit", err)
			seq[e.ChallengeID] = got.Seq
		}
		listAuditCases(t, s, []auditCase{
			{"Indexed", store.AuditFilter{UserID: "u1", Types: []string{"signin.success"}}, []string{"s1", "s3"}},
			{"IndexedNewestLimit", store.AuditFilter{UserID: "u1", Types: []string{"signin.success"}, Newest: true, Limit: 1}, []string{"s3"}},
			{"IndexedSince", store.AuditFilter{UserID: "u1", Types: []string{"signin.success", "push.denied"}, Since: base.Add(2 * time.Minute)}, []string{"d1", "s3"}},
			{"IndexedOtherUser", store.AuditFilter{UserID: "u2", Types: []string{"signin.success", "signin.password_failed"}, Newest: true}, []string{"f2", "s2"}},
			{"IndexedAfterSeq", store.AuditFilter{UserID: "u1", Types: []string{"push.reported", "signin.success"}, AfterSeq: seq["d1"]}, []string{"r1", "s3"}},
			{"NotIndexed", store.AuditFilter{UserID: "u1", Types: []string{"push.sent", "push.approved"}}, []string{"p1", "a1"}},
			{"Mixed", store.AuditFilter{UserID: "u1", Types: []string{"push.approved", "signin.success"}, Newest: true}, []string{"s3", "a1", "s1"}},
			{"UserOnly", store.AuditFilter{UserID: "u1", Limit: 3}, []string{"s1", "p1", "a1"}},
			{"IndexedUnknownUser", store.AuditFilter{UserID: "nobody", Types: []string{"signin.success"}}, nil},
		})
	}},
	{name: "ConcurrentAppendAuditAssignsDistinctSeqs", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		seqs := make([]int64, concurrency)
		errs := race(func(i int) error {
			e, err := s.AppendAudit(ctx, store.AuditEvent{Time: base, Type: "login", ChallengeID: fmt.Sprint(i)})
			seqs[i] = e.Seq
			return err
		})
		for i, err := range errs {
			must(t, fmt.Sprint("AppendAudit ", i), err)
		}
		slices.Sort(seqs)
		if len(slices.Compact(slices.Clone(seqs))) != concurrency {
			t.Errorf("Seqs %v are not distinct", seqs)
		}
		got, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, "ListAudit", err)
		var listed []int64
		for _, e := range got {
			listed = append(listed, e.Seq)
		}
		if !slices.Equal(listed, seqs) {
			t.Errorf("ListAudit seqs = %v, want %v", listed, seqs)
		}
	}},
}

// auditChainTests: the log is one hash chain in Seq order, whoever
// appends to it and however.
var auditChainTests = []test{
	{name: "AppendAuditChainsEachEventToTheOneBefore", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		start, err := s.AuditChainStart(ctx)
		must(t, "AuditChainStart", err)
		if start != 1 {
			t.Errorf("AuditChainStart of a new store = %d, want 1", start)
		}
		var appended []store.AuditEvent
		for i, e := range []store.AuditEvent{
			{Time: base, Type: "push.approved", UserID: "u1", DeviceID: "d1", TxID: "tx1", ChallengeID: "c1",
				ClientIP: "192.0.2.7", Detail: map[string]string{"b": "2", "a": "1", "ünï": "✓"}},
			{Type: "server.start"},
			// What the caller sets is not what the store chains.
			{Time: base.Add(time.Second), Type: "login", PrevHash: "forged", Hash: "forged"},
		} {
			got, err := s.AppendAudit(ctx, e)
			must(t, fmt.Sprint("AppendAudit ", i), err)
			prev := ""
			if i > 0 {
				prev = appended[i-1].Hash
			}
			if got.PrevHash != prev || len(got.Hash) != 64 || got.Hash != store.AuditHash(got, prev) {
				t.Fatalf("event %d: PrevHash %q Hash %q, want PrevHash %q and the hash of the event as stored", i, got.PrevHash, got.Hash, prev)
			}
			appended = append(appended, got)
		}
		listed, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, "ListAudit", err)
		if len(listed) != len(appended) {
			t.Fatalf("ListAudit = %d events, want %d", len(listed), len(appended))
		}
		for i := range listed {
			same(t, fmt.Sprint("ListAudit event ", i), listed[i], appended[i])
		}
		c, err := store.VerifyAudit(ctx, s)
		must(t, "VerifyAudit", err)
		if c.Broken != nil || c.Checked != 3 || c.Before != 0 || c.Last.Hash != appended[2].Hash {
			t.Errorf("VerifyAudit = %+v (%s), want 3 whole events ending in %s", c, c.Problem, appended[2].Hash)
		}
	}},
	{name: "AppendAuditsChainsABatchOntoTheLog", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		first, err := s.AppendAudit(ctx, store.AuditEvent{Time: base, Type: "first"})
		must(t, "AppendAudit", err)
		var batch []store.AuditEvent
		for i := range 5 {
			batch = append(batch, store.AuditEvent{Time: base, Type: fmt.Sprintf("batch.%d", i), Detail: map[string]string{"i": fmt.Sprint(i)}})
		}
		must(t, "AppendAudits", s.AppendAudits(ctx, batch))
		got, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, "ListAudit", err)
		if len(got) != 6 || got[1].PrevHash != first.Hash {
			t.Fatalf("ListAudit = %+v, want the batch after %s", got, first.Hash)
		}
		// AppendAudits sets the events given as they are stored.
		for i, e := range batch {
			same(t, fmt.Sprint("AppendAudits event ", i), e, got[i+1])
		}
		for i := 1; i < len(got); i++ {
			if got[i].PrevHash != got[i-1].Hash || got[i].Hash != store.AuditHash(got[i], got[i-1].Hash) {
				t.Errorf("event %d does not chain onto event %d: %+v", i, i-1, got[i])
			}
		}
	}},
	{name: "AuditChainHoldsForDetailThatIsNotUTF8", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		e, err := s.AppendAudit(ctx, store.AuditEvent{Time: base, Type: "login", Detail: map[string]string{"agent": "bad \xff\xfe byte"}})
		must(t, "AppendAudit", err)
		listed, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, "ListAudit", err)
		same(t, "ListAudit", listed[0], e)
		c, err := store.VerifyAudit(ctx, s)
		must(t, "VerifyAudit", err)
		if c.Broken != nil || c.Checked != 1 {
			t.Errorf("VerifyAudit = %+v: %s", c, c.Problem)
		}
	}},
	{name: "ConcurrentAppendsMakeOneChain", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		const each = 5
		errs := race(func(i int) error {
			for j := range each {
				if i%2 == 0 {
					if _, err := s.AppendAudit(ctx, store.AuditEvent{Time: base, Type: "single", ChallengeID: fmt.Sprint(i, ".", j)}); err != nil {
						return err
					}
					continue
				}
				if err := s.AppendAudits(ctx, []store.AuditEvent{
					{Time: base, Type: "batch", ChallengeID: fmt.Sprint(i, ".", j, "a")},
					{Time: base, Type: "batch", ChallengeID: fmt.Sprint(i, ".", j, "b")},
				}); err != nil {
					return err
				}
			}
			return nil
		})
		for i, err := range errs {
			must(t, fmt.Sprint("append ", i), err)
		}
		want := int64(concurrency/2*each + concurrency/2*each*2)
		c, err := store.VerifyAudit(ctx, s)
		must(t, "VerifyAudit", err)
		if c.Broken != nil || c.Checked != want {
			t.Errorf("VerifyAudit = checked %d, broken %+v (%s); want %d whole events", c.Checked, c.Broken, c.Problem, want)
		}
	}},
}

var nonceTests = []test{
	{name: "UseNonceTwiceIsReplay", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		exp := time.Now().Add(time.Hour)
		must(t, "UseNonce", s.UseNonce(ctx, "k1", time.Now(), exp))
		wantErr(t, "UseNonce again", s.UseNonce(ctx, "k1", time.Now(), exp), store.ErrReplay)
		wantErr(t, "UseNonce again, later expiry", s.UseNonce(ctx, "k1", time.Now(), exp.Add(time.Hour)), store.ErrReplay)
	}},
	{name: "UseNonceKeysAreIndependent", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		exp := time.Now().Add(time.Hour)
		must(t, "UseNonce k1", s.UseNonce(ctx, "k1", time.Now(), exp))
		must(t, "UseNonce k2", s.UseNonce(ctx, "k2", time.Now(), exp))
	}},
	{name: "UseNoncePastItsExpiryMayBeUsedAgain", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		// Recorded with an expiry already an hour gone: the next use is new.
		must(t, "UseNonce", s.UseNonce(ctx, "k1", time.Now(), time.Now().Add(-time.Hour)))
		must(t, "UseNonce after expiry", s.UseNonce(ctx, "k1", time.Now(), time.Now().Add(time.Hour)))
		wantErr(t, "UseNonce within the new expiry", s.UseNonce(ctx, "k1", time.Now(), time.Now().Add(time.Hour)), store.ErrReplay)
	}},
	{name: "UseNonceAtItsExactExpiryMayBeUsedAgain", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		at := base.Add(time.Hour)
		must(t, "UseNonce", s.UseNonce(ctx, "k1", base, at))
		wantErr(t, "UseNonce a millisecond before", s.UseNonce(ctx, "k1", at.Add(-time.Millisecond), at.Add(time.Hour)), store.ErrReplay)
		must(t, "UseNonce at the expiry", s.UseNonce(ctx, "k1", at, at.Add(time.Hour)))
	}},
	{name: "ConcurrentUseNonceSucceedsOnce", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		exp := time.Now().Add(time.Hour)
		oneWinner(t, race(func(int) error { return s.UseNonce(ctx, "k1", time.Now(), exp) }), store.ErrReplay)
	}},
}

var secretTests = []test{
	{name: "MissingSecretIsNotFound", run: func(t *testing.T, s store.Store) {
		_, err := s.GetSecret(t.Context(), "signing-key")
		wantErr(t, "GetSecret", err, store.ErrNotFound)
	}},
	{name: "PutSecretIfAbsentKeepsTheFirstValue", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		first := []byte{0, 1, 2, 0xff}
		got, err := s.PutSecretIfAbsent(ctx, "signing-key", first)
		must(t, "PutSecretIfAbsent", err)
		if !bytes.Equal(got, first) {
			t.Errorf("first PutSecretIfAbsent = %x, want %x", got, first)
		}
		got, err = s.PutSecretIfAbsent(ctx, "signing-key", []byte("second"))
		must(t, "PutSecretIfAbsent again", err)
		if !bytes.Equal(got, first) {
			t.Errorf("second PutSecretIfAbsent = %x, want the first value %x", got, first)
		}
		got, err = s.GetSecret(ctx, "signing-key")
		must(t, "GetSecret", err)
		if !bytes.Equal(got, first) {
			t.Errorf("GetSecret = %x, want %x", got, first)
		}
		other, err := s.PutSecretIfAbsent(ctx, "other", []byte("other"))
		must(t, "PutSecretIfAbsent other", err)
		if string(other) != "other" {
			t.Errorf("PutSecretIfAbsent(other) = %q", other)
		}
	}},
	{name: "ConcurrentPutSecretIfAbsentAllAgree", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		got := make([][]byte, concurrency)
		errs := race(func(i int) error {
			var err error
			got[i], err = s.PutSecretIfAbsent(ctx, "signing-key", fmt.Appendf(nil, "value-%d", i))
			return err
		})
		for i, err := range errs {
			must(t, fmt.Sprint("PutSecretIfAbsent ", i), err)
		}
		stored, err := s.GetSecret(ctx, "signing-key")
		must(t, "GetSecret", err)
		if !bytes.HasPrefix(stored, []byte("value-")) {
			t.Fatalf("stored secret %q is none of the values offered", stored)
		}
		for i, v := range got {
			if !bytes.Equal(v, stored) {
				t.Errorf("call %d got %q, stored is %q", i, v, stored)
			}
		}
	}},
}

var gcTests = []test{
	{name: "GarbageCollectExpiresPendingChallengesAtOrPastExpiryOnly", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		d1, _, _ := challengeWorld(t, s)
		now := base.Add(10 * time.Minute)
		past := newChallenge("c-past", d1, "tx1", base)
		past.ExpiresAt = base.Add(time.Minute)
		atNow := newChallenge("c-now", d1, "tx1", base)
		atNow.ExpiresAt = now
		future := newChallenge("c-future", d1, "tx1", base)
		future.ExpiresAt = now.Add(time.Millisecond)
		answered := newChallenge("c-answered", d1, "tx1", base)
		answered.ExpiresAt = base.Add(time.Minute)
		must(t, "approve", approve(&answered))
		for _, c := range []store.Challenge{past, atNow, future, answered} {
			must(t, "CreateChallenge "+c.ID, s.CreateChallenge(ctx, c))
		}

		res, err := s.GarbageCollect(ctx, now)
		must(t, "GarbageCollect", err)
		slices.SortFunc(res.Expired, func(a, b store.Challenge) int { return cmp.Compare(a.ID, b.ID) })
		var ids []string
		for _, c := range res.Expired {
			ids = append(ids, c.ID)
		}
		if want := []string{"c-now", "c-past"}; !slices.Equal(ids, want) {
			t.Fatalf("Expired = %q, want %q", ids, want)
		}
		for i, want := range []store.Challenge{atNow, past} {
			want.Status, want.Reason = store.ChallengeExpired, store.ExpiredReason
			same(t, "Expired "+want.ID, res.Expired[i], want)
			got, err := s.GetChallenge(ctx, want.ID)
			must(t, "GetChallenge", err)
			same(t, "GetChallenge "+want.ID, got, want)
		}
		for _, want := range []store.Challenge{future, answered} {
			got, err := s.GetChallenge(ctx, want.ID)
			must(t, "GetChallenge", err)
			same(t, "GetChallenge "+want.ID+" (untouched)", got, want)
		}

		// Each expiry's push.expired committed with it.
		var audited []string
		for _, e := range res.Audits {
			if e.Type != "push.expired" || e.Seq == 0 || e.Hash == "" || e.Time.Sub(now).Abs() >= time.Millisecond {
				t.Errorf("GarbageCollect audit event %+v, want push.expired as stored at now", e)
			}
			audited = append(audited, e.ChallengeID)
		}
		slices.Sort(audited)
		if want := []string{"c-now", "c-past"}; !slices.Equal(audited, want) {
			t.Errorf("GarbageCollect audited %q, want %q", audited, want)
		}
		logged, err := s.ListAudit(ctx, store.AuditFilter{Types: []string{"push.expired"}})
		must(t, "ListAudit", err)
		if len(logged) != len(res.Audits) {
			t.Fatalf("log holds %d push.expired, GarbageCollect returned %d", len(logged), len(res.Audits))
		}
		for i := range logged {
			same(t, "push.expired in the log", logged[i], res.Audits[i])
		}

		res, err = s.GarbageCollect(ctx, now)
		must(t, "GarbageCollect again", err)
		if len(res.Expired) != 0 || len(res.Audits) != 0 {
			t.Errorf("second GarbageCollect expired %d more challenges, audited %d", len(res.Expired), len(res.Audits))
		}
	}},
	{name: "GarbageCollectDeletesExpiredNoncesSessionsTokensAndTransactions", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		// UseNonce reads the real clock, so this test lives around it; the
		// rows to go expired a year ago, the interface's "long past expiry".
		now := time.Now()
		gone, live := now.Add(-365*24*time.Hour), now.Add(time.Hour)
		createUser(t, s, "u1")

		must(t, "UseNonce n-old", s.UseNonce(ctx, "n-old", time.Now(), now.Add(-time.Hour)))
		must(t, "UseNonce n-live", s.UseNonce(ctx, "n-live", time.Now(), live))
		for hash, exp := range map[string]time.Time{"h-old": gone, "h-live": live} {
			tok := newToken(hash, "u1")
			tok.CreatedAt, tok.ExpiresAt = exp.Add(-time.Hour), exp
			must(t, "CreateEnrollToken "+hash, s.CreateEnrollToken(ctx, tok))
		}
		for id, exp := range map[string]time.Time{"tx-old": gone, "tx-live": live} {
			tx := newTransaction(id)
			tx.ExpiresAt = exp
			must(t, "CreateTransaction "+id, s.CreateTransaction(ctx, tx))
		}
		for id, exp := range map[string]time.Time{"s-old": gone, "s-live": live} {
			se := newSession(id, "u1")
			se.ExpiresAt = exp
			must(t, "CreateSession "+id, s.CreateSession(ctx, se))
		}
		_, err := s.AppendAudit(ctx, store.AuditEvent{Time: gone, Type: "login"})
		must(t, "AppendAudit", err)

		res, err := s.GarbageCollect(ctx, now)
		must(t, "GarbageCollect", err)
		if res.Deleted != 4 {
			t.Errorf("Deleted = %d, want 4 (a nonce, a token, a transaction, a session)", res.Deleted)
		}

		_, err = s.GetTransaction(ctx, "tx-old")
		wantErr(t, "GetTransaction tx-old", err, store.ErrNotFound)
		_, err = s.GetSession(ctx, "s-old")
		wantErr(t, "GetSession s-old", err, store.ErrNotFound)
		_, err = s.CompleteEnrollment(ctx, "h-old", gone.Add(-2*time.Hour), newDevice("d-old", base))
		wantErr(t, "CompleteEnrollment h-old", err, store.ErrNotFound)
		_, err = s.GetTransaction(ctx, "tx-live")
		must(t, "GetTransaction tx-live", err)
		_, err = s.GetSession(ctx, "s-live")
		must(t, "GetSession s-live", err)
		wantErr(t, "UseNonce n-live", s.UseNonce(ctx, "n-live", time.Now(), live), store.ErrReplay)
		tokenIsUnused(t, s, "h-live", "u1", now)
		audit, err := s.ListAudit(ctx, store.AuditFilter{})
		must(t, "ListAudit", err)
		if len(audit) != 1 {
			t.Errorf("ListAudit = %d events after GarbageCollect, want the 1 appended", len(audit))
		}

		res, err = s.GarbageCollect(ctx, now)
		must(t, "GarbageCollect again", err)
		if res.Deleted != 0 || len(res.Expired) != 0 {
			t.Errorf("second GarbageCollect = %d deleted, %d expired, want nothing", res.Deleted, len(res.Expired))
		}
	}},
}

var lifecycleTests = []test{
	{name: "PingAnswers", run: func(t *testing.T, s store.Store) {
		must(t, "Ping", s.Ping(t.Context()))
	}},
	{name: "CloseSucceeds", closes: true, run: func(t *testing.T, s store.Store) {
		must(t, "Close", s.Close())
	}},
}

// auditCase is a filter and the events (by ChallengeID) it should list.
type auditCase struct {
	name   string
	filter store.AuditFilter
	want   []string
}

func listAuditCases(t *testing.T, s store.Store, cases []auditCase) {
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ListAudit(t.Context(), tc.filter)
			must(t, "ListAudit", err)
			var ids []string
			for _, e := range got {
				ids = append(ids, e.ChallengeID)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("ListAudit(%+v) = %q, want %q", tc.filter, ids, tc.want)
			}
		})
	}
}

package sqlite

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/storetest"
)

// The sole node's group commits write batches of one-time keys and device
// touches: each key gets its own answer, and every statement runs
// prepared (an unprepared one costs modernc SQLite about twice as much).
func TestBatchesKeepEachAnswerAndRunPrepared(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	now := time.Now()
	later := now.Add(time.Hour)
	if err := s.UseNonce(ctx, "seen", now, later); err != nil {
		t.Fatal(err)
	}
	if err := s.UseNonce(ctx, "old", now.Add(-2*time.Hour), now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	us := []store.NonceUse{
		{Key: "a", Now: now, Expires: later},
		{Key: "b", Now: now, Expires: later},
		{Key: "a", Now: now, Expires: later},    // twice in the batch
		{Key: "seen", Now: now, Expires: later}, // before the batch
		{Key: "old", Now: now, Expires: later},  // past its expiry: new again
	}
	errs, err := s.UseNonces(ctx, us)
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, false, true, true, false}
	for i, e := range errs {
		if replay := errors.Is(e, store.ErrReplay); replay != want[i] || (e != nil && !replay) {
			t.Errorf("key %d (%s): %v; want replay %v", i, us[i].Key, e, want[i])
		}
	}
	if err := s.UseNonce(ctx, "b", now, later); !errors.Is(err, store.ErrReplay) {
		t.Errorf("a key the batch recorded, used again: %v; want a replay", err)
	}
	if err := s.TouchDevices(ctx, []store.DeviceTouch{{ID: "dev_a", At: now}, {ID: "dev_b", At: now}}); err != nil {
		t.Fatal(err)
	}
	// Transactions written as they are: each its own answer, and each
	// left as a read returns it.
	tx := store.Transaction{ID: "tx_a", App: "app", Kind: "signin", Status: store.TxActive, Data: []byte("1"),
		CreatedAt: now, UpdatedAt: now, ExpiresAt: later}
	if err := s.CreateTransaction(ctx, tx); err != nil {
		t.Fatal(err)
	}
	tx.Data, tx.UpdatedAt = []byte("2"), now.Add(time.Second+time.Microsecond)
	ts := []store.Transaction{{ID: "tx_missing", Status: store.TxActive, ExpiresAt: later}, tx}
	errs, err = s.PutTransactions(ctx, ts)
	if err != nil || !errors.Is(errs[0], store.ErrNotFound) || errs[1] != nil {
		t.Fatalf("put transactions: %v, %v; want not found, then written", errs, err)
	}
	if got, err := s.GetTransaction(ctx, "tx_a"); err != nil || !reflect.DeepEqual(got, ts[1]) {
		t.Fatalf("stored %+v (%v); the put left %+v", got, err, ts[1])
	}
	// Counters written as they are, created or overwritten.
	if _, err := s.UpdateCounter(ctx, "c1", func(c *store.Counter) error { c.Count = 1; c.ExpiresAt = later; return nil }); err != nil {
		t.Fatal(err)
	}
	cs := []store.Counter{{Key: "c1", Count: 2, Last: now, ExpiresAt: later}, {Key: "c2", Count: 7, ExpiresAt: later}}
	if err := s.PutCounters(ctx, cs); err != nil {
		t.Fatal(err)
	}
	for _, want := range cs {
		if got, err := s.GetCounter(ctx, want.Key); err != nil || got != want {
			t.Fatalf("counter %s stored as %+v (%v); the put left %+v", want.Key, got, err, want)
		}
	}
	if n := s.w.txMisses.Load(); n > 0 {
		t.Errorf("%d statements ran unprepared in a transaction: add them to inTx", n)
	}
}

// A batch of challenges reads the log's tail once and chains every event
// in turn: each event follows the one before it, what each Audit keeps as
// stored is what the log holds, and a batch that fails leaves the log as
// it was, so that the next event follows the last one committed.
func TestABatchOfChallengesChainsItsEventsInTurn(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	d := storetest.EnrollDevice(t, s, "u1", "d1")
	first := appendEvents(t, s, 1)[0]
	now := time.Now()
	challenge := func(id string) store.Challenge {
		return store.Challenge{ID: id, TxID: "tx-" + id, DeviceID: d.ID, UserID: d.UserID, Kind: "signin", Nonce: "n-" + id,
			Numbers: []int{1, 2, 3}, Correct: 2, Context: []byte(`{}`), JWS: "jws", Status: store.ChallengeApproved,
			CreatedAt: now, ExpiresAt: now.Add(time.Minute), AnsweredAt: now}
	}
	write := func(id string) store.ChallengeWrite {
		sent := &store.Audit{Events: []store.AuditEvent{{Time: now, Type: "push.sent", UserID: "u1", ChallengeID: id}}}
		outcome := &store.Audit{For: func(c store.Challenge) []store.AuditEvent {
			return []store.AuditEvent{
				{Time: now, Type: "push." + c.Status, UserID: c.UserID, ChallengeID: c.ID},
				{Time: now, Type: "push.noted", UserID: c.UserID, ChallengeID: c.ID, Detail: map[string]string{"n": id}},
			}
		}}
		return store.ChallengeWrite{Challenge: challenge(id), Audit: []*store.Audit{sent, outcome}}
	}
	ws := []store.ChallengeWrite{write("c1"), write("c2"), write("c3")}
	if err := s.CreateChallenges(ctx, ws); err != nil {
		t.Fatal(err)
	}
	var stored []store.AuditEvent
	for _, w := range ws {
		for _, a := range w.Audit {
			stored = append(stored, a.Stored...)
		}
	}
	if len(stored) != 9 {
		t.Fatalf("%d events kept as stored, want 9", len(stored))
	}
	prev := first
	for i, e := range stored {
		if e.Seq != prev.Seq+1 || e.PrevHash != prev.Hash {
			t.Errorf("event %d (%s of %s): seq %d after %d, prev hash %.8s, want %.8s", i, e.Type, e.ChallengeID, e.Seq, prev.Seq, e.PrevHash, prev.Hash)
		}
		prev = e
	}
	logged, err := s.ListAudit(ctx, store.AuditFilter{AfterSeq: first.Seq})
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != len(stored) {
		t.Fatalf("the log holds %d events after the first, want %d", len(logged), len(stored))
	}
	for i := range logged {
		if logged[i].Seq != stored[i].Seq || logged[i].Hash != stored[i].Hash || logged[i].Type != stored[i].Type {
			t.Errorf("event %d: log has %d %s %.8s, kept as stored %d %s %.8s", i,
				logged[i].Seq, logged[i].Type, logged[i].Hash, stored[i].Seq, stored[i].Type, stored[i].Hash)
		}
	}

	// c2 again: the whole batch fails, c4's events with it.
	if err := s.CreateChallenges(ctx, []store.ChallengeWrite{write("c4"), write("c2")}); err == nil {
		t.Fatal("a batch holding a challenge already stored: no error")
	}
	if _, err := s.GetChallenge(ctx, "c4"); err == nil {
		t.Error("c4 stored from a batch that failed")
	}
	next := appendEvents(t, s, 1)[0]
	if last := stored[len(stored)-1]; next.Seq != last.Seq+1 || next.PrevHash != last.Hash {
		t.Errorf("after a failed batch: seq %d prev %.8s, want %d %.8s", next.Seq, next.PrevHash, last.Seq+1, last.Hash)
	}
	if c, err := store.VerifyAudit(ctx, s); err != nil || c.Broken != nil || c.Checked != 11 {
		t.Errorf("VerifyAudit = %+v, %v; want 11 events whole", c, err)
	}
}

// A device's pending challenges and a transaction's are found through the
// partial indexes that hold pending challenges only (so that a challenge
// written settled enters neither), not by reading the table.
func TestPendingChallengesAreFoundByTheirIndexes(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	for _, tc := range []struct {
		f     store.ChallengeFilter
		index string
	}{
		{store.ChallengeFilter{DeviceID: "dev_1", Status: store.ChallengePending}, "challenges_device_pending"},
		{store.ChallengeFilter{TxID: "tx_1", Status: store.ChallengePending}, "challenges_tx_pending"},
		{store.ChallengeFilter{Status: store.ChallengePending}, "challenges_pending_expires"},
	} {
		q, args := listChallengesQuery(tc.f)
		if got := queryPlan(t, s, q, args...); !strings.Contains(got, "USING INDEX "+tc.index) {
			t.Errorf("%+v: plan %q, want it to use %s", tc.f, got, tc.index)
		}
	}
}

// Sessions created in one transaction are each stored as given; a batch
// with a session id already stored writes none of its sessions, and every
// statement ran prepared.
func TestSessionBatchIsAllOrNone(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	if err := s.CreateUser(ctx, store.User{ID: "u1", Login: "ann", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	mk := func(id string) store.Session {
		return store.Session{ID: id, UserID: "u1", TxID: "tx_" + id, App: "portal", AMR: []string{"pwd", "swk"}, Risk: "low",
			AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	batch := []store.Session{mk("s1"), mk("s2"), mk("s3")}
	if err := s.CreateSessions(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, want := range batch {
		if got, err := s.GetSession(ctx, want.ID); err != nil || got.UserID != want.UserID || got.TxID != want.TxID ||
			!reflect.DeepEqual(got.AMR, want.AMR) || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Fatalf("session %s stored as %+v (%v), want %+v", want.ID, got, err, want)
		}
	}
	if err := s.CreateSessions(ctx, []store.Session{mk("s4"), mk("s2")}); err == nil {
		t.Fatal("a batch with a session id already stored was written")
	}
	if _, err := s.GetSession(ctx, "s4"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("s4, of the failed batch: %v; want it not stored", err)
	}
	if n := s.w.txMisses.Load(); n > 0 {
		t.Errorf("%d statements ran unprepared in a transaction: add them to inTx", n)
	}
}

// Transactions created in one transaction of the database likewise: each
// stored as given, all or none, every statement prepared.
func TestTransactionCreateBatchIsAllOrNone(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Millisecond)
	mk := func(id string) store.Transaction {
		return store.Transaction{ID: id, App: "portal", Kind: "signin", Status: store.TxActive, Data: []byte(`{"step":"` + id + `"}`),
			ClientIP: "192.0.2.1", CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
	}
	batch := []store.Transaction{mk("t1"), mk("t2"), mk("t3")}
	if err := s.CreateTransactions(ctx, batch); err != nil {
		t.Fatal(err)
	}
	for _, want := range batch {
		if got, err := s.GetTransaction(ctx, want.ID); err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("transaction %s stored as %+v (%v), want %+v", want.ID, got, err, want)
		}
	}
	if err := s.CreateTransactions(ctx, []store.Transaction{mk("t4"), mk("t2")}); err == nil {
		t.Fatal("a batch with a transaction id already stored was written")
	}
	if _, err := s.GetTransaction(ctx, "t4"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("t4, of the failed batch: %v; want it not stored", err)
	}
	if n := s.w.txMisses.Load(); n > 0 {
		t.Errorf("%d statements ran unprepared in a transaction: add them to inTx", n)
	}
}

package storetest

import (
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

var transactionTests = []test{
	{name: "TransactionFieldsRoundTrip", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tx := newTransaction("tx1")
		must(t, "CreateTransaction", s.CreateTransaction(ctx, tx))
		got, err := s.GetTransaction(ctx, "tx1")
		must(t, "GetTransaction", err)
		same(t, "GetTransaction", got, tx)
	}},
	{name: "TransactionWithoutDataOrTimesRoundTrips", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, tx := range []store.Transaction{{ID: "tx-nil"}, {ID: "tx-empty", Data: []byte{}}} {
			must(t, "CreateTransaction", s.CreateTransaction(ctx, tx))
			got, err := s.GetTransaction(ctx, tx.ID)
			must(t, "GetTransaction", err)
			same(t, "GetTransaction "+tx.ID, got, tx)
		}
	}},
	{name: "CreateTransactionWithTakenIDIsConflict", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tx := newTransaction("tx1")
		must(t, "CreateTransaction", s.CreateTransaction(ctx, tx))
		other := newTransaction("tx1")
		other.App = "mail"
		wantErr(t, "CreateTransaction again", s.CreateTransaction(ctx, other), store.ErrConflict)
		got, err := s.GetTransaction(ctx, "tx1")
		must(t, "GetTransaction", err)
		same(t, "GetTransaction after conflict", got, tx)
	}},
	{name: "MissingTransactionIsNotFound", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, err := s.GetTransaction(ctx, "nope")
		wantErr(t, "GetTransaction", err, store.ErrNotFound)
		called := false
		_, err = s.UpdateTransaction(ctx, "nope", func(*store.Transaction) error { called = true; return nil })
		wantErr(t, "UpdateTransaction", err, store.ErrNotFound)
		if called {
			t.Error("UpdateTransaction called fn for a missing transaction")
		}
	}},
	{name: "UpdateTransactionAppliesFn", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tx := newTransaction("tx1")
		must(t, "CreateTransaction", s.CreateTransaction(ctx, tx))
		change := func(tx *store.Transaction) error {
			tx.UserID = "u1"
			tx.Status = store.TxSuccess
			tx.Data = []byte(`{"step":"done"}`)
			tx.UpdatedAt = base.Add(time.Minute)
			return nil
		}
		got, err := s.UpdateTransaction(ctx, "tx1", change)
		must(t, "UpdateTransaction", err)
		want := tx
		must(t, "change", change(&want))
		same(t, "UpdateTransaction result", got, want)
		stored, err := s.GetTransaction(ctx, "tx1")
		must(t, "GetTransaction", err)
		same(t, "GetTransaction after UpdateTransaction", stored, want)
	}},
	{name: "UpdateTransactionFnErrorWritesNothingAndIsReturned", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tx := newTransaction("tx1")
		must(t, "CreateTransaction", s.CreateTransaction(ctx, tx))
		_, err := s.UpdateTransaction(ctx, "tx1", func(tx *store.Transaction) error {
			tx.Status = store.TxFailed
			tx.Data[0] = '['
			return errFn
		})
		wantErr(t, "UpdateTransaction", err, errFn)
		got, err := s.GetTransaction(ctx, "tx1")
		must(t, "GetTransaction", err)
		same(t, "GetTransaction after failed update", got, tx)
	}},
}

var sessionTests = []test{
	{name: "SessionFieldsRoundTrip", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		se := newSession("s1", "u1")
		se.RevokedAt = base.Add(time.Hour)
		must(t, "CreateSession", s.CreateSession(ctx, se))
		got, err := s.GetSession(ctx, "s1")
		must(t, "GetSession", err)
		same(t, "GetSession", got, se)
	}},
	{name: "SessionWithoutMethodsOrAuthTimeRoundTrips", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		bare := newSession("s-nil", "u1")
		bare.App, bare.AMR, bare.AuthTime, bare.Risk = "", nil, time.Time{}, ""
		empty := newSession("s-empty", "u1")
		empty.AMR = []string{}
		one := newSession("s-one", "u1")
		one.AMR = []string{"otp"}
		for _, se := range []store.Session{bare, empty, one} {
			must(t, "CreateSession "+se.ID, s.CreateSession(ctx, se))
			got, err := s.GetSession(ctx, se.ID)
			must(t, "GetSession", err)
			same(t, "GetSession "+se.ID, got, se)
		}
	}},
	{name: "RevokeSessionsKeepWhatTheSessionProves", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		s1, s2 := newSession("s1", "u1"), newSession("s2", "u1")
		s2.AMR, s2.Risk = []string{"pwd", "otp"}, "high"
		must(t, "CreateSession s1", s.CreateSession(ctx, s1))
		must(t, "CreateSession s2", s.CreateSession(ctx, s2))
		now := base.Add(time.Hour)
		must(t, "RevokeSession", s.RevokeSession(ctx, "s1", now))
		_, err := s.RevokeSessions(ctx, "u1", now)
		must(t, "RevokeSessions", err)
		for _, want := range []store.Session{s1, s2} {
			want.RevokedAt = now
			got, err := s.GetSession(ctx, want.ID)
			must(t, "GetSession "+want.ID, err)
			same(t, "GetSession "+want.ID, got, want)
		}
	}},
	{name: "CreateSessionWithTakenIDIsConflict", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		se := newSession("s1", "u1")
		must(t, "CreateSession", s.CreateSession(ctx, se))
		wantErr(t, "CreateSession again", s.CreateSession(ctx, newSession("s1", "u2")), store.ErrConflict)
		got, err := s.GetSession(ctx, "s1")
		must(t, "GetSession", err)
		same(t, "GetSession after conflict", got, se)
	}},
	{name: "MissingSessionIsNotFound", run: func(t *testing.T, s store.Store) {
		_, err := s.GetSession(t.Context(), "nope")
		wantErr(t, "GetSession", err, store.ErrNotFound)
	}},
	{name: "RevokeSessionRevokesOneSessionOnce", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		must(t, "CreateSession s1", s.CreateSession(ctx, newSession("s1", "u1")))
		must(t, "CreateSession s2", s.CreateSession(ctx, newSession("s2", "u1")))
		first := base.Add(time.Hour)
		must(t, "RevokeSession", s.RevokeSession(ctx, "s1", first))
		must(t, "RevokeSession again", s.RevokeSession(ctx, "s1", first.Add(time.Hour)))
		wantErr(t, "RevokeSession unknown", s.RevokeSession(ctx, "nope", first), store.ErrNotFound)
		got, err := s.GetSession(ctx, "s1")
		must(t, "GetSession s1", err)
		if !got.RevokedAt.Equal(norm(store.Session{RevokedAt: first}).RevokedAt) {
			t.Errorf("s1 RevokedAt = %v, want the first revocation %v", got.RevokedAt, first)
		}
		other, err := s.GetSession(ctx, "s2")
		must(t, "GetSession s2", err)
		if !other.RevokedAt.IsZero() {
			t.Errorf("s2 was revoked too")
		}
	}},
	{name: "RevokeSessionsRevokesOnlyTheUsersUnrevokedSessions", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		createUser(t, s, "u2")
		earlier := newSession("s-earlier", "u1")
		earlier.RevokedAt = base.Add(time.Minute)
		sessions := []store.Session{
			newSession("s1", "u1"),
			newSession("s2", "u1"),
			earlier,
			newSession("s-other", "u2"),
		}
		for _, se := range sessions {
			must(t, "CreateSession "+se.ID, s.CreateSession(ctx, se))
		}
		now := base.Add(time.Hour)
		n, err := s.RevokeSessions(ctx, "u1", now)
		must(t, "RevokeSessions", err)
		if n != 2 {
			t.Errorf("RevokeSessions = %d, want 2", n)
		}
		for id, want := range map[string]time.Time{
			"s1":        now,
			"s2":        now,
			"s-earlier": earlier.RevokedAt, // keeps when it was first revoked
			"s-other":   {},
		} {
			got, err := s.GetSession(ctx, id)
			must(t, "GetSession "+id, err)
			if !got.RevokedAt.Equal(norm(store.Session{RevokedAt: want}).RevokedAt) {
				t.Errorf("session %s RevokedAt = %v, want %v", id, got.RevokedAt, want)
			}
		}
		n, err = s.RevokeSessions(ctx, "u1", now.Add(time.Hour))
		must(t, "RevokeSessions again", err)
		if n != 0 {
			t.Errorf("RevokeSessions again = %d, want 0", n)
		}
		n, err = s.RevokeSessions(ctx, "nobody", now)
		must(t, "RevokeSessions nobody", err)
		if n != 0 {
			t.Errorf("RevokeSessions(nobody) = %d, want 0", n)
		}
	}},
}

package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

func newAdminToken(id string, created time.Time) store.AdminToken {
	return store.AdminToken{
		ID:        id,
		Hash:      "hash-" + id,
		Name:      "Token " + id,
		CreatedAt: created,
		ExpiresAt: created.Add(90 * 24 * time.Hour),
	}
}

var adminTokenTests = []test{
	{name: "AdminTokenFieldsRoundTrip", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tok := newAdminToken("t1", base)
		tok.RevokedAt = base.Add(time.Hour)
		must(t, "CreateAdminToken", s.CreateAdminToken(ctx, tok))
		got, err := s.GetAdminToken(ctx, "hash-t1")
		must(t, "GetAdminToken", err)
		same(t, "GetAdminToken", got, tok)
		list, err := s.ListAdminTokens(ctx)
		must(t, "ListAdminTokens", err)
		if len(list) != 1 {
			t.Fatalf("ListAdminTokens = %d tokens, want 1", len(list))
		}
		same(t, "ListAdminTokens", list[0], tok)
	}},
	{name: "AdminTokenWithZeroTimesRoundTrips", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tok := store.AdminToken{ID: "t1", Hash: "h1"}
		must(t, "CreateAdminToken", s.CreateAdminToken(ctx, tok))
		got, err := s.GetAdminToken(ctx, "h1")
		must(t, "GetAdminToken", err)
		same(t, "GetAdminToken", got, tok)
	}},
	{name: "CreateAdminTokenWithTakenIDOrHashIsConflict", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		tok := newAdminToken("t1", base)
		must(t, "CreateAdminToken", s.CreateAdminToken(ctx, tok))
		other := newAdminToken("t1", base)
		other.Hash = "hash-other"
		wantErr(t, "CreateAdminToken taken ID", s.CreateAdminToken(ctx, other), store.ErrConflict)
		other = newAdminToken("t2", base)
		other.Hash = tok.Hash
		wantErr(t, "CreateAdminToken taken hash", s.CreateAdminToken(ctx, other), store.ErrConflict)
		list, err := s.ListAdminTokens(ctx)
		must(t, "ListAdminTokens", err)
		if len(list) != 1 {
			t.Fatalf("ListAdminTokens = %d tokens after conflicts, want 1", len(list))
		}
		same(t, "ListAdminTokens after conflicts", list[0], tok)
	}},
	{name: "MissingAdminTokenIsNotFound", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, err := s.GetAdminToken(ctx, "nope")
		wantErr(t, "GetAdminToken", err, store.ErrNotFound)
		wantErr(t, "RevokeAdminToken", s.RevokeAdminToken(ctx, "nope", base), store.ErrNotFound)
		// GetAdminToken looks up hashes, not IDs.
		must(t, "CreateAdminToken", s.CreateAdminToken(ctx, newAdminToken("t1", base)))
		_, err = s.GetAdminToken(ctx, "t1")
		wantErr(t, "GetAdminToken by ID", err, store.ErrNotFound)
	}},
	{name: "ListAdminTokensOldestFirst", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		list, err := s.ListAdminTokens(ctx)
		must(t, "ListAdminTokens empty", err)
		if len(list) != 0 {
			t.Fatalf("ListAdminTokens on an empty store = %d tokens", len(list))
		}
		// Neither ID order nor creation order; t2 and t4 tie on CreatedAt
		// and go by ID.
		for _, tok := range []store.AdminToken{
			newAdminToken("t3", base.Add(time.Minute)),
			newAdminToken("t4", base),
			newAdminToken("t1", base.Add(time.Hour)),
			newAdminToken("t2", base),
		} {
			must(t, "CreateAdminToken "+tok.ID, s.CreateAdminToken(ctx, tok))
		}
		list, err = s.ListAdminTokens(ctx)
		must(t, "ListAdminTokens", err)
		var ids []string
		for _, tok := range list {
			ids = append(ids, tok.ID)
		}
		if want := []string{"t2", "t4", "t3", "t1"}; !slices.Equal(ids, want) {
			t.Errorf("ListAdminTokens = %q, want %q", ids, want)
		}
	}},
	{name: "RevokeAdminTokenRevokesOneTokenOnce", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		t1, t2 := newAdminToken("t1", base), newAdminToken("t2", base)
		must(t, "CreateAdminToken t1", s.CreateAdminToken(ctx, t1))
		must(t, "CreateAdminToken t2", s.CreateAdminToken(ctx, t2))
		first := base.Add(time.Hour)
		must(t, "RevokeAdminToken", s.RevokeAdminToken(ctx, "t1", first))
		must(t, "RevokeAdminToken again", s.RevokeAdminToken(ctx, "t1", first.Add(time.Hour)))
		got, err := s.GetAdminToken(ctx, t1.Hash)
		must(t, "GetAdminToken t1", err)
		t1.RevokedAt = first
		same(t, "GetAdminToken t1", got, t1)
		got, err = s.GetAdminToken(ctx, t2.Hash)
		must(t, "GetAdminToken t2", err)
		same(t, "GetAdminToken t2 (untouched)", got, t2)
	}},
	{name: "GarbageCollectKeepsExpiredAndRevokedAdminTokens", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		expired := newAdminToken("t1", base)
		expired.ExpiresAt = base.Add(time.Minute)
		revoked := newAdminToken("t2", base)
		revoked.RevokedAt = base.Add(time.Second)
		for _, tok := range []store.AdminToken{expired, revoked} {
			must(t, "CreateAdminToken "+tok.ID, s.CreateAdminToken(ctx, tok))
		}
		res, err := s.GarbageCollect(ctx, base.Add(365*24*time.Hour))
		must(t, "GarbageCollect", err)
		if res.Deleted != 0 {
			t.Errorf("GarbageCollect deleted %d rows, want none", res.Deleted)
		}
		list, err := s.ListAdminTokens(ctx)
		must(t, "ListAdminTokens", err)
		if len(list) != 2 {
			t.Fatalf("ListAdminTokens = %d tokens after GarbageCollect, want 2", len(list))
		}
		same(t, "ListAdminTokens t1", list[0], expired)
		same(t, "ListAdminTokens t2", list[1], revoked)
	}},
}

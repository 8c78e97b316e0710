package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// errGrantUsed is what an update that uses a grant refuses with when the
// grant was used already.
var errGrantUsed = errors.New("storetest: grant used already")

func newGrant(id, kind string, created time.Time) store.Grant {
	return store.Grant{
		ID:        id,
		Kind:      kind,
		ClientID:  "app-wiki",
		UserID:    "u1",
		Lookup:    "lookup-" + id,
		Family:    "family-1",
		Data:      []byte{'{', '}', 0, 0xff},
		CreatedAt: created,
		ExpiresAt: created.Add(10 * time.Minute),
	}
}

// useGrant is the update of a single-use grant (a code, a refresh token).
func useGrant(at time.Time) func(*store.Grant) error {
	return func(g *store.Grant) error {
		if !g.UsedAt.IsZero() {
			return errGrantUsed
		}
		g.UsedAt = at
		return nil
	}
}

func grantIDs(gs []store.Grant) []string {
	var ids []string
	for _, g := range gs {
		ids = append(ids, g.ID)
	}
	return ids
}

// wantGrants lists the grants f selects and checks their IDs, in order.
func wantGrants(t *testing.T, s store.Store, what string, f store.GrantFilter, want ...string) []store.Grant {
	t.Helper()
	gs, err := s.ListGrants(t.Context(), f)
	must(t, "ListGrants "+what, err)
	if got := grantIDs(gs); !slices.Equal(got, want) {
		t.Errorf("ListGrants %s = %q, want %q", what, got, want)
	}
	return gs
}

var grantTests = []test{
	{name: "GrantFieldsRoundTrip", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		g := newGrant("g1", "refresh_token", base)
		g.UsedAt = base.Add(time.Minute)
		g.RevokedAt = base.Add(2 * time.Minute)
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		got, err := s.GetGrant(ctx, "g1")
		must(t, "GetGrant", err)
		same(t, "GetGrant", got, g)
		got, err = s.GetGrantByLookup(ctx, "refresh_token", "lookup-g1")
		must(t, "GetGrantByLookup", err)
		same(t, "GetGrantByLookup", got, g)
		list := wantGrants(t, s, "by kind", store.GrantFilter{Kind: "refresh_token"}, "g1")
		if len(list) == 1 {
			same(t, "ListGrants", list[0], g)
		}
	}},
	{name: "GrantWithoutDataOrOptionalFieldsRoundTrips", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		for _, g := range []store.Grant{
			{ID: "g-nil", Kind: "signing_key", CreatedAt: base, ExpiresAt: base.Add(time.Hour)},
			{ID: "g-empty", Kind: "signing_key", Data: []byte{}},
		} {
			must(t, "CreateGrant "+g.ID, s.CreateGrant(ctx, g))
			got, err := s.GetGrant(ctx, g.ID)
			must(t, "GetGrant", err)
			same(t, "GetGrant "+g.ID, got, g)
		}
	}},
	{name: "CreateGrantWithTakenIDOrLookupIsConflict", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		g := newGrant("g1", "code", base)
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		other := newGrant("g1", "code", base)
		other.Lookup = "lookup-other"
		wantErr(t, "CreateGrant taken ID", s.CreateGrant(ctx, other), store.ErrConflict)
		other = newGrant("g2", "code", base)
		other.Lookup = g.Lookup
		wantErr(t, "CreateGrant taken lookup", s.CreateGrant(ctx, other), store.ErrConflict)
		// Even a used, revoked grant keeps its lookup.
		_, err := s.UpdateGrant(ctx, "g1", func(g *store.Grant) error {
			g.UsedAt, g.RevokedAt = base.Add(time.Minute), base.Add(time.Minute)
			return nil
		})
		must(t, "UpdateGrant", err)
		wantErr(t, "CreateGrant lookup of a revoked grant", s.CreateGrant(ctx, other), store.ErrConflict)
		_, err = s.GetGrant(ctx, "g2")
		wantErr(t, "GetGrant g2", err, store.ErrNotFound)

		// A lookup is unique within its kind only, and an empty one is none.
		other.Kind = "access_token"
		must(t, "CreateGrant same lookup, other kind", s.CreateGrant(ctx, other))
		for _, id := range []string{"g3", "g4"} {
			g := newGrant(id, "code", base)
			g.Lookup = ""
			must(t, "CreateGrant without lookup "+id, s.CreateGrant(ctx, g))
		}
		got, err := s.GetGrantByLookup(ctx, "code", g.Lookup)
		must(t, "GetGrantByLookup code", err)
		if got.ID != "g1" {
			t.Errorf("GetGrantByLookup code = %s, want g1", got.ID)
		}
		got, err = s.GetGrantByLookup(ctx, "access_token", g.Lookup)
		must(t, "GetGrantByLookup access_token", err)
		same(t, "GetGrantByLookup access_token", got, other)
	}},
	{name: "MissingGrantIsNotFound", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, err := s.GetGrant(ctx, "nope")
		wantErr(t, "GetGrant", err, store.ErrNotFound)
		_, err = s.GetGrantByLookup(ctx, "code", "nope")
		wantErr(t, "GetGrantByLookup", err, store.ErrNotFound)
		called := false
		_, err = s.UpdateGrant(ctx, "nope", func(*store.Grant) error { called = true; return nil })
		wantErr(t, "UpdateGrant", err, store.ErrNotFound)
		if called {
			t.Error("UpdateGrant called fn for a missing grant")
		}
		wantErr(t, "DeleteGrant", s.DeleteGrant(ctx, "nope"), store.ErrNotFound)

		g := newGrant("g1", "code", base)
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		noLookup := newGrant("g2", "code", base)
		noLookup.Lookup = ""
		must(t, "CreateGrant without lookup", s.CreateGrant(ctx, noLookup))
		// The lookup belongs to its kind; lookups are not IDs; an empty
		// lookup finds nothing, not the grants that have none.
		_, err = s.GetGrantByLookup(ctx, "access_token", g.Lookup)
		wantErr(t, "GetGrantByLookup other kind", err, store.ErrNotFound)
		_, err = s.GetGrantByLookup(ctx, "code", "g1")
		wantErr(t, "GetGrantByLookup by ID", err, store.ErrNotFound)
		_, err = s.GetGrantByLookup(ctx, "code", "")
		wantErr(t, "GetGrantByLookup empty", err, store.ErrNotFound)
		_, err = s.GetGrant(ctx, g.Lookup)
		wantErr(t, "GetGrant by lookup", err, store.ErrNotFound)
	}},
	{name: "GrantsNeedNoUserOrApp", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		// Neither the user nor the app exists; the store does not check.
		g := newGrant("g1", "code", base)
		g.UserID, g.ClientID = "no-such-user", "no-such-app"
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		// A grant outlives the app it names: what that means is the front's.
		a := newApp("a1", "wiki")
		must(t, "CreateApp", s.CreateApp(ctx, a))
		g2 := newGrant("g2", "code", base)
		g2.ClientID = "a1"
		must(t, "CreateGrant for a1", s.CreateGrant(ctx, g2))
		must(t, "DeleteApp", s.DeleteApp(ctx, "a1"))
		got, err := s.GetGrant(ctx, "g2")
		must(t, "GetGrant after DeleteApp", err)
		same(t, "GetGrant after DeleteApp", got, g2)
	}},
	{name: "ListGrantsFiltersOldestFirst", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		wantGrants(t, s, "empty store", store.GrantFilter{Kind: "code"})
		mk := func(id, kind, client, user, family string, created time.Time) store.Grant {
			g := newGrant(id, kind, created)
			g.ClientID, g.UserID, g.Family = client, user, family
			return g
		}
		// Neither ID order nor creation order; g-B, g-a and g-c tie on
		// CreatedAt and go by ID, byte by byte.
		for _, g := range []store.Grant{
			mk("g-d", "code", "c1", "u1", "f1", base.Add(time.Hour)),
			mk("g-c", "access_token", "c1", "u1", "f1", base),
			mk("g-a", "refresh_token", "c1", "u2", "f2", base),
			mk("g-e", "code", "c2", "u1", "", base.Add(-time.Hour)),
			mk("g-B", "code", "c2", "u2", "f2", base),
			mk("g-f", "consent", "", "u1", "", base.Add(time.Minute)),
		} {
			must(t, "CreateGrant "+g.ID, s.CreateGrant(ctx, g))
		}
		wantGrants(t, s, "by kind", store.GrantFilter{Kind: "code"}, "g-e", "g-B", "g-d")
		wantGrants(t, s, "by client", store.GrantFilter{ClientID: "c1"}, "g-a", "g-c", "g-d")
		wantGrants(t, s, "by user", store.GrantFilter{UserID: "u1"}, "g-e", "g-c", "g-f", "g-d")
		wantGrants(t, s, "by family", store.GrantFilter{Family: "f2"}, "g-B", "g-a")
		wantGrants(t, s, "by client and user", store.GrantFilter{ClientID: "c2", UserID: "u2"}, "g-B")
		wantGrants(t, s, "by kind and user", store.GrantFilter{Kind: "code", UserID: "u1"}, "g-e", "g-d")
		wantGrants(t, s, "by kind, client, user and family",
			store.GrantFilter{Kind: "code", ClientID: "c1", UserID: "u1", Family: "f1"}, "g-d")
		wantGrants(t, s, "matching nothing", store.GrantFilter{Kind: "code", Family: "f3"})
		wantGrants(t, s, "by an unknown user", store.GrantFilter{UserID: "u3"})
	}},
	{name: "ListGrantsLiveKeepsUnrevokedUnexpiredGrants", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		now := base.Add(time.Hour)
		live := newGrant("g-live", "code", base)
		live.ExpiresAt = now.Add(time.Millisecond)
		used := newGrant("g-used", "code", base.Add(time.Second)) // used is still live
		used.ExpiresAt, used.UsedAt = now.Add(time.Hour), base.Add(time.Minute)
		atNow := newGrant("g-now", "code", base)
		atNow.ExpiresAt = now
		expired := newGrant("g-expired", "code", base)
		expired.ExpiresAt = now.Add(-time.Minute)
		revoked := newGrant("g-revoked", "code", base)
		revoked.ExpiresAt, revoked.RevokedAt = now.Add(time.Hour), base.Add(time.Minute)
		revokedLater := newGrant("g-revoked-later", "code", base) // revoked, but after now: still revoked
		revokedLater.ExpiresAt, revokedLater.RevokedAt = now.Add(time.Hour), now.Add(time.Minute)
		for _, g := range []store.Grant{live, used, atNow, expired, revoked, revokedLater} {
			must(t, "CreateGrant "+g.ID, s.CreateGrant(ctx, g))
		}
		wantGrants(t, s, "all", store.GrantFilter{Kind: "code"},
			"g-expired", "g-live", "g-now", "g-revoked", "g-revoked-later", "g-used")
		got := wantGrants(t, s, "live", store.GrantFilter{Kind: "code", Live: now}, "g-live", "g-used")
		if len(got) == 2 {
			same(t, "ListGrants live g-live", got[0], live)
			same(t, "ListGrants live g-used", got[1], used)
		}
		wantGrants(t, s, "live long before", store.GrantFilter{Kind: "code", Live: base},
			"g-expired", "g-live", "g-now", "g-used")
		wantGrants(t, s, "live of another kind", store.GrantFilter{Kind: "access_token", Live: now})
	}},
	{name: "GrantFilterWithoutKindClientUserOrFamilyIsRefused", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "CreateGrant", s.CreateGrant(ctx, newGrant("g1", "code", base)))
		for _, f := range []store.GrantFilter{{}, {Live: base}} {
			gs, err := s.ListGrants(ctx, f)
			if err == nil {
				t.Errorf("ListGrants(%+v) = %d grants, want an error", f, len(gs))
			}
			n, err := s.RevokeGrants(ctx, f, base.Add(time.Minute))
			if err == nil {
				t.Errorf("RevokeGrants(%+v) revoked %d grants, want an error", f, n)
			}
		}
		got, err := s.GetGrant(ctx, "g1")
		must(t, "GetGrant", err)
		same(t, "GetGrant after refused RevokeGrants", got, newGrant("g1", "code", base))
	}},
	{name: "RevokeGrantsRevokesMatchingGrantsOnce", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		first, later := base.Add(time.Hour), base.Add(2*time.Hour)
		code := newGrant("g1", "code", base)
		token := newGrant("g2", "access_token", base)
		revoked := newGrant("g3", "refresh_token", base) // revoked before: keeps its time
		revoked.RevokedAt = base.Add(time.Minute)
		other := newGrant("g4", "code", base) // another family
		other.Family = "family-2"
		for _, g := range []store.Grant{code, token, revoked, other} {
			must(t, "CreateGrant "+g.ID, s.CreateGrant(ctx, g))
		}
		n, err := s.RevokeGrants(ctx, store.GrantFilter{Family: "family-1"}, first)
		must(t, "RevokeGrants", err)
		if n != 2 {
			t.Errorf("RevokeGrants = %d, want 2", n)
		}
		n, err = s.RevokeGrants(ctx, store.GrantFilter{Family: "family-1"}, later)
		must(t, "RevokeGrants again", err)
		if n != 0 {
			t.Errorf("RevokeGrants again = %d, want 0", n)
		}
		code.RevokedAt, token.RevokedAt = first, first
		for _, want := range []store.Grant{code, token, revoked, other} {
			got, err := s.GetGrant(ctx, want.ID)
			must(t, "GetGrant "+want.ID, err)
			same(t, "GetGrant "+want.ID, got, want)
		}
		n, err = s.RevokeGrants(ctx, store.GrantFilter{Family: "family-3"}, later)
		must(t, "RevokeGrants of no grant", err)
		if n != 0 {
			t.Errorf("RevokeGrants of no grant = %d, want 0", n)
		}
	}},
	{name: "RevokeGrantsHonoursEveryFilterField", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		now := base.Add(time.Hour)
		mk := func(id, kind, client, user string, expires time.Time) store.Grant {
			g := newGrant(id, kind, base)
			g.ClientID, g.UserID, g.ExpiresAt = client, user, expires
			return g
		}
		live := now.Add(time.Hour)
		gs := []store.Grant{
			mk("g1", "code", "c1", "u1", live),
			mk("g2", "code", "c1", "u1", now), // not live at now
			mk("g3", "code", "c1", "u2", live),
			mk("g4", "code", "c2", "u1", live),
			mk("g5", "access_token", "c1", "u1", live),
		}
		for _, g := range gs {
			must(t, "CreateGrant "+g.ID, s.CreateGrant(ctx, g))
		}
		n, err := s.RevokeGrants(ctx, store.GrantFilter{Kind: "code", ClientID: "c1", UserID: "u1", Live: now}, now)
		must(t, "RevokeGrants", err)
		if n != 1 {
			t.Errorf("RevokeGrants = %d, want 1", n)
		}
		for i, want := range gs {
			if i == 0 {
				want.RevokedAt = now
			}
			got, err := s.GetGrant(ctx, want.ID)
			must(t, "GetGrant "+want.ID, err)
			same(t, "GetGrant "+want.ID, got, want)
		}
		n, err = s.RevokeGrants(ctx, store.GrantFilter{UserID: "u1"}, now.Add(time.Minute))
		must(t, "RevokeGrants of u1", err)
		if n != 3 {
			t.Errorf("RevokeGrants of u1 = %d, want 3 (g2, g4, g5)", n)
		}
		wantGrants(t, s, "live of u1 after revoking", store.GrantFilter{UserID: "u1", Live: base})
		wantGrants(t, s, "live of c1 after revoking", store.GrantFilter{ClientID: "c1", Live: base}, "g3")
	}},
	{name: "UpdateGrantAppliesFnAndReturnsTheStoredGrant", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		g := newGrant("g1", "code", base)
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		change := func(g *store.Grant) error {
			g.Kind = "refresh_token"
			g.ClientID = "app-mail"
			g.UserID = "u2"
			g.Lookup = "lookup-new"
			g.Family = "family-2"
			g.Data = []byte(`{"scope":"openid"}`)
			g.CreatedAt = base.Add(time.Second)
			g.ExpiresAt = base.Add(time.Hour)
			g.UsedAt = base.Add(time.Minute)
			g.RevokedAt = base.Add(2 * time.Minute)
			return nil
		}
		got, err := s.UpdateGrant(ctx, "g1", func(got *store.Grant) error {
			same(t, "fn argument", *got, g)
			return change(got)
		})
		must(t, "UpdateGrant", err)
		want := g
		must(t, "change", change(&want))
		same(t, "UpdateGrant result", got, want)
		stored, err := s.GetGrantByLookup(ctx, "refresh_token", "lookup-new")
		must(t, "GetGrantByLookup new lookup", err)
		same(t, "GetGrantByLookup after UpdateGrant", stored, want)
		_, err = s.GetGrantByLookup(ctx, "code", g.Lookup)
		wantErr(t, "GetGrantByLookup old lookup", err, store.ErrNotFound)
		// The old lookup is free again.
		other := newGrant("g2", "code", base)
		other.Lookup = g.Lookup
		must(t, "CreateGrant with the old lookup", s.CreateGrant(ctx, other))
		// Clearing the lookup leaves none.
		got, err = s.UpdateGrant(ctx, "g1", func(g *store.Grant) error { g.Lookup, g.Data = "", nil; return nil })
		must(t, "UpdateGrant clearing the lookup", err)
		want.Lookup, want.Data = "", nil
		same(t, "UpdateGrant clearing the lookup", got, want)
		_, err = s.GetGrantByLookup(ctx, "refresh_token", "lookup-new")
		wantErr(t, "GetGrantByLookup cleared lookup", err, store.ErrNotFound)
	}},
	{name: "UpdateGrantFnErrorWritesNothingAndIsReturned", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		g := newGrant("g1", "code", base)
		g.UsedAt = base.Add(time.Minute)
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		_, err := s.UpdateGrant(ctx, "g1", func(g *store.Grant) error {
			g.Lookup = "changed"
			g.Data[0] = '['
			g.RevokedAt = base.Add(time.Hour)
			return useGrant(base.Add(time.Hour))(g) // used already: fails
		})
		wantErr(t, "UpdateGrant", err, errGrantUsed)
		got, err := s.GetGrant(ctx, "g1")
		must(t, "GetGrant", err)
		same(t, "GetGrant after failed update", got, g)
	}},
	{name: "UpdateGrantCannotChangeID", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		g := newGrant("g1", "code", base)
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		got, err := s.UpdateGrant(ctx, "g1", func(g *store.Grant) error {
			g.ID = "g2"
			g.UsedAt = base.Add(time.Minute)
			return nil
		})
		must(t, "UpdateGrant", err)
		want := g
		want.UsedAt = base.Add(time.Minute)
		same(t, "UpdateGrant result", got, want)
		_, err = s.GetGrant(ctx, "g2")
		wantErr(t, "GetGrant g2", err, store.ErrNotFound)
	}},
	{name: "UpdateGrantToTakenLookupIsConflictAndWritesNothing", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "CreateGrant g1", s.CreateGrant(ctx, newGrant("g1", "code", base)))
		g2 := newGrant("g2", "code", base)
		must(t, "CreateGrant g2", s.CreateGrant(ctx, g2))
		g3 := newGrant("g3", "access_token", base)
		g3.Lookup = "lookup-g1"
		must(t, "CreateGrant g3", s.CreateGrant(ctx, g3))
		_, err := s.UpdateGrant(ctx, "g2", func(g *store.Grant) error {
			g.Lookup = "lookup-g1"
			g.UsedAt = base.Add(time.Minute)
			return nil
		})
		wantErr(t, "UpdateGrant to a taken lookup", err, store.ErrConflict)
		// Moving g3 into the kind where its lookup is taken is the same.
		_, err = s.UpdateGrant(ctx, "g3", func(g *store.Grant) error { g.Kind = "code"; return nil })
		wantErr(t, "UpdateGrant to a kind where the lookup is taken", err, store.ErrConflict)
		for _, want := range []store.Grant{g2, g3} {
			got, err := s.GetGrant(ctx, want.ID)
			must(t, "GetGrant "+want.ID, err)
			same(t, "GetGrant "+want.ID+" after conflict", got, want)
		}
		// A lookup taken in another kind only is free.
		got, err := s.UpdateGrant(ctx, "g3", func(g *store.Grant) error { g.Lookup = "lookup-g2"; return nil })
		must(t, "UpdateGrant to a lookup of another kind", err)
		g3.Lookup = "lookup-g2"
		same(t, "UpdateGrant to a lookup of another kind", got, g3)
	}},
	{name: "ConcurrentUpdateGrantUsesItOnce", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		g := newGrant("g1", "code", base)
		must(t, "CreateGrant", s.CreateGrant(ctx, g))
		errs := race(func(i int) error {
			_, err := s.UpdateGrant(ctx, "g1", useGrant(base.Add(time.Duration(i+1)*time.Second)))
			return err
		})
		winner := oneWinner(t, errs, errGrantUsed)
		got, err := s.GetGrant(ctx, "g1")
		must(t, "GetGrant", err)
		g.UsedAt = base.Add(time.Duration(winner+1) * time.Second)
		same(t, "GetGrant", got, g)
	}},
	{name: "DeleteGrantRemovesOnlyThatGrant", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "CreateGrant g1", s.CreateGrant(ctx, newGrant("g1", "code", base)))
		g2 := newGrant("g2", "code", base)
		must(t, "CreateGrant g2", s.CreateGrant(ctx, g2))
		must(t, "DeleteGrant", s.DeleteGrant(ctx, "g1"))
		wantErr(t, "DeleteGrant again", s.DeleteGrant(ctx, "g1"), store.ErrNotFound)
		_, err := s.GetGrant(ctx, "g1")
		wantErr(t, "GetGrant g1", err, store.ErrNotFound)
		_, err = s.GetGrantByLookup(ctx, "code", "lookup-g1")
		wantErr(t, "GetGrantByLookup g1", err, store.ErrNotFound)
		got := wantGrants(t, s, "after DeleteGrant", store.GrantFilter{Family: "family-1"}, "g2")
		if len(got) == 1 {
			same(t, "ListGrants", got[0], g2)
		}
		// ID and lookup are free again.
		must(t, "CreateGrant g1 again", s.CreateGrant(ctx, newGrant("g1", "code", base)))
	}},
	{name: "GarbageCollectDeletesGrantsGCGracePastExpiryOnly", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		now := base.Add(48 * time.Hour)
		cut := now.Add(-store.GCGrace)
		mk := func(id string, expires time.Time) store.Grant {
			g := newGrant(id, "code", base)
			g.ExpiresAt = expires
			return g
		}
		gone := []store.Grant{mk("g-long", base.Add(time.Minute)), mk("g-cut", cut)}
		// Expired, but not long enough ago; revoked and used ones wait too.
		kept := []store.Grant{mk("g-after-cut", cut.Add(time.Millisecond)), mk("g-recent", now.Add(-time.Minute)),
			mk("g-live", now.Add(time.Hour))}
		revoked := mk("g-revoked", now.Add(-time.Hour))
		revoked.RevokedAt, revoked.UsedAt = base.Add(time.Second), base.Add(time.Second)
		kept = append(kept, revoked)
		for _, g := range append(slices.Clone(gone), kept...) {
			must(t, "CreateGrant "+g.ID, s.CreateGrant(ctx, g))
		}
		res, err := s.GarbageCollect(ctx, now)
		must(t, "GarbageCollect", err)
		if res.Deleted != 2 {
			t.Errorf("Deleted = %d, want 2 grants", res.Deleted)
		}
		for _, g := range gone {
			_, err := s.GetGrant(ctx, g.ID)
			wantErr(t, "GetGrant "+g.ID, err, store.ErrNotFound)
			_, err = s.GetGrantByLookup(ctx, g.Kind, g.Lookup)
			wantErr(t, "GetGrantByLookup "+g.ID, err, store.ErrNotFound)
		}
		for _, want := range kept {
			got, err := s.GetGrant(ctx, want.ID)
			must(t, "GetGrant "+want.ID, err)
			same(t, "GetGrant "+want.ID+" (kept)", got, want)
		}
		res, err = s.GarbageCollect(ctx, now)
		must(t, "GarbageCollect again", err)
		if res.Deleted != 0 {
			t.Errorf("second GarbageCollect deleted %d rows, want none", res.Deleted)
		}
	}},
}

package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

var userTests = []test{
	{name: "CreateUserThenGetByIDAndLoginRoundTripsEveryField", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		u := newUser("u1", "alice")
		must(t, "CreateUser", s.CreateUser(ctx, u))

		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		same(t, "GetUser", got, u)

		got, err = s.GetUserByLogin(ctx, "alice")
		must(t, "GetUserByLogin", err)
		same(t, "GetUserByLogin", got, u)
	}},
	{name: "UserTimesRoundTripAtMillisecondsInUTC", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		u := newUser("u1", "alice")
		u.CreatedAt = time.Date(2031, 1, 2, 3, 4, 5, 999_999_999, time.FixedZone("UTC-7", -7*60*60))
		u.RiskSince = time.Date(1999, 12, 31, 23, 59, 59, 1_000_000, time.UTC)
		u.LockedUntil = time.Now() // carries a monotonic reading
		must(t, "CreateUser", s.CreateUser(ctx, u))

		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		if want := time.Date(2031, 1, 2, 10, 4, 5, 999_000_000, time.UTC); !got.CreatedAt.Equal(want) || got.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt = %v, want %v", got.CreatedAt, want)
		}
		same(t, "GetUser", got, u)
	}},
	{name: "UserZeroTimesStayZero", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		u := store.User{ID: "u1", Login: "alice"}
		must(t, "CreateUser", s.CreateUser(ctx, u))
		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		for name, tm := range map[string]time.Time{"CreatedAt": got.CreatedAt, "RiskSince": got.RiskSince, "LockedUntil": got.LockedUntil} {
			if !tm.IsZero() {
				t.Errorf("%s = %v, want the zero time", name, tm)
			}
		}
		same(t, "GetUser", got, u)
	}},
	{name: "UserNilAndEmptyGroupsAndProfileAreAlike", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		nilUser := store.User{ID: "u1", Login: "alice"}
		emptyUser := store.User{ID: "u2", Login: "bob", Groups: []string{}, Profile: map[string]string{}}
		must(t, "CreateUser nil", s.CreateUser(ctx, nilUser))
		must(t, "CreateUser empty", s.CreateUser(ctx, emptyUser))
		for _, id := range []string{"u1", "u2"} {
			got, err := s.GetUser(ctx, id)
			must(t, "GetUser", err)
			if len(got.Groups) != 0 || len(got.Profile) != 0 {
				t.Errorf("user %s: Groups %#v, Profile %#v, want both empty", id, got.Groups, got.Profile)
			}
		}
	}},
	{name: "CreateUserWithTakenIDIsConflict", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "CreateUser", s.CreateUser(ctx, newUser("u1", "alice")))
		wantErr(t, "CreateUser same id", s.CreateUser(ctx, newUser("u1", "bob")), store.ErrConflict)
		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		if got.Login != "alice" {
			t.Errorf("Login = %q after the conflict, want alice", got.Login)
		}
		if _, err := s.GetUserByLogin(ctx, "bob"); err == nil {
			t.Error("the conflicting user was stored")
		}
	}},
	{name: "CreateUserWithTakenLoginIsConflict", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "CreateUser", s.CreateUser(ctx, newUser("u1", "alice")))
		wantErr(t, "CreateUser same login", s.CreateUser(ctx, newUser("u2", "alice")), store.ErrConflict)
		_, err := s.GetUser(ctx, "u2")
		wantErr(t, "GetUser u2", err, store.ErrNotFound)
	}},
	{name: "LoginsAreCaseSensitiveAsStored", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		must(t, "CreateUser", s.CreateUser(ctx, newUser("u1", "alice")))
		must(t, "CreateUser", s.CreateUser(ctx, newUser("u2", "Alice")))
		got, err := s.GetUserByLogin(ctx, "Alice")
		must(t, "GetUserByLogin", err)
		if got.ID != "u2" {
			t.Errorf("GetUserByLogin(Alice) = %s, want u2", got.ID)
		}
	}},
	{name: "MissingUserIsNotFound", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		_, err := s.GetUser(ctx, "nobody")
		wantErr(t, "GetUser", err, store.ErrNotFound)
		_, err = s.GetUserByLogin(ctx, "nobody")
		wantErr(t, "GetUserByLogin", err, store.ErrNotFound)
		called := false
		_, err = s.UpdateUser(ctx, "nobody", func(*store.User) error { called = true; return nil })
		wantErr(t, "UpdateUser", err, store.ErrNotFound)
		if called {
			t.Error("UpdateUser called fn for a missing user")
		}
	}},
	{name: "ListUsersSortsByLogin", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		got, err := s.ListUsers(ctx)
		must(t, "ListUsers empty", err)
		if len(got) != 0 {
			t.Fatalf("ListUsers on an empty store = %d users", len(got))
		}
		// Neither ID order nor creation order is login order.
		for _, u := range [][2]string{{"u1", "carol"}, {"u2", "alice"}, {"u3", "dave"}, {"u4", "bob"}} {
			must(t, "CreateUser", s.CreateUser(ctx, newUser(u[0], u[1])))
		}
		got, err = s.ListUsers(ctx)
		must(t, "ListUsers", err)
		var logins []string
		for _, u := range got {
			logins = append(logins, u.Login)
			same(t, "ListUsers "+u.ID, u, newUser(u.ID, u.Login))
		}
		want := []string{"alice", "bob", "carol", "dave"}
		if !slices.Equal(logins, want) {
			t.Errorf("ListUsers logins = %q, want %q", logins, want)
		}
	}},
	{name: "UpdateUserAppliesFnAndReturnsTheStoredUser", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		u := createUser(t, s, "u1")
		got, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
			u.Status = store.UserSuspended
			u.Groups = append(u.Groups, "auditors")
			u.Profile["team"] = "security"
			u.FailedAttempts++
			u.LockedUntil = base.Add(24 * time.Hour)
			u.RiskSince = time.Time{}
			return nil
		})
		must(t, "UpdateUser", err)
		want := u
		want.Status = store.UserSuspended
		want.Groups = []string{"staff", "admins", "auditors"}
		want.Profile = map[string]string{"name": "User u1", "team": "security"}
		want.FailedAttempts = 3
		want.LockedUntil = base.Add(24 * time.Hour)
		want.RiskSince = time.Time{}
		same(t, "UpdateUser result", got, want)
		stored, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		same(t, "GetUser after UpdateUser", stored, want)
	}},
	{name: "UpdateUserFnSeesTheStoredUser", run: func(t *testing.T, s store.Store) {
		u := createUser(t, s, "u1")
		_, err := s.UpdateUser(t.Context(), "u1", func(got *store.User) error {
			same(t, "fn argument", *got, u)
			return nil
		})
		must(t, "UpdateUser", err)
	}},
	{name: "UpdateUserFnErrorWritesNothingAndIsReturned", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		u := createUser(t, s, "u1")
		_, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
			u.Login = "changed"
			u.Status = store.UserSuspended
			u.Groups[0] = "changed"
			u.Profile["team"] = "changed"
			return errFn
		})
		wantErr(t, "UpdateUser", err, errFn)
		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		same(t, "GetUser after failed update", got, u)
	}},
	{name: "UpdateUserToTakenLoginIsConflictAndWritesNothing", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		u2 := createUser(t, s, "u2")
		_, err := s.UpdateUser(ctx, "u2", func(u *store.User) error {
			u.Login = "login-u1"
			u.Email = "changed@example.com"
			return nil
		})
		wantErr(t, "UpdateUser", err, store.ErrConflict)
		got, err := s.GetUser(ctx, "u2")
		must(t, "GetUser", err)
		same(t, "GetUser after conflict", got, u2)
	}},
	{name: "ConcurrentUpdateUserLosesNoUpdate", run: func(t *testing.T, s store.Store) {
		ctx := t.Context()
		createUser(t, s, "u1")
		errs := race(func(int) error {
			_, err := s.UpdateUser(ctx, "u1", func(u *store.User) error {
				u.FailedAttempts++
				return nil
			})
			return err
		})
		for i, err := range errs {
			must(t, fmt.Sprint("UpdateUser ", i), err)
		}
		got, err := s.GetUser(ctx, "u1")
		must(t, "GetUser", err)
		if want := 2 + concurrency; got.FailedAttempts != want {
			t.Errorf("FailedAttempts = %d after %d concurrent increments from 2, want %d", got.FailedAttempts, concurrency, want)
		}
	}},
}

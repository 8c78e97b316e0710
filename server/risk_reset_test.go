package server

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// TestRiskResetEndsAReportsWeight: a reported push makes a user's sign-ins
// high risk for seven days; an administrator's reset ends that at once,
// and a report after the reset counts again.
func TestRiskResetEndsAReportsWeight(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	clock := fakeclock.New(time.Now())
	s, err := New(ctx, Options{URL: "http://127.0.0.1:8080", Store: st, SealKey: crypto.RandomBytes(32), Now: clock.Now,
		PasswordParams: crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown() })
	u := testUser(t, s, "bob")
	report := func() {
		t.Helper()
		s.audit(ctx, store.AuditEvent{Type: "push.reported", UserID: u.ID})
		if _, err := s.st.UpdateUser(ctx, u.ID, func(u *store.User) error { u.Risk, u.RiskSince = "high", s.now(); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	reported := func() bool {
		t.Helper()
		fresh, err := s.st.GetUser(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return slices.Contains(s.assessRisk(ctx, fresh, "192.0.2.1", "browser").Reasons, "a push was reported as not made by the user")
	}
	report()
	if !reported() {
		t.Fatal("a reported push does not weigh on the risk")
	}
	clock.Advance(time.Minute)
	if _, err := s.ResetUserRisk(ctx, u.ID, "admin root"); err != nil {
		t.Fatal(err)
	}
	if reported() {
		t.Fatal("after the reset the old report still weighs on the risk")
	}
	clock.Advance(time.Minute)
	report()
	if !reported() {
		t.Fatal("a report after the reset does not weigh on the risk")
	}
}

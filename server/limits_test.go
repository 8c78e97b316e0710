package server

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server/policy"
)

func TestBackoffDoublesUpToItsCeiling(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 5: 16 * time.Second,
		11: 15 * time.Minute, 64: 15 * time.Minute, 1 << 20: 15 * time.Minute} {
		if got := backoff(time.Second, 15*time.Minute, n); got != want {
			t.Errorf("backoff(%d) = %s, want %s", n, got, want)
		}
	}
}

func TestSourcesAreAddressesOrIPv6Networks(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":            "203.0.113.7",
		"::ffff:203.0.113.7":     "203.0.113.7",
		"2001:db8:1:2:3:4:5:6":   "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1":   "2001:db8:1:2::/64",
		"":                       "unknown",
		"not an address":         "unknown",
		"2001:db8:1:3:3:4:5:6:7": "unknown",
	} {
		if got := sourceOf(in); got != want {
			t.Errorf("sourceOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRequestThrottleSlowsASourceDownAndForgives(t *testing.T) {
	var th reqThrottle
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		if _, ok := th.allow("a", now, 10, time.Second, time.Hour); !ok {
			t.Fatalf("request %d refused under the rate", i)
		}
	}
	wait, ok := th.allow("a", now, 10, time.Second, time.Hour)
	if ok || wait != time.Second {
		t.Fatalf("over the rate: ok %v wait %s, want a 1s wait", ok, wait)
	}
	if _, ok := th.allow("b", now, 10, time.Second, time.Hour); !ok {
		t.Fatal("another source was slowed down")
	}
	// Still over in the same minute: the wait doubles.
	now = now.Add(time.Second)
	if wait, ok := th.allow("a", now, 10, time.Second, time.Hour); ok || wait != 2*time.Second {
		t.Fatalf("second strike: ok %v wait %s", ok, wait)
	}
	// A quiet minute later the source starts afresh.
	now = now.Add(2 * time.Minute)
	for i := range 10 {
		if _, ok := th.allow("a", now, 10, time.Second, time.Hour); !ok {
			t.Fatalf("after a quiet minute, request %d refused", i)
		}
	}
}

func TestGuessesAreChargedBeforeTheCheckAndNeverPassTheLimit(t *testing.T) {
	s := newTestServer(t)
	clock := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s.opts.Now = clock.Now
	ctx := context.Background()
	g := guess{ip: "198.51.100.7", login: "ann"}
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.chargeGuess(ctx, g) == nil {
				allowed.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != int32(s.eng.limits.FreeFailures) {
		t.Fatalf("%d of 50 parallel guesses were let through; want exactly %d", n, s.eng.limits.FreeFailures)
	}
	err := s.chargeGuess(ctx, g)
	var ae *apiError
	if !errors.As(err, &ae) || ae.Code != "too_many_attempts" || ae.RetryAfter < 1 {
		t.Fatalf("after the limit: %v", err)
	}
	// Another source guessing the same login is not slowed down by it.
	if err := s.chargeGuess(ctx, guess{ip: "198.51.100.8", login: "ann"}); err != nil {
		t.Fatalf("another source: %v", err)
	}
	// After the wait, one more; a success clears the login's counters.
	clock.Advance(time.Second)
	if err := s.chargeGuess(ctx, g); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
	s.clearGuesses(ctx, g)
	for i := range s.eng.limits.FreeFailures {
		if err := s.chargeGuess(ctx, g); err != nil {
			t.Fatalf("after a success, guess %d: %v", i, err)
		}
	}
}

func TestAccountCeilingsStopOnlyTheirKindOfSource(t *testing.T) {
	s := newTestServer(t)
	clock := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	s.opts.Now = clock.Now
	ctx := context.Background()
	l := s.eng.limits
	if l.AccountFailures+l.FamiliarFailures+l.DeviceFailures > maxConsecutiveFailures {
		t.Fatalf("ceilings add up to %d, over NIST's 100", l.AccountFailures+l.FamiliarFailures+l.DeviceFailures)
	}
	// Strangers from many addresses, each under its own limits.
	failed := 0
	for i := 0; i < 200; i++ {
		ip := "203.0." + strconv.Itoa(i/100) + "." + strconv.Itoa(i%100+1)
		if s.chargeGuess(ctx, guess{ip: ip, login: "bea"}) == nil {
			failed++
		}
	}
	if failed != l.AccountFailures {
		t.Fatalf("strangers got %d checks, want %d", failed, l.AccountFailures)
	}
	if !s.accountThrottled(ctx, "bea") {
		t.Fatal("the account does not show as closed to strangers")
	}
	// The owner's known device is not stopped by them.
	if err := s.chargeGuess(ctx, guess{ip: "203.0.0.1", login: "bea", device: "dev-hash", familiar: true}); err != nil {
		t.Fatalf("the owner's known device: %v", err)
	}
	// A success from it opens the account to everyone again.
	s.clearGuesses(ctx, guess{ip: "203.0.0.1", login: "bea", device: "dev-hash", familiar: true})
	if err := s.chargeGuess(ctx, guess{ip: "192.0.2.1", login: "bea"}); err != nil {
		t.Fatalf("a stranger after the owner's success: %v", err)
	}
}

func TestPushBudgetIsAtomicAndApprovalsGiveItBack(t *testing.T) {
	s := newTestServer(t)
	ctx := context.Background()
	max := s.opts.Policy.Push.MaxUnanswered
	var sent atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.chargePush(ctx, "usr_x") == nil {
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	if int(sent.Load()) != max {
		t.Fatalf("%d of 20 parallel pushes went, want %d", sent.Load(), max)
	}
	if err := s.chargePush(ctx, "usr_x"); !errors.Is(err, errPushLimited) {
		t.Fatalf("over the budget: %v", err)
	}
	s.refundPush(ctx, "usr_x")
	if err := s.chargePush(ctx, "usr_x"); err != nil {
		t.Fatalf("after an approval: %v", err)
	}
}

func TestFactorsMeetRules(t *testing.T) {
	two := &policy.Decision{Action: policy.Action{Factors: 2, Possession: true, Authenticators: policy.DefaultAuthenticators()}}
	passwordless := &policy.Decision{Action: policy.Action{Factors: 1, Possession: true, Authenticators: policy.DefaultAuthenticators()}}
	one := &policy.Decision{Action: policy.Action{Factors: 1, Authenticators: []string{"push", "totp"}}}
	uv := &policy.Decision{Action: policy.Action{Factors: 2, Possession: true, Authenticators: policy.DefaultAuthenticators(), UserVerification: policy.UVRequired}}
	pr := &policy.Decision{Action: policy.Action{Factors: 2, Possession: true, Authenticators: policy.DefaultAuthenticators()}.ForRisk("low")}
	pr.Action.PhishingResistant = policy.PhishingRequired
	pr.Action = pr.Action.Stricter(pr.Action)
	pushOnly := &policy.Decision{Action: policy.Action{Factors: 2, Possession: true, Authenticators: []string{"push"}}}
	for _, c := range []struct {
		d    *policy.Decision
		fs   factors
		want bool
	}{
		{two, factors{Done: []string{sdk.AuthPassword}}, false},
		{two, factors{Done: []string{sdk.AuthPassword, sdk.AuthPush}}, true},
		{two, factors{Done: []string{sdk.AuthEmail, sdk.AuthPush}}, false}, // a recovery's factors
		{two, factors{Done: []string{sdk.AuthPassword, sdk.AuthEmail}}, false},
		{passwordless, factors{Done: []string{sdk.AuthPassword}}, false},
		{passwordless, factors{Done: []string{sdk.AuthTOTP}}, true},
		{passwordless, factors{Done: []string{authEnrolled}}, true},
		{one, factors{Done: []string{sdk.AuthPassword}}, true},
		{one, factors{Done: []string{sdk.AuthPush}}, true},
		{uv, factors{Done: []string{sdk.AuthPassword, sdk.AuthPush}}, false},
		{uv, factors{Done: []string{sdk.AuthPassword, sdk.AuthPush}, UV: true}, true},
		{&policy.Decision{Action: policy.Action{Deny: true}}, factors{Done: []string{sdk.AuthPassword, sdk.AuthPush}, UV: true}, false},
		// A passkey that verified the person is two factors; one that did
		// not is possession only.
		{two, factors{Done: []string{sdk.AuthWebAuthn}, PRUV: true}, true},
		{two, factors{Done: []string{sdk.AuthWebAuthn}}, false},
		{two, factors{Done: []string{sdk.AuthPassword, sdk.AuthWebAuthn}}, true},
		{passwordless, factors{Done: []string{sdk.AuthSameDevice}}, true},
		{uv, factors{Done: []string{sdk.AuthPassword, sdk.AuthWebAuthn}}, false},
		{uv, factors{Done: []string{sdk.AuthPassword, sdk.AuthWebAuthn}, PRUV: true}, true},
		// A push verified the person; that does not make a passkey verified.
		{uv, factors{Done: []string{sdk.AuthPassword, sdk.AuthSameDevice}, UV: true}, false},
		// Phishing resistance: a push or a code never counts.
		{pr, factors{Done: []string{sdk.AuthPassword, sdk.AuthPush}, UV: true}, false},
		{pr, factors{Done: []string{sdk.AuthPassword, sdk.AuthTOTP}}, false},
		{pr, factors{Done: []string{sdk.AuthPassword, authEnrolled}}, false},
		{pr, factors{Done: []string{sdk.AuthPassword, sdk.AuthSameDevice}}, true},
		{pr, factors{Done: []string{sdk.AuthWebAuthn}, PRUV: true}, true},
		{pr, factors{Done: []string{sdk.AuthPassword, authPhR}}, true},
		// A rule that does not allow passkeys does not count them.
		{pushOnly, factors{Done: []string{sdk.AuthPassword, sdk.AuthWebAuthn}, PRUV: true}, false},
		{pushOnly, factors{Done: []string{sdk.AuthWebAuthn}, PRUV: true}, false},
	} {
		if got := factorsMeet(c.d, c.fs); got != c.want {
			t.Errorf("factorsMeet(%+v, %+v) = %v, want %v", c.d.Action, c.fs, got, c.want)
		}
	}
}

func TestAMRRoundTrips(t *testing.T) {
	amr := amrFor(factors{Done: []string{sdk.AuthEmail, sdk.AuthPassword, sdk.AuthPush}, UV: true})
	if want := []string{AMREmail, AMRPassword, AMRPush, AMRUser, AMRMFA}; !slices.Equal(amr, want) {
		t.Fatalf("amr = %v, want %v", amr, want)
	}
	fs := authsOf(amr)
	if !fs.UV || fs.PRUV || len(fs.Done) != 3 {
		t.Fatalf("authsOf(%v) = %+v", amr, fs)
	}
	if got := amrFor(factors{Done: []string{sdk.AuthPassword}, UV: true}); !slices.Equal(got, []string{AMRPassword}) {
		t.Fatalf("a password alone = %v (no user verification, no mfa)", got)
	}
	for _, c := range []struct {
		fs   factors
		want []string
	}{
		{factors{Done: []string{sdk.AuthWebAuthn}, PRUV: true, HWK: true}, []string{AMRHardware, AMRPhR, AMRUser, AMRMFA}},
		{factors{Done: []string{sdk.AuthWebAuthn}, PRUV: true}, []string{AMRPush, AMRPhR, AMRUser, AMRMFA}},
		{factors{Done: []string{sdk.AuthWebAuthn}, HWK: true}, []string{AMRHardware, AMRPhR}},
		{factors{Done: []string{sdk.AuthPassword, sdk.AuthSameDevice}}, []string{AMRPassword, AMRPush, AMRPhR, AMRMFA}},
	} {
		got := amrFor(c.fs)
		if !slices.Equal(got, c.want) {
			t.Errorf("amrFor(%+v) = %v, want %v", c.fs, got, c.want)
		}
		back := authsOf(got)
		if !slices.Contains(back.Done, authPhR) || back.PRUV != c.fs.PRUV || back.HWK != c.fs.HWK {
			t.Errorf("authsOf(%v) = %+v: the phishing-resistant factor is lost", got, back)
		}
	}
}

package server

// Throttles and lockout, built so that they cannot be turned into a weapon
// against the account holder (DESIGN.md, "Limits"):
//
//   - Unauthenticated requests (interact, identify, recovery, magic links,
//     enrollment) are counted per source address on each node, in memory;
//     past SourceRate a minute the source waits, twice as long for every
//     minute it stays over.
//   - Failed password and code checks are counted in the store, shared by
//     every node, and charged BEFORE the check they guard: the counter is
//     raised and read in one locked update, so that no number of parallel
//     guesses gets more checks than the limit allows. A success clears the
//     counters of that login. Three counters apply to a guess:
//     the source (every login it tries: password spraying), the source and
//     login (a targeted guesser; FreeFailures, then exponential back-off),
//     and the account. For the account, three kinds of source count apart:
//     strangers (AccountFailures), the networks the account signed in from
//     (FamiliarFailures) and its known devices (DeviceFailures). Strangers
//     that use up theirs stop only strangers, someone on the owner's
//     network stops only that network, and together no account ever sees
//     more than 100 consecutive failures (NIST SP 800-63B 5.2.2). A known
//     device is its own source, so an attacker behind the same address as
//     the owner cannot slow it down either.
//   - Logins are keyed by a hash of the login typed, whether or not it
//     exists: a known and an unknown login are throttled alike.

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Limits are the engine's throttles. Zero fields take the defaults.
type Limits struct {
	// SourceRate is how many unauthenticated requests (interact, identify,
	// recovery, magic links, enrollment) one source address may make a
	// minute on one node before it is slowed down; negative turns the
	// throttle off (load tests from one address).
	SourceRate int
	// FreeFailures failed guesses of one login from one source come
	// before back-off starts; SourceFreeFailures across every login.
	FreeFailures       int
	SourceFreeFailures int
	// BackoffBase doubles with each further failure, up to BackoffMax.
	BackoffBase, BackoffMax time.Duration
	// AccountFailures consecutive failures from sources an account never
	// signed in from stop further tries from such sources;
	// FamiliarFailures from the networks it signed in from, DeviceFailures
	// from its known devices.
	AccountFailures, FamiliarFailures, DeviceFailures int
	// RecoveryPushes a source may set off for one login in the push
	// window, and SourceRecoveryPushes for every login.
	RecoveryPushes, SourceRecoveryPushes int
	// Mails is how many magic links one user is sent in the push window.
	Mails int
	// AnswerFloor is the shortest time a step takes before the person has
	// passed a factor: the work behind it differs for a login that exists
	// (its history is read, its device is pushed to), and its timing must
	// not tell. Negative turns it off (load tests).
	AnswerFloor time.Duration
}

// maxConsecutiveFailures is NIST SP 800-63B's ceiling for one account.
const maxConsecutiveFailures = 100

func (l Limits) withDefaults() Limits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	if l.SourceRate == 0 {
		l.SourceRate = 600
	}
	def(&l.FreeFailures, 5)
	def(&l.SourceFreeFailures, 100)
	def(&l.AccountFailures, 80)
	def(&l.FamiliarFailures, 10)
	def(&l.DeviceFailures, 10)
	def(&l.RecoveryPushes, 2)
	def(&l.SourceRecoveryPushes, 10)
	def(&l.Mails, 5)
	// Together they stay within NIST's 100.
	if l.FamiliarFailures+l.DeviceFailures > maxConsecutiveFailures-1 {
		l.FamiliarFailures, l.DeviceFailures = 10, 10
	}
	l.AccountFailures = min(l.AccountFailures, maxConsecutiveFailures-l.FamiliarFailures-l.DeviceFailures)
	if l.BackoffBase <= 0 {
		l.BackoffBase = time.Second
	}
	if l.AnswerFloor == 0 {
		l.AnswerFloor = 20 * time.Millisecond
	}
	if l.BackoffMax <= 0 {
		l.BackoffMax = 15 * time.Minute
	}
	return l
}

// sourceOf is the unit a source is throttled by: an IPv4 address, or the
// /64 of an IPv6 one (a single host usually holds a whole /64).
func sourceOf(ip string) string {
	p := net.ParseIP(ip)
	if p == nil {
		return "unknown"
	}
	if v4 := p.To4(); v4 != nil {
		return v4.String()
	}
	return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// loginKey is how a login appears in a counter's key: hashed, because
// people type passwords into the login field.
func loginKey(login string) string { return crypto.HashToken("login:" + login)[:22] }

// errThrottled is the answer to a source or login that must wait.
func errThrottled(wait time.Duration) error {
	secs := max(1, int(math.Ceil(wait.Seconds())))
	e := apiErr(http.StatusTooManyRequests, "too_many_attempts",
		"too many attempts; wait %s and try again", (time.Duration(secs) * time.Second).String())
	e.RetryAfter = secs
	return e
}

// errAccountThrottled is the answer once an account's failures from new
// sources are used up: the same for every login, existing or not.
var errAccountThrottled = func() error {
	e := apiErr(http.StatusTooManyRequests, "too_many_attempts",
		"too many failed attempts on this account from new devices and networks; sign in from a device you have used before, or reset the password")
	e.RetryAfter = 3600
	return e
}()

// reqThrottle counts one node's unauthenticated requests per source.
type reqThrottle struct {
	mu    sync.Mutex
	m     map[string]*reqState
	swept time.Time
}

type reqState struct {
	window  time.Time
	n       int
	strikes int
	until   time.Time
	last    time.Time
}

// allow counts a request of key and says how long it must wait when it is
// over the rate.
func (t *reqThrottle) allow(key string, now time.Time, rate int, base, maxWait time.Duration) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]*reqState{}
	}
	if now.Sub(t.swept) > time.Minute {
		for k, st := range t.m {
			if now.Sub(st.last) > time.Hour && !now.Before(st.until) {
				delete(t.m, k)
			}
		}
		t.swept = now
	}
	st := t.m[key]
	if st == nil {
		st = &reqState{window: now}
		t.m[key] = st
	}
	st.last = now
	if now.Before(st.until) {
		return st.until.Sub(now), false
	}
	if now.Sub(st.window) >= time.Minute {
		if st.n <= rate {
			st.strikes = 0
		}
		st.window, st.n = now, 0
	}
	st.n++
	if st.n <= rate {
		return 0, true
	}
	st.strikes++
	st.until = now.Add(backoff(base, maxWait, st.strikes))
	return st.until.Sub(now), false
}

// backoff is base doubled n-1 times, at most maxWait.
func backoff(base, maxWait time.Duration, n int) time.Duration {
	if n <= 1 {
		return min(base, maxWait)
	}
	if n > 40 {
		return maxWait
	}
	return min(base<<(n-1), maxWait)
}

// allowRequest throttles an unauthenticated request from ip.
func (s *Server) allowRequest(ip string) error {
	l := s.eng.limits
	if l.SourceRate < 0 {
		return nil
	}
	wait, ok := s.eng.reqs.allow(sourceOf(ip), s.now(), l.SourceRate, l.BackoffBase, l.BackoffMax)
	if !ok {
		s.metrics.errors.WithLabelValues("throttled").Inc()
		return errThrottled(wait)
	}
	return nil
}

// A guess is a password or code check. Its counters, charged before the
// check.
type guess struct {
	ip, login string
	// device is the browser's or app's hashed id when the account knows
	// it; familiar says the account has signed in from this device or
	// network before.
	device   string
	familiar bool
}

type counterRule struct {
	key   string
	free  int           // failures before back-off
	decay time.Duration // a quiet counter starts again after this
	hard  int           // a ceiling that only a success clears; 0: none
	err   error         // the answer past the ceiling
}

// Keys of the account-wide counters of a login, by kind of source.
func accountKeys(login string) (stranger, network, device string) {
	k := loginKey(login)
	return "g:a:" + k, "g:af:" + k, "g:ad:" + k
}

func (s *Server) guessRules(g guess) []counterRule {
	l := s.eng.limits
	login := loginKey(g.login)
	stranger, network, device := accountKeys(g.login)
	if g.device != "" {
		// A known device is a source of its own: nobody else can present
		// it, so nobody else can slow it down.
		return []counterRule{
			{key: "g:dl:" + g.device + ":" + login, free: l.FreeFailures, decay: 24 * time.Hour},
			{key: device, hard: l.DeviceFailures, err: errAccountThrottled},
		}
	}
	src := sourceOf(g.ip)
	rules := []counterRule{
		{key: "g:sl:" + src + ":" + login, free: l.FreeFailures, decay: 24 * time.Hour},
		{key: "g:s:" + src, free: l.SourceFreeFailures, decay: time.Hour},
	}
	if g.familiar {
		return append(rules, counterRule{key: network, hard: l.FamiliarFailures, err: errAccountThrottled})
	}
	return append(rules, counterRule{key: stranger, hard: l.AccountFailures, err: errAccountThrottled})
}

// errBlocked carries the wait out of a counter update.
type errBlocked struct{ err error }

func (e errBlocked) Error() string { return e.err.Error() }

// chargeGuess counts one more failed guess before the check happens. It
// refuses when a counter says to wait; the check must not run then.
func (s *Server) chargeGuess(ctx context.Context, g guess) error {
	l := s.eng.limits
	now := s.now()
	for _, r := range s.guessRules(g) {
		_, err := s.st.UpdateCounter(ctx, r.key, func(c *store.Counter) error {
			if now.Before(c.Until) {
				if r.hard > 0 && c.Count >= r.hard {
					return errBlocked{r.err}
				}
				return errBlocked{errThrottled(c.Until.Sub(now))}
			}
			if r.hard == 0 && !c.Last.IsZero() && now.Sub(c.Last) > r.decay {
				c.Count = 0
			}
			c.Count++
			c.Last = now
			switch {
			case r.hard > 0:
				if c.Count >= r.hard {
					c.Until = now.Add(100 * 365 * 24 * time.Hour)
				}
				c.ExpiresAt = now.Add(90 * 24 * time.Hour)
			default:
				if c.Count >= r.free {
					c.Until = now.Add(backoff(l.BackoffBase, l.BackoffMax, c.Count-r.free+1))
				}
				c.ExpiresAt = now.Add(r.decay + l.BackoffMax)
			}
			return nil
		})
		var b errBlocked
		if errors.As(err, &b) {
			return b.err
		} else if err != nil {
			return s.internal("throttle: count a guess", err)
		}
	}
	return nil
}

// clearGuesses forgets a login's failures after a success: the failures
// in a row are over, from every kind of source. The source's own count
// across logins stays (one good account must not clear a sprayer's
// record).
func (s *Server) clearGuesses(ctx context.Context, g guess) {
	s.resetCounter(ctx, s.guessRules(g)[0].key)
	s.clearAccount(ctx, g.login)
}

// clearAccount forgets every account-wide failure of a login (a success,
// or its password was reset).
func (s *Server) clearAccount(ctx context.Context, login string) {
	a, b, c := accountKeys(login)
	for _, key := range []string{a, b, c} {
		s.resetCounter(ctx, key)
	}
}

func (s *Server) resetCounter(ctx context.Context, key string) {
	if _, err := s.st.GetCounter(ctx, key); errors.Is(err, store.ErrNotFound) {
		return
	}
	now := s.now()
	if _, err := s.st.UpdateCounter(ctx, key, func(c *store.Counter) error {
		c.Count, c.Until, c.Last, c.ExpiresAt = 0, time.Time{}, now, now.Add(time.Hour)
		return nil
	}); err != nil {
		s.log.Error("throttle: clear counter", "err", err)
	}
}

// accountThrottled says whether strangers may no longer guess a login.
func (s *Server) accountThrottled(ctx context.Context, login string) bool {
	stranger, _, _ := accountKeys(login)
	c, err := s.st.GetCounter(ctx, stranger)
	return err == nil && c.Count >= s.eng.limits.AccountFailures && s.now().Before(c.Until)
}

// sourceThrottled says whether a source is waiting out a back-off for a
// login (or for everything): it may not set off a recovery push then.
func (s *Server) sourceThrottled(ctx context.Context, ip, login string) bool {
	now := s.now()
	src := sourceOf(ip)
	for _, key := range []string{"g:s:" + src, "g:sl:" + src + ":" + loginKey(login)} {
		if c, err := s.st.GetCounter(ctx, key); err == nil && now.Before(c.Until) {
			return true
		}
	}
	return false
}

// windowCharge counts one more in a fixed window of a counter and refuses
// past limit; the count and the check are one locked update.
func (s *Server) windowCharge(ctx context.Context, key string, limit int, window time.Duration) (int, error) {
	now := s.now()
	c, err := s.st.UpdateCounter(ctx, key, func(c *store.Counter) error {
		if c.WindowStart.IsZero() || now.Sub(c.WindowStart) >= window {
			c.Count, c.WindowStart = 0, now
		}
		if c.Count >= limit {
			return errWindowFull
		}
		c.Count++
		c.Last, c.ExpiresAt = now, c.WindowStart.Add(window)
		return nil
	})
	return c.Count, err
}

var errWindowFull = errors.New("limit reached for this window")

// windowRefund gives one back (a push that was approved).
func (s *Server) windowRefund(ctx context.Context, key string, window time.Duration) {
	now := s.now()
	if _, err := s.st.GetCounter(ctx, key); errors.Is(err, store.ErrNotFound) {
		return
	}
	_, err := s.st.UpdateCounter(ctx, key, func(c *store.Counter) error {
		if c.Count > 0 && now.Sub(c.WindowStart) < window {
			c.Count--
		}
		c.Last = now
		if c.ExpiresAt.IsZero() {
			c.ExpiresAt = now.Add(window)
		}
		return nil
	})
	if err != nil {
		s.log.Error("throttle: refund", "key", key, "err", err)
	}
}

func pushKey(userID string) string { return "p:" + userID }

// chargePush takes one push from the user's budget of unanswered pushes
// (MFA-fatigue guard), before it is sent.
func (s *Server) chargePush(ctx context.Context, userID string) error {
	pol := s.opts.Policy.Push
	n, err := s.windowCharge(ctx, pushKey(userID), pol.MaxUnanswered, pol.Window)
	if errors.Is(err, errWindowFull) {
		return errPushLimited
	} else if err != nil {
		return s.internal("push budget", err)
	}
	_ = n
	return nil
}

// refundPush gives a push back once it was approved: only unanswered,
// denied, reported and failed pushes use up the budget.
func (s *Server) refundPush(ctx context.Context, userID string) {
	s.windowRefund(ctx, pushKey(userID), s.opts.Policy.Push.Window)
}

// chargeRecoveryPush says whether a recovery push may go from this source
// to this login: the source is not being throttled, and it has not set off
// too many already. Nothing is told to the caller either way.
func (s *Server) chargeRecoveryPush(ctx context.Context, ip, login string) (bool, string) {
	if s.sourceThrottled(ctx, ip, login) {
		return false, "source throttled"
	}
	l := s.eng.limits
	window := s.opts.Policy.Push.Window
	src := sourceOf(ip)
	if _, err := s.windowCharge(ctx, "rp:s:"+src, l.SourceRecoveryPushes, window); err != nil {
		return false, "too many recovery pushes from this source"
	}
	if _, err := s.windowCharge(ctx, "rp:sl:"+src+":"+loginKey(login), l.RecoveryPushes, window); err != nil {
		return false, "too many recovery pushes for this login from this source"
	}
	return true, ""
}

// chargeMail takes one magic link from a user's budget.
func (s *Server) chargeMail(ctx context.Context, userID string) bool {
	_, err := s.windowCharge(ctx, "m:"+userID, s.eng.limits.Mails, s.opts.Policy.Push.Window)
	return err == nil
}

// padAnswer waits until at least the answer floor has passed since start
// (the wall clock, not the engine's: this is about what a caller can time).
func (s *Server) padAnswer(ctx context.Context, start time.Time) {
	wait := s.eng.limits.AnswerFloor - time.Since(start)
	if wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

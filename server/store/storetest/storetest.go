// Package storetest is the conformance suite every store.Store backend
// passes: it checks each method and each convention of package store against
// a fresh store per subtest. A backend's test calls Run:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// The suite relies on the real clock only where the interface does (UseNonce
// compares with time.Now), and leaves a wide margin there.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// Run runs the suite. open returns a new, empty store for one subtest; Run
// closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Users", userTests},
		{"Enrollment", enrollTests},
		{"Devices", deviceTests},
		{"Challenges", challengeTests},
		{"ChallengeChanges", challengeChangeTests},
		{"Transactions", transactionTests},
		{"Sessions", sessionTests},
		{"Apps", appTests},
		{"Counters", counterTests},
		{"Grants", grantTests},
		{"AdminTokens", adminTokenTests},
		{"Audit", auditTests},
		{"AuditChain", auditChainTests},
		{"Nonces", nonceTests},
		{"NonceBatches", nonceBatchTests},
		{"Secrets", secretTests},
		{"GarbageCollect", gcTests},
		{"Lifecycle", lifecycleTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					s := open(t)
					closed := false
					t.Cleanup(func() {
						if !closed {
							if err := s.Close(); err != nil {
								t.Errorf("Close: %v", err)
							}
						}
					})
					if tc.closes {
						closed = true
					}
					tc.run(t, s)
				})
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, s store.Store)
	// closes: the test closes the store itself.
	closes bool
}

// base has nanoseconds and a zone other than UTC so that round trips show
// truncation to milliseconds and conversion to UTC.
var base = time.Date(2031, time.March, 4, 5, 6, 7, 891_234_567, time.FixedZone("UTC+2", 2*60*60))

// errFn is what failing update functions return.
var errFn = errors.New("storetest: fn refuses")

// concurrency is how many goroutines race in the concurrency tests.
const concurrency = 20

// race runs fn concurrency times at once and returns the errors.
func race(fn func(i int) error) []error {
	errs := make([]error, concurrency)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one call succeeded and every other failed
// with want.
func oneWinner(t *testing.T, errs []error, want error) int {
	t.Helper()
	winner, wins := -1, 0
	for i, err := range errs {
		switch {
		case err == nil:
			winner = i
			wins++
		case !errors.Is(err, want):
			t.Errorf("call %d: %v, want %v", i, err, want)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d calls succeeded, want exactly 1", wins, len(errs))
	}
	return winner
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// norm is what a store returns for v: times at millisecond precision in UTC
// (the zero time stays zero), empty slices and maps as nil.
func norm[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		f := rv.Field(i)
		switch f.Kind() {
		case reflect.Slice, reflect.Map:
			if f.Len() == 0 {
				f.SetZero()
			}
		case reflect.Struct:
			if tm, ok := f.Interface().(time.Time); ok && !tm.IsZero() {
				f.Set(reflect.ValueOf(tm.Truncate(time.Millisecond).UTC()))
			}
		}
	}
	return v
}

// same reports every field where got differs from want (after norm), and
// every time in got that is not in UTC. Nil and empty slices and maps are
// alike.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	for _, d := range diff(got, norm(want)) {
		t.Errorf("%s: %s", what, d)
	}
}

func diff[T any](got, want T) []string {
	var ds []string
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		name := g.Type().Field(i).Name
		gf, wf := g.Field(i), w.Field(i)
		switch gv := gf.Interface().(type) {
		case time.Time:
			wv := wf.Interface().(time.Time)
			if !gv.Equal(wv) || gv.IsZero() != wv.IsZero() {
				ds = append(ds, fmt.Sprintf("%s = %v, want %v", name, gv, wv))
			} else if gv.Location() != time.UTC {
				ds = append(ds, fmt.Sprintf("%s = %v, want it in UTC", name, gv))
			}
		default:
			if (gf.Kind() == reflect.Slice || gf.Kind() == reflect.Map) && gf.Len() == 0 && wf.Len() == 0 {
				continue
			}
			if !reflect.DeepEqual(gf.Interface(), wf.Interface()) {
				ds = append(ds, fmt.Sprintf("%s = %#v, want %#v", name, gf.Interface(), wf.Interface()))
			}
		}
	}
	return ds
}

// Fixtures. Each test builds what it needs from these.

func newUser(id, login string) store.User {
	return store.User{
		ID:             id,
		Login:          login,
		Email:          login + "@example.com",
		Groups:         []string{"staff", "admins"},
		Profile:        map[string]string{"name": "User " + id, "team": "ops"},
		Status:         store.UserActive,
		PasswordHash:   "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		Risk:           "low",
		RiskSince:      base.Add(time.Hour),
		FailedAttempts: 2,
		LockedUntil:    base.Add(2 * time.Hour),
		CreatedAt:      base,
	}
}

func createUser(t *testing.T, s store.Store, id string) store.User {
	t.Helper()
	u := newUser(id, "login-"+id)
	must(t, "CreateUser "+id, s.CreateUser(t.Context(), u))
	return u
}

func newDevice(id string, created time.Time) store.Device {
	return store.Device{
		ID:            id,
		PublicKey:     []byte(`{"kty":"EC","crv":"P-256","x":"` + id + `","y":"y"}`),
		Name:          "Phone " + id,
		Platform:      "android",
		OS:            "Android 15",
		Model:         "Pixel 9",
		KeyStore:      "strongbox",
		TOTPSecret:    []byte{0, 1, 2, 0xfe, 0xff},
		TOTPAlgorithm: "SHA1",
		TOTPDigits:    6,
		TOTPPeriod:    30,
		TOTPLastStep:  1 << 40,
		CreatedAt:     created,
		LastSeen:      created.Add(time.Minute),
	}
}

func newToken(hash, userID string) store.EnrollToken {
	return store.EnrollToken{Hash: hash, UserID: userID, CreatedAt: base, ExpiresAt: base.Add(time.Hour)}
}

// enroll creates a device the only way there is: through a token.
func enroll(t *testing.T, s store.Store, userID string, d store.Device) store.Device {
	t.Helper()
	ctx := t.Context()
	must(t, "CreateEnrollToken", s.CreateEnrollToken(ctx, newToken("token-"+d.ID, userID)))
	got, err := s.CompleteEnrollment(ctx, "token-"+d.ID, base.Add(time.Minute), d)
	must(t, "CompleteEnrollment "+d.ID, err)
	return got
}

func newChallenge(id string, d store.Device, txID string, created time.Time) store.Challenge {
	return store.Challenge{
		ID:        id,
		TxID:      txID,
		DeviceID:  d.ID,
		UserID:    d.UserID,
		Kind:      "signin",
		Nonce:     "nonce-" + id,
		Numbers:   []int{17, 42, 93},
		Correct:   42,
		Context:   []byte(`{"app":"wiki","ip":"192.0.2.7"}`),
		JWS:       "eyJhbGciOiJFUzI1NiJ9.e30.sig-" + id,
		Status:    store.ChallengePending,
		CreatedAt: created,
		ExpiresAt: created.Add(2 * time.Minute),
	}
}

func newTransaction(id string) store.Transaction {
	return store.Transaction{
		ID:        id,
		App:       "wiki",
		Kind:      "signin",
		UserID:    "",
		Status:    store.TxActive,
		Data:      []byte(`{"step":"password"}`),
		ClientIP:  "192.0.2.7",
		UserAgent: "Firefox/140",
		CreatedAt: base,
		UpdatedAt: base.Add(time.Second),
		ExpiresAt: base.Add(10 * time.Minute),
	}
}

func newSession(id, userID string) store.Session {
	return store.Session{
		ID:        id,
		UserID:    userID,
		TxID:      "tx-" + id,
		ClientIP:  "2001:db8::7",
		UserAgent: "Safari/19",
		App:       "wiki",
		AMR:       []string{"pwd", "swk", "mfa"},
		AuthTime:  base.Add(-time.Hour),
		Risk:      "medium",
		CreatedAt: base,
		ExpiresAt: base.Add(12 * time.Hour),
	}
}

// EnrollDevice makes the user userID (login the same) with one device
// deviceID, enrolled now, and returns the device as stored.
func EnrollDevice(t testing.TB, s store.Store, userID, deviceID string) store.Device {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateUser(ctx, store.User{ID: userID, Login: userID}); err != nil {
		t.Fatal(err)
	}
	tok := "enroll-" + userID
	if err := s.CreateEnrollToken(ctx, store.EnrollToken{Hash: tok, UserID: userID, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d, err := s.CompleteEnrollment(ctx, tok, time.Now(), store.Device{ID: deviceID})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

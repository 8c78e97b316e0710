package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// pendingFixture is a soleStore over a real SQLite file, with a user
// and a device to hang challenges on, and the events it reported stored.
type pendingFixture struct {
	raw  store.Store
	p    *soleStore
	dev  store.Device
	mu   sync.Mutex
	told []store.AuditEvent
}

func newPendingFixture(t *testing.T) *pendingFixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &pendingFixture{raw: st}
	f.p = newSoleStore(st, func(_ context.Context, es []store.AuditEvent) {
		f.mu.Lock()
		f.told = append(f.told, es...)
		f.mu.Unlock()
	})
	now := time.Now()
	if err := st.CreateUser(ctx, store.User{ID: "usr_1", Login: "ann", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateEnrollToken(ctx, store.EnrollToken{Hash: "h", UserID: "usr_1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	f.dev, err = st.CompleteEnrollment(ctx, "h", now, store.Device{ID: "dev_1", UserID: "usr_1", PublicKey: []byte("{}"), Name: "Phone", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// send creates a pending challenge as SendPush does, with its push.sent.
func (f *pendingFixture) send(t *testing.T, id, tx string, created time.Time) {
	t.Helper()
	c := store.Challenge{ID: id, TxID: tx, DeviceID: f.dev.ID, UserID: f.dev.UserID, Kind: "signin", Nonce: "n-" + id,
		Numbers: []int{11, 22, 33}, Correct: 22, JWS: "jws-" + id, Status: store.ChallengePending,
		CreatedAt: created, ExpiresAt: created.Add(time.Minute)}
	sent := &store.Audit{Events: []store.AuditEvent{{Time: created, Type: "push.sent", UserID: c.UserID, DeviceID: c.DeviceID, TxID: tx, ChallengeID: id}}}
	if err := f.p.CreateChallenge(context.Background(), c, sent); err != nil {
		t.Fatal(err)
	}
}

// approve settles a challenge as answer does: only a pending one.
func approve(c *store.Challenge) error {
	if c.Status != store.ChallengePending {
		return errNotPending
	}
	c.Status, c.AnsweredAt = store.ChallengeApproved, time.Now()
	return nil
}

func outcomeAudit() *store.Audit {
	return &store.Audit{For: func(c store.Challenge) []store.AuditEvent { return []store.AuditEvent{settledEvent(c, "")} }}
}

// eventsOf lists the stored events of one challenge, by type.
func eventsOf(t *testing.T, st store.Store, id string) []string {
	t.Helper()
	es, err := st.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if e.ChallengeID == id {
			out = append(out, e.Type)
		}
	}
	return out
}

// A pending challenge is in memory only; it reaches the store once, as
// settled, with push.sent and its outcome in that order; from then on the
// store answers for it.
func TestPendingChallengeIsWrittenOnceWhenSettled(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	f.send(t, "chl_a", "tx_1", time.Now())

	if _, err := f.raw.GetChallenge(ctx, "chl_a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("store has the pending challenge already: %v", err)
	}
	if got := eventsOf(t, f.raw, "chl_a"); len(got) != 0 {
		t.Fatalf("events before it settled: %v", got)
	}
	c, err := f.p.GetChallenge(ctx, "chl_a")
	if err != nil || c.Status != store.ChallengePending || c.Correct != 22 {
		t.Fatalf("GetChallenge = %+v, %v", c, err)
	}

	c, err = f.p.UpdateChallenge(ctx, "chl_a", approve, outcomeAudit())
	if err != nil || c.Status != store.ChallengeApproved {
		t.Fatalf("settle = %+v, %v", c, err)
	}
	stored, err := f.raw.GetChallenge(ctx, "chl_a")
	if err != nil || stored.Status != store.ChallengeApproved || stored.Nonce != "n-chl_a" || !slices.Equal(stored.Numbers, []int{11, 22, 33}) {
		t.Fatalf("stored = %+v, %v", stored, err)
	}
	if got, want := eventsOf(t, f.raw, "chl_a"), []string{"push.sent", "push.approved"}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if f.p.held() != 0 {
		t.Fatalf("%d challenges still held", f.p.held())
	}
	// The push.sent was reported once it was stored (to the audit sinks).
	if len(f.told) != 1 || f.told[0].Type != "push.sent" || f.told[0].Seq == 0 {
		t.Fatalf("reported = %+v", f.told)
	}
	// A second answer reaches the store, which refuses it.
	if _, err := f.p.UpdateChallenge(ctx, "chl_a", approve, outcomeAudit()); !errors.Is(err, errNotPending) {
		t.Fatalf("second settle = %v, want errNotPending", err)
	}
	if got := eventsOf(t, f.raw, "chl_a"); len(got) != 2 {
		t.Fatalf("events after a second answer = %v", got)
	}
}

// Fifty answers racing on one held challenge settle it once, with one
// outcome event; the rest see it settled.
func TestPendingChallengeFiftyParallelAnswersSettleOnce(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	f.send(t, "chl_b", "", time.Now())
	var won, refused atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			_, err := f.p.UpdateChallenge(ctx, "chl_b", approve, outcomeAudit())
			switch {
			case err == nil:
				won.Add(1)
			case errors.Is(err, errNotPending):
				refused.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if won.Load() != 1 || refused.Load() != 49 {
		t.Fatalf("%d settled, %d refused; want 1 and 49", won.Load(), refused.Load())
	}
	if got, want := eventsOf(t, f.raw, "chl_b"), []string{"push.sent", "push.approved"}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

// A refused change (a wrong nonce, another device) writes nothing and
// leaves the challenge pending and answerable.
func TestPendingChallengeRefusedChangeWritesNothing(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	f.send(t, "chl_c", "", time.Now())
	_, err := f.p.UpdateChallenge(ctx, "chl_c", func(c *store.Challenge) error {
		c.Status = store.ChallengeApproved // changed, then refused: must not stick
		return errBadNonce
	}, outcomeAudit())
	if !errors.Is(err, errBadNonce) {
		t.Fatalf("err = %v", err)
	}
	if c, _ := f.p.GetChallenge(ctx, "chl_c"); c.Status != store.ChallengePending {
		t.Fatalf("after a refused change the challenge is %s", c.Status)
	}
	if _, err := f.raw.GetChallenge(ctx, "chl_c"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused change reached the store: %v", err)
	}
	if _, err := f.p.UpdateChallenge(ctx, "chl_c", approve, outcomeAudit()); err != nil {
		t.Fatal(err)
	}
}

// failingStore fails every challenge write, as a full disk does.
type failingStore struct {
	store.Store
	fail atomic.Bool
}

func (s *failingStore) CreateChallenge(ctx context.Context, c store.Challenge, audit ...*store.Audit) error {
	if s.fail.Load() {
		return fmt.Errorf("sqlite: %w", store.ErrNoSpace)
	}
	return s.Store.CreateChallenge(ctx, c, audit...)
}

// An answer the store cannot take is an error to the device and loses
// nothing: the challenge stays pending, and the answer sent again once the
// store has room settles it.
func TestPendingChallengeStoreFailureKeepsItPending(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	fs := &failingStore{Store: f.raw}
	f.p.Store = fs
	f.send(t, "chl_d", "", time.Now())
	fs.fail.Store(true)
	if _, err := f.p.UpdateChallenge(ctx, "chl_d", approve, outcomeAudit()); !errors.Is(err, store.ErrNoSpace) {
		t.Fatalf("settle on a full store = %v, want ErrNoSpace", err)
	}
	if c, err := f.p.GetChallenge(ctx, "chl_d"); err != nil || c.Status != store.ChallengePending {
		t.Fatalf("after a failed write: %+v, %v", c, err)
	}
	fs.fail.Store(false)
	if c, err := f.p.UpdateChallenge(ctx, "chl_d", approve, outcomeAudit()); err != nil || c.Status != store.ChallengeApproved {
		t.Fatalf("settle once the store has room = %+v, %v", c, err)
	}
	if got, want := eventsOf(t, f.raw, "chl_d"), []string{"push.sent", "push.approved"}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

// Lists merge memory and the store, oldest first, by every filter; a
// challenge memory holds never shows twice.
func TestPendingChallengesListWithTheStore(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	base := time.Now().Add(-10 * time.Second).Truncate(time.Millisecond)
	f.send(t, "chl_1", "tx_a", base)
	f.send(t, "chl_2", "tx_a", base.Add(time.Second))
	f.send(t, "chl_3", "tx_b", base.Add(2*time.Second))
	if _, err := f.p.UpdateChallenge(ctx, "chl_2", approve, outcomeAudit()); err != nil {
		t.Fatal(err)
	}
	ids := func(flt store.ChallengeFilter) string {
		cs, err := f.p.ListChallenges(ctx, flt)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range cs {
			out = append(out, c.ID+":"+c.Status)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		f    store.ChallengeFilter
		want string
	}{
		{store.ChallengeFilter{}, "chl_1:pending chl_2:approved chl_3:pending"},
		{store.ChallengeFilter{DeviceID: f.dev.ID}, "chl_1:pending chl_2:approved chl_3:pending"},
		{store.ChallengeFilter{DeviceID: "dev_other"}, ""},
		{store.ChallengeFilter{UserID: f.dev.UserID, Status: store.ChallengePending}, "chl_1:pending chl_3:pending"},
		{store.ChallengeFilter{TxID: "tx_a"}, "chl_1:pending chl_2:approved"},
		{store.ChallengeFilter{TxID: "tx_a", Status: store.ChallengePending}, "chl_1:pending"},
		{store.ChallengeFilter{Status: store.ChallengeApproved}, "chl_2:approved"},
		{store.ChallengeFilter{Since: base.Add(time.Second)}, "chl_2:approved chl_3:pending"},
	} {
		if got := ids(tc.f); got != tc.want {
			t.Errorf("ListChallenges(%+v) = %q, want %q", tc.f, got, tc.want)
		}
	}
	// An id memory holds cannot be created again.
	c := store.Challenge{ID: "chl_1", DeviceID: f.dev.ID, UserID: f.dev.UserID, Status: store.ChallengePending, CreatedAt: base, ExpiresAt: base.Add(time.Minute)}
	if err := f.p.CreateChallenge(ctx, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("a second chl_1 = %v, want ErrConflict", err)
	}
}

// The sweep expires held challenges past their time: each is written as
// expired with its push.sent and push.expired, and returned with the
// store's own.
func TestPendingChallengeExpiresInTheSweep(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	now := time.Now()
	f.send(t, "chl_old", "", now.Add(-2*time.Minute))
	f.send(t, "chl_new", "", now)
	res, err := f.p.GarbageCollect(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Expired) != 1 || res.Expired[0].ID != "chl_old" || res.Expired[0].Status != store.ChallengeExpired ||
		len(res.Audits) != 1 || res.Audits[0].Type != "push.expired" {
		t.Fatalf("sweep = %+v", res)
	}
	if got, want := eventsOf(t, f.raw, "chl_old"), []string{"push.sent", "push.expired"}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if c, err := f.raw.GetChallenge(ctx, "chl_old"); err != nil || c.Status != store.ChallengeExpired || c.Reason != store.ExpiredReason {
		t.Fatalf("stored = %+v, %v", c, err)
	}
	if f.p.held() != 1 {
		t.Fatalf("held %d, want the unexpired one", f.p.held())
	}
	// An answer after the sweep meets the store's expired challenge.
	if _, err := f.p.UpdateChallenge(ctx, "chl_old", approve, outcomeAudit()); !errors.Is(err, errNotPending) {
		t.Fatalf("answer after the sweep = %v", err)
	}
}

// A clean stop writes what memory holds, still pending and answerable
// from the store, and later challenges go straight to the store.
func TestPendingChallengesFlushOnStop(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	f.send(t, "chl_x", "", time.Now())
	if err := f.p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c, err := f.raw.GetChallenge(ctx, "chl_x")
	if err != nil || c.Status != store.ChallengePending {
		t.Fatalf("after flush the store has %+v, %v", c, err)
	}
	if got, want := eventsOf(t, f.raw, "chl_x"), []string{"push.sent"}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	f.send(t, "chl_y", "", time.Now())
	if _, err := f.raw.GetChallenge(ctx, "chl_y"); err != nil {
		t.Fatalf("a challenge after flush is not in the store: %v", err)
	}
	// The one flushed settles in the store, with its outcome's event.
	if _, err := f.p.UpdateChallenge(ctx, "chl_x", approve, outcomeAudit()); err != nil {
		t.Fatal(err)
	}
	if got, want := eventsOf(t, f.raw, "chl_x"), []string{"push.sent", "push.approved"}; !slices.Equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
}

// A second assentd serve on the same data folder is refused while the
// first holds it, and may start once the first is gone.
func TestDataFolderServesOneNode(t *testing.T) {
	dir := t.TempDir()
	release, err := lockDataFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockDataFolder(dir); err == nil || !strings.Contains(err.Error(), "another assentd serve is using the data folder") {
		t.Fatalf("second lock = %v", err)
	}
	release()
	again, err := lockDataFolder(dir)
	if err != nil {
		t.Fatalf("lock after release = %v", err)
	}
	again()
}

// readAlong runs read on eight goroutines over and over until the
// returned stop is called (and returns once they have stopped).
func readAlong(read func()) (stop func()) {
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 8 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				read()
			}
		})
	}
	return func() {
		close(done)
		readers.Wait()
	}
}

// A device read through the cache is never older than the last change
// that returned: a revocation shows at once, however many reads race it.
func TestDeviceCacheNeverOutlivesARevocation(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	for round := range 20 {
		f.p.devices = newDeviceCache()
		if _, err := f.p.UpdateDevice(ctx, f.dev.ID, func(d *store.Device) error { d.RevokedAt = time.Time{}; return nil }); err != nil {
			t.Fatal(err)
		}
		stop := readAlong(func() {
			f.p.GetDevice(ctx, f.dev.ID)
			f.p.ListDevices(ctx, f.dev.UserID)
		})
		time.Sleep(time.Millisecond)
		if _, err := f.p.UpdateDevice(ctx, f.dev.ID, func(d *store.Device) error { d.RevokedAt = time.Now(); return nil }); err != nil {
			t.Fatal(err)
		}
		for range 50 {
			d, err := f.p.GetDevice(ctx, f.dev.ID)
			if err != nil || d.RevokedAt.IsZero() {
				t.Fatalf("round %d: GetDevice after the revocation = revoked %v, %v", round, d.RevokedAt, err)
			}
			ds, err := f.p.ListDevices(ctx, f.dev.UserID)
			if err != nil || len(ds) != 1 || ds[0].RevokedAt.IsZero() {
				t.Fatalf("round %d: ListDevices after the revocation = %+v, %v", round, ds, err)
			}
		}
		stop()
	}
}

// A device enrolled shows in its user's list at once.
func TestDeviceCacheSeesANewEnrollment(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	if ds, _ := f.p.ListDevices(ctx, f.dev.UserID); len(ds) != 1 {
		t.Fatalf("devices = %d", len(ds))
	}
	now := time.Now()
	if err := f.p.CreateEnrollToken(ctx, store.EnrollToken{Hash: "h2", UserID: f.dev.UserID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.CompleteEnrollment(ctx, "h2", now, store.Device{ID: "dev_2", PublicKey: []byte("{}"), Name: "Laptop", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if ds, _ := f.p.ListDevices(ctx, f.dev.UserID); len(ds) != 2 {
		t.Fatalf("after enrolling a second device the list has %d", len(ds))
	}
}

// An enrollment reads its device and its user's devices into the cache,
// so that neither the device's first connect nor the user's first push
// asks the store; a revocation right after still shows at once.
func TestEnrollmentWarmsTheCacheForTheFirstPush(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	cs := &deviceReadCounter{Store: f.raw}
	p := newSoleStore(cs, func(context.Context, []store.AuditEvent) {})
	now := time.Now()
	if err := p.CreateEnrollToken(ctx, store.EnrollToken{Hash: "h2", UserID: f.dev.UserID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d, err := p.CompleteEnrollment(ctx, "h2", now, store.Device{ID: "dev_2", PublicKey: []byte("{}"), Name: "Laptop", CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	gets, lists := cs.gets.Load(), cs.lists.Load()
	want, err := f.raw.ListDevices(ctx, f.dev.UserID)
	if err != nil || len(want) != 2 {
		t.Fatalf("the store lists %d devices, %v", len(want), err)
	}
	if got, err := p.ListDevices(ctx, f.dev.UserID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("the user's devices after the enrollment (%v):\n%v\nwant\n%v", err, got, want)
	}
	stored, err := f.raw.GetDevice(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.GetDevice(ctx, d.ID); err != nil || !reflect.DeepEqual(got, stored) {
		t.Fatalf("the new device from the cache = %+v, %v; want %+v", got, err, stored)
	}
	if g, l := cs.gets.Load()-gets, cs.lists.Load()-lists; g != 0 || l != 0 {
		t.Fatalf("after the enrollment %d device reads and %d list reads went to the store, want none", g, l)
	}
	if _, err := p.UpdateDevice(ctx, d.ID, func(d *store.Device) error { d.RevokedAt = time.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	if got, err := p.GetDevice(ctx, d.ID); err != nil || got.RevokedAt.IsZero() {
		t.Fatalf("the new device after its revocation = revoked %v, %v", got.RevokedAt, err)
	}
	if ds, err := p.ListDevices(ctx, f.dev.UserID); err != nil || len(ds) != 2 || ds[1].RevokedAt.IsZero() {
		t.Fatalf("the user's devices after the revocation = %+v, %v", ds, err)
	}
	// A failed enrollment caches nothing and reads nothing.
	gets, lists = cs.gets.Load(), cs.lists.Load()
	if _, err := p.CompleteEnrollment(ctx, "h2", now, store.Device{ID: "dev_3", PublicKey: []byte("{}"), CreatedAt: now}); err == nil {
		t.Fatal("a used enrollment token enrolled a device")
	}
	if g, l := cs.gets.Load()-gets, cs.lists.Load()-lists; g != 0 || l != 0 {
		t.Fatalf("a failed enrollment read %d devices and %d lists", g, l)
	}
}

// countingStore counts the store's challenge lists.
type countingStore struct {
	store.Store
	lists atomic.Int32
}

func (s *countingStore) ListChallenges(ctx context.Context, f store.ChallengeFilter) ([]store.Challenge, error) {
	s.lists.Add(1)
	return s.Store.ListChallenges(ctx, f)
}

// listIDs lists the ids of the challenges f matches.
func listIDs(t *testing.T, p *soleStore, f store.ChallengeFilter) []string {
	t.Helper()
	list, err := p.ListChallenges(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range list {
		ids = append(ids, c.ID)
	}
	return ids
}

// Pushes left pending in the store by an earlier run (a clean stop writes
// them) are in the device's pending list after a restart until they end;
// a device with none in the store gets its list from memory alone.
func TestPendingListFindsWhatAnEarlierRunStored(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	f.send(t, "chl_before", "", time.Now())
	if err := f.p.Flush(ctx); err != nil { // the earlier run stops
		t.Fatal(err)
	}
	cs := &countingStore{Store: f.raw}
	p := newSoleStore(cs, func(context.Context, []store.AuditEvent) {}) // the next run
	pendingOf := func(dev string) []string {
		return listIDs(t, p, store.ChallengeFilter{DeviceID: dev, Status: store.ChallengePending})
	}
	if got := pendingOf(f.dev.ID); !slices.Equal(got, []string{"chl_before"}) {
		t.Fatalf("before LoadStored: %v", got)
	}
	if err := p.LoadStored(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pendingOf(f.dev.ID); !slices.Equal(got, []string{"chl_before"}) {
		t.Fatalf("after LoadStored: %v", got)
	}
	n := cs.lists.Load()
	if got := pendingOf("dev_other"); len(got) != 0 || cs.lists.Load() != n {
		t.Fatalf("a device with nothing stored: %v, %d store lists", got, cs.lists.Load()-n)
	}
	p.CreateChallenge(ctx, store.Challenge{ID: "chl_now", DeviceID: f.dev.ID, UserID: f.dev.UserID, Status: store.ChallengePending,
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)})
	if got := pendingOf(f.dev.ID); !slices.Equal(got, []string{"chl_before", "chl_now"}) {
		t.Fatalf("stored and held: %v", got)
	}
	if _, err := p.UpdateChallenge(ctx, "chl_before", approve, outcomeAudit()); err != nil {
		t.Fatal(err)
	}
	if got := pendingOf(f.dev.ID); !slices.Equal(got, []string{"chl_now"}) {
		t.Fatalf("after the stored one settled: %v", got)
	}
	n = cs.lists.Load()
	if got := pendingOf(f.dev.ID); !slices.Equal(got, []string{"chl_now"}) || cs.lists.Load() != n {
		t.Fatalf("with none left in the store: %v, %d store lists", got, cs.lists.Load()-n)
	}
}

// A transaction's pending list (the push's other challenges, cancelled
// when one is answered) asks the store only while the store may hold
// pending challenges: after a restart that left some, until they end.
func TestTxPendingListAsksTheStoreOnlyWhileItMayHoldSome(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	f.send(t, "chl_before", "tx_1", time.Now())
	if err := f.p.Flush(ctx); err != nil { // the earlier run stops
		t.Fatal(err)
	}
	cs := &countingStore{Store: f.raw}
	p := newSoleStore(cs, func(context.Context, []store.AuditEvent) {})
	list := func(flt store.ChallengeFilter) []string { return listIDs(t, p, flt) }
	ofTx := store.ChallengeFilter{TxID: "tx_1", Status: store.ChallengePending}
	if got := list(ofTx); !slices.Equal(got, []string{"chl_before"}) {
		t.Fatalf("before LoadStored: %v", got)
	}
	if err := p.LoadStored(ctx); err != nil {
		t.Fatal(err)
	}
	p.CreateChallenge(ctx, store.Challenge{ID: "chl_now", TxID: "tx_1", DeviceID: f.dev.ID, UserID: f.dev.UserID, Status: store.ChallengePending,
		CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)})
	if got := list(ofTx); !slices.Equal(got, []string{"chl_before", "chl_now"}) {
		t.Fatalf("stored and held: %v", got)
	}
	if _, err := p.UpdateChallenge(ctx, "chl_before", approve, outcomeAudit()); err != nil {
		t.Fatal(err)
	}
	// The device's own list finds none left in the store; from then on
	// the store is not asked for any pending list.
	if got := list(store.ChallengeFilter{DeviceID: f.dev.ID, Status: store.ChallengePending}); !slices.Equal(got, []string{"chl_now"}) {
		t.Fatalf("the device's list: %v", got)
	}
	n := cs.lists.Load()
	if got := list(ofTx); !slices.Equal(got, []string{"chl_now"}) || cs.lists.Load() != n {
		t.Fatalf("with none left in the store: %v, %d store lists", got, cs.lists.Load()-n)
	}
	// A list of settled ones still asks the store.
	if got := list(store.ChallengeFilter{TxID: "tx_1", Status: store.ChallengeApproved}); !slices.Equal(got, []string{"chl_before"}) || cs.lists.Load() != n+1 {
		t.Fatalf("approved: %v, %d store lists", got, cs.lists.Load()-n)
	}
}

// Answers that come in together are written together (group commit):
// every one stored with its two events, a duplicate among them refused
// alone, and the audit chain whole.
func TestSettledChallengesWrittenTogetherEachKeepTheirEvents(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	now := time.Now()
	const n = 60
	for i := range n {
		f.send(t, fmt.Sprintf("chl_%02d", i), "", now)
	}
	// chl_07 is in the store already (as if written by another path): its
	// write fails, and only its own.
	if err := f.raw.CreateChallenge(ctx, store.Challenge{ID: "chl_07", DeviceID: f.dev.ID, UserID: f.dev.UserID, Status: store.ChallengeDenied, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = f.p.UpdateChallenge(ctx, fmt.Sprintf("chl_%02d", i), approve, outcomeAudit())
		})
	}
	wg.Wait()
	for i, err := range errs {
		if (i == 7) != (err != nil) {
			t.Errorf("chl_%02d: %v", i, err)
		}
	}
	for i := range n {
		id := fmt.Sprintf("chl_%02d", i)
		want := []string{"push.sent", "push.approved"}
		if i == 7 {
			want = nil
		}
		if got := eventsOf(t, f.raw, id); !slices.Equal(got, want) {
			t.Errorf("%s: events %v, want %v", id, got, want)
		}
	}
	if check, err := store.VerifyAudit(ctx, f.raw); err != nil || check.Broken != nil || check.Checked != 2*(n-1) {
		t.Fatalf("audit chain: %+v, %v", check, err)
	}
	if c, err := f.p.GetChallenge(ctx, "chl_07"); err != nil || c.Status != store.ChallengePending {
		t.Fatalf("the refused one: %+v, %v", c, err)
	}
}

// One-time keys recorded together (a reconnect storm's device tokens):
// each distinct key is taken once, a key used fifty times at once is
// taken by one of them, and a replay after the batch is refused.
func TestNoncesRecordedTogetherRefuseEveryReplay(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	now := time.Now()
	exp := now.Add(2 * time.Minute)
	var wg sync.WaitGroup
	errs := make([]error, 100)
	for i := range 50 {
		wg.Go(func() { errs[i] = f.p.UseNonce(ctx, fmt.Sprintf("device:d:%d", i), now, exp) })
		wg.Go(func() { errs[50+i] = f.p.UseNonce(ctx, "device:d:same", now, exp) })
	}
	wg.Wait()
	took := 0
	for i, err := range errs {
		switch {
		case i < 50 && err != nil:
			t.Errorf("key %d: %v", i, err)
		case i >= 50 && err == nil:
			took++
		case i >= 50 && !errors.Is(err, store.ErrReplay):
			t.Errorf("the shared key: %v", err)
		}
	}
	if took != 1 {
		t.Fatalf("the shared key was taken %d times, want once", took)
	}
	for _, key := range []string{"device:d:3", "device:d:same"} {
		if err := f.p.UseNonce(ctx, key, now, exp); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("%s again: %v, want ErrReplay", key, err)
		}
		if err := f.raw.UseNonce(ctx, key, now, exp); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("%s is not in the store: %v", key, err)
		}
	}
}

// A device seen is seen at once through the node, and in the store a
// second later with the others seen meanwhile, or at a clean stop;
// LastSeen only moves forward, in the store and in the cache.
func TestDevicesTouchedTogether(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	if _, err := f.p.GetDevice(ctx, f.dev.ID); err != nil { // cached
		t.Fatal(err)
	}
	later := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			if did, err := f.p.TouchDevice(ctx, f.dev.ID, later.Add(-time.Duration(i)*time.Second)); !did || err != nil {
				t.Errorf("touch: %v, %v", did, err)
			}
		})
	}
	wg.Wait()
	if d, err := f.p.GetDevice(ctx, f.dev.ID); err != nil || !d.LastSeen.Equal(later) {
		t.Fatalf("last seen through the node %v (%v), want %v at once", d.LastSeen, err, later)
	}
	// Written within a second (seenDelay), without a stop.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		d, err := f.raw.GetDevice(ctx, f.dev.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.LastSeen.Equal(later) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last seen in the store %v 10 s later, want %v", d.LastSeen, later)
		}
	}
	if n := f.p.seen.batches.Load(); n != 1 {
		t.Errorf("20 touches of one device took %d transactions, want 1", n)
	}
	if _, err := f.p.TouchDevice(ctx, f.dev.ID, later.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.raw.GetDevice(ctx, f.dev.ID); !d.LastSeen.Equal(later) {
		t.Fatalf("an earlier touch moved LastSeen back to %v", d.LastSeen)
	}
	// After the stop's Flush a touch goes to the store at once.
	if _, err := f.p.TouchDevice(ctx, f.dev.ID, later.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d, _ := f.raw.GetDevice(ctx, f.dev.ID); !d.LastSeen.Equal(later.Add(time.Minute)) {
		t.Fatalf("a touch after Flush: last seen in the store %v, want %v", d.LastSeen, later.Add(time.Minute))
	}
}

// A clean stop writes the last-seen times still in memory: a reconnect
// storm's devices, noted from fifty goroutines, each written once with the
// latest time it was seen.
func TestSeenTimesWrittenAtStop(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "assent.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Millisecond)
	if err := st.CreateUser(ctx, store.User{ID: "usr_1", Login: "ann", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	const devices = 300
	for i := range devices {
		h := fmt.Sprintf("h%d", i)
		if err := st.CreateEnrollToken(ctx, store.EnrollToken{Hash: h, UserID: "usr_1", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CompleteEnrollment(ctx, h, now, store.Device{ID: fmt.Sprintf("dev_%03d", i), UserID: "usr_1", PublicKey: []byte("{}"), CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	p := newSoleStore(st, func(context.Context, []store.AuditEvent) {})
	p.seen.delay = time.Hour // only the stop writes
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			for i := range devices {
				p.TouchDevice(ctx, fmt.Sprintf("dev_%03d", i), now.Add(time.Duration(g+i)*time.Second))
			}
		})
	}
	wg.Wait()
	if n := p.seen.noted(); n != devices {
		t.Fatalf("%d devices noted, want %d", n, devices)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if b, items := p.seen.batches.Load(), p.seen.items.Load(); b != 1 || items != devices {
		t.Errorf("%d times in %d writes, want %d in 1", items, b, devices)
	}
	st, err = sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range devices {
		d, err := st.GetDevice(ctx, fmt.Sprintf("dev_%03d", i))
		if want := now.Add(time.Duration(49+i) * time.Second); err != nil || !d.LastSeen.Equal(want) {
			t.Fatalf("device %d after the stop: last seen %v (%v), want %v", i, d.LastSeen, err, want)
		}
	}
}

// A write that fails loses no time: what it held stays noted, the next
// write a second later takes it with what came since, and the failure is
// told once however many writes fail in a row.
func TestSeenTimesKeptWhenAWriteFails(t *testing.T) {
	var (
		mu      sync.Mutex
		fail    = 3
		written = map[string]time.Time{}
		told    []error
	)
	w := newSeenWriter(func(_ context.Context, ts []store.DeviceTouch) error {
		mu.Lock()
		defer mu.Unlock()
		if fail > 0 {
			fail--
			return errors.New("disk full")
		}
		for _, d := range ts {
			written[d.ID] = d.At
		}
		return nil
	}, func(err error) {
		mu.Lock()
		told = append(told, err)
		mu.Unlock()
	})
	w.delay = 10 * time.Millisecond
	base := time.Now()
	for i := range 200 {
		w.note(fmt.Sprintf("dev_%03d", i), base)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mu.Lock()
		f := fail
		mu.Unlock()
		if f == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no write came again after a failure")
		}
	}
	w.note("dev_000", base.Add(time.Minute)) // a later time while it retries
	w.note("dev_001", base.Add(-time.Minute))
	if err := w.close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(told) != 1 {
		t.Errorf("told of %d failures, want 1 (%v)", len(told), told)
	}
	if len(written) != 200 {
		t.Fatalf("%d devices written, want 200", len(written))
	}
	for id, at := range written {
		want := base
		if id == "dev_000" {
			want = base.Add(time.Minute)
		}
		if !at.Equal(want) {
			t.Errorf("%s written at %v, want %v", id, at, want)
		}
	}
	if w.noted() != 0 {
		t.Errorf("%d still noted after close", w.noted())
	}
}

// A user read through the cache is never older than the last change that
// returned, however many reads race it; a login not found is not
// remembered (assentd user add, another process, adds users); a caller
// changing a returned user changes nothing cached.
func TestUserCacheNeverOutlivesAChange(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	for round := range 20 {
		f.p.users = newUserCache()
		status := fmt.Sprintf("status-%d", round)
		stop := readAlong(func() {
			f.p.GetUser(ctx, "usr_1")
			f.p.GetUserByLogin(ctx, "ann")
		})
		time.Sleep(time.Millisecond)
		if _, err := f.p.UpdateUser(ctx, "usr_1", func(u *store.User) error { u.Status = status; return nil }); err != nil {
			t.Fatal(err)
		}
		for range 50 {
			if u, err := f.p.GetUser(ctx, "usr_1"); err != nil || u.Status != status {
				t.Fatalf("round %d: GetUser after the change = %q, %v", round, u.Status, err)
			}
			if u, err := f.p.GetUserByLogin(ctx, "ann"); err != nil || u.Status != status {
				t.Fatalf("round %d: GetUserByLogin after the change = %q, %v", round, u.Status, err)
			}
		}
		stop()
	}

	if _, err := f.p.GetUserByLogin(ctx, "bob"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("bob before he exists: %v", err)
	}
	if err := f.raw.CreateUser(ctx, store.User{ID: "usr_2", Login: "bob", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if u, err := f.p.GetUserByLogin(ctx, "bob"); err != nil || u.ID != "usr_2" {
		t.Fatalf("bob added by another process: %+v, %v", u, err)
	}

	if _, err := f.p.UpdateUser(ctx, "usr_1", func(u *store.User) error {
		u.Groups, u.Profile = []string{"staff"}, map[string]string{"dept": "ops"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	u, _ := f.p.GetUser(ctx, "usr_1")
	u.Groups[0], u.Profile["dept"] = "admins", "changed by a caller"
	if again, _ := f.p.GetUserByLogin(ctx, "ann"); again.Groups[0] != "staff" || again.Profile["dept"] != "ops" {
		t.Fatalf("a caller's change reached the cache: %+v", again)
	}
}

// deviceReadCounter counts the store's device reads (gets), reads of
// users' device lists (lists) and challenge reads (challengeGets).
type deviceReadCounter struct {
	store.Store
	gets, lists, challengeGets atomic.Int32
}

func (s *deviceReadCounter) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	s.lists.Add(1)
	return s.Store.ListDevices(ctx, userID)
}

func (s *deviceReadCounter) GetChallenge(ctx context.Context, id string) (store.Challenge, error) {
	s.challengeGets.Add(1)
	return s.Store.GetChallenge(ctx, id)
}

func (s *deviceReadCounter) GetDevice(ctx context.Context, id string) (store.Device, error) {
	s.gets.Add(1)
	return s.Store.GetDevice(ctx, id)
}

func (s *deviceReadCounter) ListAllDevices(ctx context.Context) ([]store.Device, error) {
	return s.Store.(store.DeviceScanner).ListAllDevices(ctx)
}

// At start the node reads every device in one pass: the reconnects that
// follow a restart ask the store nothing, and a revocation afterwards
// still shows at once.
func TestDevicesLoadedAtStartServeReconnects(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	now := time.Now()
	for i := 2; i <= 40; i++ {
		h := fmt.Sprintf("h%d", i)
		if err := f.raw.CreateEnrollToken(ctx, store.EnrollToken{Hash: h, UserID: f.dev.UserID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.raw.CompleteEnrollment(ctx, h, now, store.Device{ID: fmt.Sprintf("dev_%d", i), PublicKey: []byte("{}"), Name: "Phone", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := f.raw.UpdateDevice(ctx, "dev_7", func(d *store.Device) error { d.RevokedAt = now; return nil }); err != nil {
		t.Fatal(err)
	}
	cs := &deviceReadCounter{Store: f.raw}
	p := newSoleStore(cs, func(context.Context, []store.AuditEvent) {})
	if err := p.LoadDevices(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 40; i++ {
		d, err := p.GetDevice(ctx, fmt.Sprintf("dev_%d", i))
		if err != nil || d.Name != "Phone" || d.UserID != f.dev.UserID || d.RevokedAt.IsZero() != (i != 7) {
			t.Fatalf("dev_%d from the cache = %+v, %v", i, d, err)
		}
	}
	if n := cs.gets.Load(); n != 0 {
		t.Fatalf("%d device reads went to the store after the load", n)
	}
	// The user's list too, as the store lists it.
	want, err := f.raw.ListDevices(ctx, f.dev.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := p.ListDevices(ctx, f.dev.UserID); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("the user's devices from the cache (%v):\n%v\nwant\n%v", err, got, want)
	}
	if n := cs.lists.Load(); n != 0 {
		t.Fatalf("%d device lists went to the store after the load", n)
	}
	if _, err := p.GetDevice(ctx, "dev_none"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an unknown device: %v", err)
	}
	if _, err := p.UpdateDevice(ctx, "dev_3", func(d *store.Device) error { d.RevokedAt = time.Now(); return nil }); err != nil {
		t.Fatal(err)
	}
	if d, err := p.GetDevice(ctx, "dev_3"); err != nil || d.RevokedAt.IsZero() {
		t.Fatalf("dev_3 after its revocation = revoked %v, %v", d.RevokedAt, err)
	}
	ds, err := p.ListDevices(ctx, f.dev.UserID)
	if err != nil || len(ds) != 40 || ds[2].ID != "dev_3" || ds[2].RevokedAt.IsZero() {
		t.Fatalf("the user's devices after dev_3's revocation: %d, %v; want dev_3 revoked", len(ds), err)
	}
}

// A device changed while the load reads leaves the cache empty rather
// than holding the device as it was before the change.
func TestDeviceLoadRacingARevocationCachesNothing(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	rs := &revokeWhileScanning{Store: f.raw, p: &f.p, id: f.dev.ID}
	p := newSoleStore(rs, func(context.Context, []store.AuditEvent) {})
	f.p = p
	if err := p.LoadDevices(ctx); err != nil {
		t.Fatal(err)
	}
	if d, err := p.GetDevice(ctx, f.dev.ID); err != nil || d.RevokedAt.IsZero() {
		t.Fatalf("GetDevice after a revocation during the load = revoked %v, %v", d.RevokedAt, err)
	}
	if ds, err := p.ListDevices(ctx, f.dev.UserID); err != nil || len(ds) != 1 || ds[0].RevokedAt.IsZero() {
		t.Fatalf("ListDevices after a revocation during the load = %+v, %v", ds, err)
	}
}

// revokeWhileScanning revokes a device through the node's store once the
// scan has read it, before the scan returns.
type revokeWhileScanning struct {
	store.Store
	p  **soleStore
	id string
}

func (s *revokeWhileScanning) ListAllDevices(ctx context.Context) ([]store.Device, error) {
	ds, err := s.Store.(store.DeviceScanner).ListAllDevices(ctx)
	if err != nil {
		return nil, err
	}
	_, err = (*s.p).UpdateDevice(ctx, s.id, func(d *store.Device) error { d.RevokedAt = time.Now(); return nil })
	return ds, err
}

// A challenge this node settled is read from memory, as stored, until it
// changes in the store (which drops the copy first) or a sweep passes its
// expiry; what a read returns after a change is the change.
func TestSettledChallengeReadFromMemoryUntilItChanges(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	cs := &deviceReadCounter{Store: f.raw}
	f.p.Store = cs
	now := time.Now()
	f.send(t, "chl_a", "tx_1", now)
	if _, err := f.p.UpdateChallenge(ctx, "chl_a", approve, outcomeAudit()); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if c, err := f.p.GetChallenge(ctx, "chl_a"); err != nil || c.Status != store.ChallengeApproved || c.Nonce != "n-chl_a" {
			t.Fatalf("read after settling = %+v, %v", c, err)
		}
	}
	if n := cs.challengeGets.Load(); n != 0 {
		t.Fatalf("%d reads of a challenge this node settled went to the store", n)
	}
	// The copy is what the store reads back, times to the millisecond.
	kept, _ := f.p.GetChallenge(ctx, "chl_a")
	if stored, err := f.raw.GetChallenge(ctx, "chl_a"); err != nil || !reflect.DeepEqual(kept, stored) {
		t.Fatalf("kept %+v\nstored %+v (%v)", kept, stored, err)
	}
	// A change through the store: the next read is the store's.
	if _, err := f.p.UpdateChallenge(ctx, "chl_a", func(c *store.Challenge) error { c.Reason = "changed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if c, err := f.p.GetChallenge(ctx, "chl_a"); err != nil || c.Reason != "changed" {
		t.Fatalf("read after a change = %+v, %v; want the change", c, err)
	}
	// A refused change drops the copy too.
	f.send(t, "chl_b", "tx_1", now)
	if _, err := f.p.UpdateChallenge(ctx, "chl_b", approve, outcomeAudit()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.UpdateChallenge(ctx, "chl_b", approve, outcomeAudit()); !errors.Is(err, errNotPending) {
		t.Fatalf("second answer = %v", err)
	}
	before := cs.challengeGets.Load()
	if c, err := f.p.GetChallenge(ctx, "chl_b"); err != nil || c.Status != store.ChallengeApproved || cs.challengeGets.Load() != before+1 {
		t.Fatalf("read after a refused change = %+v, %v, from the store %v", c, err, cs.challengeGets.Load() != before)
	}
	// The sweep drops the copies past their expiry.
	f.send(t, "chl_c", "tx_1", now)
	if _, err := f.p.UpdateChallenge(ctx, "chl_c", approve, outcomeAudit()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.p.GarbageCollect(ctx, now.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	before = cs.challengeGets.Load()
	if _, err := f.p.GetChallenge(ctx, "chl_c"); err != nil || cs.challengeGets.Load() != before+1 {
		t.Fatalf("read after the sweep: %v, from the store %v", err, cs.challengeGets.Load() != before)
	}
}

// At most maxSettled settled challenges are kept: the oldest goes first.
func TestSettledChallengesKeptAreBounded(t *testing.T) {
	p := newSoleStore(nil, nil)
	p.asStored = func(c store.Challenge) store.Challenge { return c }
	for i := range maxSettled + 10 {
		p.keepSettled(store.Challenge{ID: fmt.Sprint("chl_", i), Status: store.ChallengeApproved})
	}
	if len(p.settled) != maxSettled {
		t.Fatalf("%d kept, want %d", len(p.settled), maxSettled)
	}
	if _, ok := p.settled["chl_9"]; ok {
		t.Fatal("one of the oldest is still kept")
	}
	if _, ok := p.settled[fmt.Sprint("chl_", maxSettled+9)]; !ok {
		t.Fatal("the newest is not kept")
	}
	p.keepSettled(store.Challenge{ID: "chl_pending", Status: store.ChallengePending})
	if _, ok := p.settled["chl_pending"]; ok {
		t.Fatal("a challenge stored still pending is kept")
	}
}

// Fifty reads race changes of settled challenges made through the store:
// a read that starts after a change returned sees it.
func TestSettledChallengeReadsNeverPredateAChange(t *testing.T) {
	ctx := context.Background()
	f := newPendingFixture(t)
	now := time.Now()
	for i := range 5 {
		id := fmt.Sprint("chl_", i)
		f.send(t, id, "tx_1", now)
		if _, err := f.p.UpdateChallenge(ctx, id, approve, outcomeAudit()); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			id := fmt.Sprint("chl_", i%5)
			if i%2 == 0 {
				reason := fmt.Sprint("change ", i)
				if _, err := f.p.UpdateChallenge(ctx, id, func(c *store.Challenge) error { c.Reason = reason; return nil }); err != nil {
					t.Error(err)
					return
				}
				if c, err := f.p.GetChallenge(ctx, id); err != nil || c.Reason == "" {
					t.Errorf("%s read after its change = %q, %v", id, c.Reason, err)
				}
				return
			}
			if _, err := f.p.GetChallenge(ctx, id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

// Fifty sign-ins starting together create their transactions, and fifty
// ending together their sessions, in shared transactions of the store:
// each is stored when its call returns, and one whose id is stored already
// fails alone.
func TestParallelCreatesShareTransactions(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	for _, c := range []struct {
		name   string
		create func(st store.Store, id string) error
		get    func(st store.Store, id string) error
	}{
		{"sessions", func(st store.Store, id string) error {
			return st.CreateSession(ctx, store.Session{ID: id, UserID: "usr_1", App: "portal", AMR: []string{"swk"}, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
		}, func(st store.Store, id string) error { _, err := st.GetSession(ctx, id); return err }},
		{"transactions", func(st store.Store, id string) error {
			return st.CreateTransaction(ctx, store.Transaction{ID: id, App: "portal", Kind: "signin", Status: store.TxActive, Data: []byte("{}"), CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)})
		}, func(st store.Store, id string) error { _, err := st.GetTransaction(ctx, id); return err }},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newPendingFixture(t)
			if err := c.create(f.raw, "id_taken"); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 51)
			for i := range 51 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					id := fmt.Sprintf("id_%d", i)
					if i == 50 {
						id = "id_taken"
					}
					if errs[i] = c.create(f.p, id); errs[i] == nil {
						if err := c.get(f.raw, id); err != nil {
							errs[i] = fmt.Errorf("not stored when the create returned: %w", err)
						}
					}
				}()
			}
			wg.Wait()
			for i, err := range errs[:50] {
				if err != nil {
					t.Errorf("%d: %v", i, err)
				}
			}
			if errs[50] == nil {
				t.Error("an id stored already was created again")
			}
			b := f.p.sessions.batches.Load()
			if c.name == "transactions" {
				b = f.p.txCreates.batches.Load()
			}
			if b >= 51 {
				t.Errorf("%d transactions of the store for 51 creates: none were shared", b)
			}
		})
	}
}

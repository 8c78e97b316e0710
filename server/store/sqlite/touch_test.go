package sqlite

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// enrollDevices makes n devices of one user, their ids descending as
// they are enrolled (so that the table's order is not the ids').
func enrollDevices(tb testing.TB, s *Store, n int, at time.Time) []string {
	tb.Helper()
	ctx := tb.Context()
	if err := s.CreateUser(ctx, store.User{ID: "usr_1", Login: "ann", CreatedAt: at}); err != nil {
		tb.Fatal(err)
	}
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("dev_%05d", n-i)
		h := fmt.Sprintf("h%d", i)
		if err := s.CreateEnrollToken(ctx, store.EnrollToken{Hash: h, UserID: "usr_1", CreatedAt: at, ExpiresAt: at.Add(time.Hour)}); err != nil {
			tb.Fatal(err)
		}
		// A row about as large as a real device's (its JWK and sealed
		// TOTP secret): about ten to a page.
		if _, err := s.CompleteEnrollment(ctx, h, at, store.Device{ID: ids[i], PublicKey: []byte(strings.Repeat("k", 200)),
			TOTPSecret: []byte(strings.Repeat("s", 60)), Name: "Phone", CreatedAt: at, LastSeen: at}); err != nil {
			tb.Fatal(err)
		}
	}
	return ids
}

// TouchDevices moves each device's LastSeen to the latest time it is given,
// never back, over more devices than one transaction takes, skipping ids
// that name no device; the read that orders them goes by the primary key,
// not through the whole table.
func TestTouchDevicesMovesEachForwardOnly(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	base := time.Now().Truncate(time.Millisecond)
	ids := enrollDevices(t, s, 3*touchChunk+5, base)
	var ts []store.DeviceTouch
	for i, id := range ids {
		ts = append(ts, store.DeviceTouch{ID: id, At: base.Add(time.Duration(i+1) * time.Second)})
	}
	ts = append(ts,
		store.DeviceTouch{ID: ids[0], At: base.Add(time.Hour)},  // later, in the same call
		store.DeviceTouch{ID: ids[1], At: base.Add(-time.Hour)}, // earlier than stored
		store.DeviceTouch{ID: "dev_gone", At: base.Add(time.Hour)})
	rand.Shuffle(len(ts), func(i, j int) { ts[i], ts[j] = ts[j], ts[i] })
	if err := s.TouchDevices(ctx, ts); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchDevices(ctx, []store.DeviceTouch{{ID: ids[2], At: base}}); err != nil { // earlier than the last
		t.Fatal(err)
	}
	for i, id := range ids {
		want := base.Add(time.Duration(i+1) * time.Second)
		if i == 0 {
			want = base.Add(time.Hour)
		}
		d, err := s.GetDevice(ctx, id)
		if err != nil || !d.LastSeen.Equal(want) {
			t.Fatalf("%s: last seen %v (%v), want %v", id, d.LastSeen, err, want)
		}
	}
	if _, err := s.GetDevice(ctx, "dev_gone"); err == nil {
		t.Fatal("a touch made a device")
	}
	// The ids, sorted, come back in the order the devices were enrolled
	// (the table's), without the one that names no device.
	sorted := append(slices.Clone(ids), "dev_gone")
	slices.Sort(sorted)
	if got, err := s.inTableOrder(ctx, sorted); err != nil || !slices.Equal(got, ids) {
		t.Fatalf("in table order: %v (%v), want the enrollment order %v", got, err, ids)
	}
	plan := queryPlan(t, s, deviceTableOrder, `["dev_00001","dev_00002"]`)
	if strings.Contains(plan, "SCAN devices") || !strings.Contains(plan, "sqlite_autoindex_devices_1") {
		t.Fatalf("the read that orders touched devices: %s; want the devices found by their primary key", plan)
	}
}

// BenchmarkTouchDevices is a reconnect storm's last-seen times: half of
// 10,000 devices, picked at random. "as-they-come" writes them as the
// group commit of connects did, a transaction per 18 (the batch size a
// 5,000-device storm showed); "together" is one TouchDevices call, which
// takes them in the table's order.
//
//	go test ./server/store/sqlite -run '^$' -bench TouchDevices -benchtime 5x
func BenchmarkTouchDevices(b *testing.B) {
	for _, mode := range []string{"as-they-come", "together"} {
		b.Run(mode, func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "a.db"))
			defer closeStore(b, s)
			base := time.Now().Truncate(time.Millisecond)
			ids := enrollDevices(b, s, 10_000, base)
			const picked = 5000
			b.ResetTimer()
			for i := range b.N {
				at := base.Add(time.Duration(i+1) * time.Minute)
				ts := make([]store.DeviceTouch, 0, picked)
				for _, j := range rand.Perm(len(ids))[:picked] {
					ts = append(ts, store.DeviceTouch{ID: ids[j], At: at})
				}
				size := len(ts)
				if mode == "as-they-come" {
					size = 18
				}
				for len(ts) > 0 {
					n := min(size, len(ts))
					if err := s.TouchDevices(b.Context(), ts[:n]); err != nil {
						b.Fatal(err)
					}
					ts = ts[n:]
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*picked), "ns/device")
		})
	}
}

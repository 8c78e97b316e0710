package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

func signIn(user, device, network string, at time.Time) store.AuditEvent {
	return store.AuditEvent{Type: "signin.success", UserID: user, Time: at, Detail: map[string]string{"device": device, "network": network}}
}

// newestFirst is what ListAudit gives for a user's sign-ins.
func newestFirst(es ...store.AuditEvent) []store.AuditEvent {
	out := make([]store.AuditEvent, len(es))
	for i, e := range es {
		out[len(es)-1-i] = e
	}
	return out
}

// A user's sign-ins are read from the store once; the sign-ins noted after
// that are known without reading again, and only for their own user.
func TestSignInHistoryReadsAUserOnceAndKeepsUp(t *testing.T) {
	h := newSignInHistory(maxMarks)
	now := time.Now()
	since := now.Add(-historyWindow)
	reads := 0
	read := func(es ...store.AuditEvent) func() ([]store.AuditEvent, error) {
		return func() ([]store.AuditEvent, error) { reads++; return newestFirst(es...), nil }
	}
	dev, net, err := h.known(read(signIn("u1", "d1", "n1", now.Add(-time.Hour))), "u1", "d1", "n2", since)
	if err != nil || !dev || net {
		t.Fatalf("first ask: device %v network %v err %v; want the device known and not the network", dev, net, err)
	}
	h.note(signIn("u1", "d2", "n2", now))
	h.note(store.AuditEvent{Type: "push.approved", UserID: "u1", Time: now, Detail: map[string]string{"device": "d3"}})
	h.note(signIn("u2", "d4", "n4", now))
	for _, tc := range []struct {
		device, network string
		dev, net        bool
	}{{"d1", "n1", true, true}, {"d2", "n2", true, true}, {"d3", "n3", false, false}, {"d4", "n4", false, false}, {"", "", false, false}} {
		dev, net, err := h.known(read(), "u1", tc.device, tc.network, since)
		if err != nil || dev != tc.dev || net != tc.net {
			t.Errorf("%s/%s: device %v network %v err %v; want %v %v", tc.device, tc.network, dev, net, err, tc.dev, tc.net)
		}
	}
	if reads != 1 {
		t.Errorf("the store was read %d times for one user, want once", reads)
	}
	// u2 was not asked about when its sign-in was noted: it is read.
	if dev, _, _ := h.known(read(), "u2", "d4", "", since); dev || reads != 2 {
		t.Errorf("u2: device known %v after %d reads; want it read from the store (which has nothing)", dev, reads)
	}
}

// What is kept is what the store's read would give: the newest
// historyLimit sign-ins, within the window.
func TestSignInHistoryKeepsWhatTheStoreWouldGive(t *testing.T) {
	h := newSignInHistory(maxMarks)
	now := time.Now()
	since := now.Add(-historyWindow)
	var es []store.AuditEvent
	es = append(es, signIn("u1", "oldest", "n-oldest", now.Add(-2*time.Hour)))
	for i := 1; i < historyLimit; i++ {
		es = append(es, signIn("u1", "d", "n", now.Add(-time.Hour)))
	}
	read := func() ([]store.AuditEvent, error) { return newestFirst(es...), nil }
	if dev, net, _ := h.known(read, "u1", "oldest", "n-oldest", since); !dev || !net {
		t.Fatal("the oldest of historyLimit sign-ins is not known")
	}
	h.note(signIn("u1", "d", "n", now))
	if dev, net, _ := h.known(read, "u1", "oldest", "n-oldest", since); dev || net {
		t.Error("a sign-in older than the newest historyLimit is still known")
	}
	// A sign-in that left the window is not known, though kept.
	if dev, _, _ := h.known(read, "u1", "d", "", now.Add(time.Minute)); dev {
		t.Error("a sign-in before the window counts")
	}
}

// A read that raced a sign-in of the same user is used, not kept: the next
// ask reads again, so that the sign-in the read missed is not lost.
func TestSignInHistoryDropsAReadThatRacedASignIn(t *testing.T) {
	h := newSignInHistory(maxMarks)
	now := time.Now()
	since := now.Add(-historyWindow)
	reads := 0
	racing := func() ([]store.AuditEvent, error) {
		reads++
		if reads == 1 {
			// Stored and noted after the read saw the log.
			h.note(signIn("u1", "d2", "n2", now))
			return nil, nil
		}
		return newestFirst(signIn("u1", "d2", "n2", now)), nil
	}
	if dev, _, _ := h.known(racing, "u1", "d2", "", since); dev {
		t.Fatal("the racing read knew a sign-in it did not see")
	}
	if dev, _, _ := h.known(racing, "u1", "d2", "", since); !dev || reads != 2 {
		t.Fatalf("after the race: device known %v after %d reads; want it read again and known", dev, reads)
	}
	// A failed read keeps nothing.
	failing := func() ([]store.AuditEvent, error) { return nil, errors.New("disk on fire") }
	if _, _, err := h.known(failing, "u9", "d", "n", since); err == nil {
		t.Fatal("a failed read gave no error")
	}
	if _, ok := h.users["u9"]; ok {
		t.Fatal("a failed read was kept")
	}
}

// At most max sign-ins are kept: the user asked about least lately goes
// first and is read again when next asked about.
func TestSignInHistoryBoundsWhatItKeeps(t *testing.T) {
	h := newSignInHistory(8)
	now := time.Now()
	since := now.Add(-historyWindow)
	reads := map[string]int{}
	read := func(user string) func() ([]store.AuditEvent, error) {
		return func() ([]store.AuditEvent, error) {
			reads[user]++
			return newestFirst(signIn(user, "a", "n", now), signIn(user, "b", "n", now), signIn(user, "c", "n", now)), nil
		}
	}
	for _, u := range []string{"u1", "u2", "u1", "u3"} {
		if dev, _, _ := h.known(read(u), u, "b", "", since); !dev {
			t.Fatalf("%s: device not known", u)
		}
	}
	if h.marks > 8 {
		t.Fatalf("%d sign-ins kept, want at most 8", h.marks)
	}
	h.known(read("u1"), "u1", "a", "", since)
	h.known(read("u2"), "u2", "a", "", since)
	if reads["u1"] != 1 || reads["u2"] != 2 {
		t.Errorf("reads %v: want u1 (asked about lately) kept and u2 read again", reads)
	}
}

// On a sole node with a real SQLite store, fifty sign-ins in parallel from
// new devices and networks of ten users, with their risk assessed in
// between, leave the kept sign-ins answering as the store does for every
// device and network.
func TestSignInHistoryAgreesWithTheStore(t *testing.T) {
	ctx := context.Background()
	s := soleServer(t)
	if s.history == nil {
		t.Fatal("a sole node keeps no sign-in history")
	}
	var users []store.User
	for i := range 10 {
		users = append(users, testUser(t, s, fmt.Sprint("user", i)))
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			u := users[i%len(users)]
			s.assessRisk(ctx, u, fmt.Sprintf("192.0.%d.1", i%7), fmt.Sprint("dev", i%5))
			s.audit(ctx, store.AuditEvent{Type: "signin.success", UserID: u.ID,
				Detail: map[string]string{"device": fmt.Sprint("dev", i%5), "network": networkOf(fmt.Sprintf("192.0.%d.1", i%7))}})
			s.assessRisk(ctx, u, "198.51.100.1", "other")
		})
	}
	wg.Wait()
	now := s.now()
	since := now.Add(-historyWindow)
	for _, u := range users {
		evs, err := s.st.ListAudit(ctx, store.AuditFilter{UserID: u.ID, Types: historyEvents, Since: since, Newest: true, Limit: historyLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 5 {
			t.Fatalf("%s: %d sign-ins stored, want 5", u.Login, len(evs))
		}
		marks := make([]signInMark, len(evs))
		for i, e := range evs {
			marks[i] = markOf(e)
		}
		for d := range 6 {
			for n := range 8 {
				device, network := fmt.Sprint("dev", d), networkOf(fmt.Sprintf("192.0.%d.1", n))
				wantDev, wantNet := seen(marks, device, network, since)
				dev, net, err := s.signInsKnown(ctx, u.ID, device, network, now)
				if err != nil || dev != wantDev || net != wantNet {
					t.Errorf("%s %s %s: kept says %v %v (%v), the store %v %v", u.Login, device, network, dev, net, err, wantDev, wantNet)
				}
			}
		}
	}
}

// BenchmarkSignInsKnown is the part of a sign-in's risk that reads the
// user's successful sign-ins, for a user with a full history (historyLimit
// sign-ins in the window) on a sole node with a real SQLite store: "store"
// reads them at every sign-in, as several nodes do, "kept" from memory.
// Each op writes one audit event first, as a sign-in does, so that the
// store's readers start with an empty page cache as they do in a server.
func BenchmarkSignInsKnown(b *testing.B) {
	ctx := context.Background()
	s := soleServer(b)
	now := s.now()
	var es []store.AuditEvent
	for i := range historyLimit {
		es = append(es, signIn("usr_bench", fmt.Sprint("dev", i%40), fmt.Sprintf("192.0.%d.0/24", i%30), now.Add(-time.Duration(historyLimit-i)*time.Hour)))
	}
	if err := s.st.AppendAudits(ctx, es); err != nil {
		b.Fatal(err)
	}
	history := s.history
	for _, kept := range []bool{false, true} {
		b.Run(map[bool]string{false: "store", true: "kept"}[kept], func(b *testing.B) {
			s.history = nil
			if kept {
				s.history = history
			}
			for b.Loop() {
				if err := s.st.AppendAudits(ctx, []store.AuditEvent{{Type: "push.sent", UserID: "usr_other", Time: now}}); err != nil {
					b.Fatal(err)
				}
				dev, _, err := s.signInsKnown(ctx, "usr_bench", "dev-new", "198.51.100.0/24", now)
				if err != nil || dev {
					b.Fatal(dev, err)
				}
			}
		})
	}
	s.history = history
}

// soleServer is a server that alone serves a real SQLite store.
func soleServer(tb testing.TB) *Server {
	st, err := sqlite.Open(filepath.Join(tb.TempDir(), "assent.db"))
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(context.Background(), Options{URL: "http://127.0.0.1:8080", Store: st, SealKey: crypto.RandomBytes(32), SoleNode: true,
		PasswordParams: crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Shutdown() })
	return s
}

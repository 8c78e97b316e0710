package server

import (
	"regexp"
	"testing"
	"time"
)

// Challenge IDs made in turn sort in turn, so that the store's index of
// them grows at its end; each is still unique and carries the random part
// that makes it unguessable.
func TestTimedIDsSortByTimeAndStayUnique(t *testing.T) {
	start := time.Date(2026, 12, 1, 5, 0, 0, 0, time.UTC)
	shape := regexp.MustCompile(`^chl_[0-9A-V]{10}[A-Za-z0-9_-]{22}$`)
	var ids []string
	seen := map[string]bool{}
	for i := range 3000 {
		// Three IDs a millisecond, and steps across digit boundaries.
		at := start.Add(time.Duration(i/3)*time.Millisecond + time.Duration(i/300)*37*time.Hour)
		id := newTimedID("chl_", at)
		if !shape.MatchString(id) {
			t.Fatalf("%q: not chl_, 10 base32hex digits of time and 22 of random", id)
		}
		if seen[id] {
			t.Fatalf("%q made twice", id)
		}
		seen[id] = true
		ids = append(ids, id)
	}
	for i := 3; i < len(ids); i++ {
		if ids[i-3][:14] >= ids[i][:14] {
			t.Fatalf("%q (made later) does not sort after %q", ids[i], ids[i-3])
		}
	}
	// The time part is the millisecond in 48 bits (good past the year
	// 10,000), the last digit's two spare bits zero.
	if a, b := newTimedID("", time.UnixMilli(0)), newTimedID("", time.UnixMilli(1<<48-1)); a[:10] != "0000000000" || b[:10] != "VVVVVVVVVS" {
		t.Errorf("time part of 0 ms %q and of 2^48-1 ms %q", a[:10], b[:10])
	}
}

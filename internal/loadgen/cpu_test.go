package loadgen

import "testing"

func TestWaitSinceNeedsEveryNode(t *testing.T) {
	before := []nodeTimes{{cpu: 1, wait: 0.5, hasWait: true}, {cpu: 2, wait: 1, hasWait: true}}
	after := []nodeTimes{{cpu: 3, wait: 0.75, hasWait: true}, {cpu: 5, wait: 1.5, hasWait: true}}
	if w, ok := waitSince(before, after); !ok || w != 0.75 {
		t.Fatalf("waitSince = %v %v, want 0.75 true", w, ok)
	}
	if total, per := cpuSince(before, after); total != 5 || per[0] != 2 || per[1] != 3 {
		t.Fatalf("cpuSince = %v %v", total, per)
	}
	// A node that does not report it (not Linux, or an older assentd):
	// no figure rather than a part of one.
	after[1].hasWait = false
	if w, ok := waitSince(before, after); ok || w != 0 {
		t.Fatalf("waitSince with a silent node = %v %v, want 0 false", w, ok)
	}
}

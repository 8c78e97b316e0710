package server

import (
	"container/list"
	"context"
	"hash/maphash"
	"slices"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// signInHistory keeps in memory, on a node that alone writes its store
// (Options.SoleNode), what a sign-in's risk reads of a user's log: the
// device and network of each of the user's newest historyLimit successful
// sign-ins, as the store would give them. The store's read cost a
// sign-in 8 % of a node's CPU (docs/PERFORMANCE.md): every write empties
// the page cache of SQLite's readers, so each read went to the file.
//
// A user's sign-ins are read from the store once, when a sign-in first
// asks about the user, and kept up to date from then on by the server's
// own writes (note, called once a signin.success is stored): on a sole
// node no other process appends them. A read that raced a write for the
// same user is used once and not kept, so that no stored sign-in is ever
// missing from what is kept. At most maxMarks sign-ins are kept in all;
// the users asked about least lately go first, and are read again when
// next asked about.
type signInHistory struct {
	mu    sync.Mutex
	users map[string]*list.Element // of *userSignIns
	lru   *list.List               // front: asked about last
	marks int                      // sign-ins kept in all
	max   int
	seed  maphash.Seed
	// gen counts the sign-ins noted, by the stripe of their user: a read
	// from the store keeps its result only if no sign-in of a user of its
	// stripe was noted while it read.
	gen [64]uint64
}

// maxMarks bounds the sign-ins kept: about 90 bytes each, 20 MB in all.
const maxMarks = 200_000

type userSignIns struct {
	user  string
	marks []signInMark // oldest first, at most historyLimit
}

// signInMark is what risk reads of one successful sign-in.
type signInMark struct {
	at              time.Time
	device, network string
}

func newSignInHistory(max int) *signInHistory {
	return &signInHistory{users: map[string]*list.Element{}, lru: list.New(), max: max, seed: maphash.MakeSeed()}
}

func (h *signInHistory) stripe(user string) int {
	return int(maphash.String(h.seed, user) % uint64(len(h.gen)))
}

// known says whether the user signed in from device and from network
// since since, among the user's newest historyLimit sign-ins; read reads
// those from the store when they are not kept (newest first, as
// ListAudit gives them). An empty device or network is never known.
func (h *signInHistory) known(read func() ([]store.AuditEvent, error), user, device, network string, since time.Time) (knownDevice, knownNet bool, err error) {
	h.mu.Lock()
	if el, ok := h.users[user]; ok {
		h.lru.MoveToFront(el)
		knownDevice, knownNet = seen(el.Value.(*userSignIns).marks, device, network, since)
		h.mu.Unlock()
		return knownDevice, knownNet, nil
	}
	stripe := h.stripe(user)
	gen := h.gen[stripe]
	h.mu.Unlock()

	evs, err := read()
	if err != nil {
		return false, false, err
	}
	marks := make([]signInMark, 0, len(evs))
	for _, e := range slices.Backward(evs) {
		marks = append(marks, markOf(e))
	}
	if len(marks) > historyLimit {
		marks = marks[len(marks)-historyLimit:]
	}
	knownDevice, knownNet = seen(marks, device, network, since)

	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.users[user]; !ok && h.gen[stripe] == gen {
		h.users[user] = h.lru.PushFront(&userSignIns{user: user, marks: marks})
		h.marks += len(marks)
		h.evict()
	}
	return knownDevice, knownNet, nil
}

// note records an event the store has just stored, when it is one of the
// sign-ins risk reads (historyEvents).
func (h *signInHistory) note(e store.AuditEvent) {
	if !slices.Contains(historyEvents, e.Type) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen[h.stripe(e.UserID)]++
	el, ok := h.users[e.UserID]
	if !ok {
		return
	}
	u := el.Value.(*userSignIns)
	u.marks = append(u.marks, markOf(e))
	h.marks++
	if len(u.marks) > historyLimit {
		n := len(u.marks) - historyLimit
		u.marks = slices.Delete(u.marks, 0, n)
		h.marks -= n
	}
	h.evict()
}

// evict lets go of the users asked about least lately until at most max
// sign-ins are kept.
func (h *signInHistory) evict() {
	for h.marks > h.max && h.lru.Len() > 0 {
		u := h.lru.Remove(h.lru.Back()).(*userSignIns)
		delete(h.users, u.user)
		h.marks -= len(u.marks)
	}
}

func markOf(e store.AuditEvent) signInMark {
	return signInMark{at: e.Time, device: e.Detail["device"], network: e.Detail["network"]}
}

func seen(marks []signInMark, device, network string, since time.Time) (knownDevice, knownNet bool) {
	for _, m := range marks {
		if m.at.Before(since) {
			continue
		}
		if device != "" && m.device == device {
			knownDevice = true
		}
		if network != "" && m.network == network {
			knownNet = true
		}
	}
	return knownDevice, knownNet
}

// signInsKnown is assessRisk's read of a user's sign-ins: from memory on a
// sole node, from the store otherwise.
func (s *Server) signInsKnown(ctx context.Context, userID, device, network string, now time.Time) (knownDevice, knownNet bool, err error) {
	since := now.Add(-historyWindow)
	read := func() ([]store.AuditEvent, error) {
		return s.st.ListAudit(ctx, store.AuditFilter{UserID: userID, Types: historyEvents, Since: since, Newest: true, Limit: historyLimit})
	}
	if s.history != nil {
		return s.history.known(read, userID, device, network, since)
	}
	evs, err := read()
	if err != nil {
		return false, false, err
	}
	marks := make([]signInMark, len(evs))
	for i, e := range evs {
		marks[i] = markOf(e)
	}
	knownDevice, knownNet = seen(marks, device, network, since)
	return knownDevice, knownNet, nil
}

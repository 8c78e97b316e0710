package server

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seed-3a5b824e/assent/server/store"
)

// soleStore keeps the challenges of a single node in memory while they
// are pending, and writes each one to the store once, when it settles:
// the challenge as it ended, with its push.sent and its outcome's events,
// in one transaction. A push round trip then takes the store's writer once
// instead of twice (DESIGN.md, "Pending challenges").
//
// It is used only where one node serves every request (the in-process
// broker): that node sees every read and change of its challenges. What
// it promises is what the store promised before, except for challenges
// still pending when the process dies: an answer the device was told
// about is stored before it is told; a challenge nobody answered before a
// kill -9 is gone, with its push.sent, as if it was never sent (its device
// drops the prompt when it reconnects, and the sign-in asks again). A clean
// stop (Flush) writes the pending ones to the store first.
type soleStore struct {
	store.Store
	// told is told of audit events as they commit (Server.audited).
	told func(context.Context, []store.AuditEvent)

	mu       sync.Mutex
	byID     map[string]*pendingChallenge
	byDevice map[string]map[string]*pendingChallenge
	byTx     map[string]map[string]*pendingChallenge
	flushed  bool // after Flush every challenge goes straight to the store

	devices *deviceCache
	users   *userCache
	txs     *txCache

	// stored names the devices the store may hold pending challenges
	// of (from before a restart, or written straight to it), so that a
	// device's pending list skips the store when it holds none; storedAll
	// says it is not known (every list asks the store). storedGen counts
	// additions, so that a list that raced one does not clear its device.
	stored    map[string]bool
	storedAll bool
	storedGen uint64

	// settles writes settled challenges and nonces records one-time
	// keys, each batching what comes in together (group commit) when the
	// store can; nil when it cannot.
	settles *groupCommit[store.ChallengeWrite]
	nonces  *groupCommit[store.NonceUse]
	txPuts  *groupCommit[*store.Transaction]
	// seen writes devices' LastSeen a second behind the connects that
	// moved it (nil when the store cannot write them in batches).
	seen *seenWriter
	// warn is told of what goes wrong where no caller waits for it.
	warn func(msg string, err error)
	// sessions creates the sessions of sign-ins that end together in one
	// transaction, txCreates the transactions of those that start
	// together.
	sessions  *groupCommit[store.Session]
	txCreates *groupCommit[store.Transaction]
	// counterPuts writes counters changed in memory (nil when the store
	// cannot: counters then go to the store as they are).
	counterPuts *groupCommit[*store.Counter]
	counters    *writeCache[store.Counter]

	// settled keeps the last maxSettled challenges this node settled, as
	// the store reads them back (asStored), for the reads that follow at
	// once (a sign-in's poll reads the push it waited for, which the
	// store would read from a cold page cache). A change through the
	// store drops its copy first; a sweep drops those past expiry.
	// settledRing holds their ids in the order they settled; settledNext
	// is the oldest's slot once it is full.
	settled     map[string]store.Challenge
	settledRing []string
	settledNext int
	// asStored is how the store reads a challenge back; nil when it
	// cannot say, and then nothing settled is kept.
	asStored func(store.Challenge) store.Challenge
}

// maxSettled bounds the settled challenges kept for reading: seconds of
// pushes at full speed, a few MB.
const maxSettled = 4096

// maxBatch bounds the challenges one transaction writes.
const maxBatch = 128

// maxPendingInMemory bounds the challenges held: past it, new ones are
// written to the store at once, as before.
const maxPendingInMemory = 50_000

type pendingChallenge struct {
	mu   sync.Mutex
	c    store.Challenge
	sent []*store.Audit
	// gone is set once the challenge is in the store: from then on the
	// store answers for it.
	gone bool
}

func newSoleStore(st store.Store, told func(context.Context, []store.AuditEvent)) *soleStore {
	p := &soleStore{
		Store: st, told: told,
		byID:     map[string]*pendingChallenge{},
		byDevice: map[string]map[string]*pendingChallenge{},
		byTx:     map[string]map[string]*pendingChallenge{},
		devices:  newDeviceCache(),
		users:    newUserCache(),
		txs:      newTxCache(),
		counters: newCounterCache(),
		stored:   map[string]bool{}, storedAll: true,
		settled: map[string]store.Challenge{},
	}
	if f, ok := st.(store.ChallengeForm); ok {
		p.asStored = f.AsStored
	}
	if b, ok := st.(store.ChallengeBatcher); ok {
		p.settles = challengeCreates(b, func(ctx context.Context, c store.Challenge, audit ...*store.Audit) error {
			return p.Store.CreateChallenge(ctx, c, audit...)
		})
	}
	if b, ok := st.(store.NonceBatcher); ok {
		p.nonces = nonceBatches(b, func(ctx context.Context, u store.NonceUse) error {
			return p.Store.UseNonce(ctx, u.Key, u.Now, u.Expires)
		})
	}
	p.warn = func(string, error) {}
	if b, ok := st.(store.DeviceToucher); ok {
		p.seen = newSeenWriter(b.TouchDevices, func(err error) {
			p.warn("devices' last-seen times not written; trying again every second", err)
		})
	}
	if _, ok := st.(store.TransactionPutter); ok {
		p.txPuts = newGroupCommit(maxBatch, func(ps []*store.Transaction) []error {
			return p.putTransactions(context.Background(), ps...)
		})
	}
	if b, ok := st.(store.SessionBatcher); ok {
		p.sessions = allOrEach(b.CreateSessions, func(ctx context.Context, se store.Session) error {
			return p.Store.CreateSession(ctx, se)
		})
	}
	if b, ok := st.(store.TransactionCreator); ok {
		p.txCreates = allOrEach(b.CreateTransactions, func(ctx context.Context, t store.Transaction) error {
			return p.Store.CreateTransaction(ctx, t)
		})
	}
	if _, ok := st.(store.CounterPutter); ok {
		p.counterPuts = newGroupCommit(maxBatch, func(cs []*store.Counter) []error {
			err := p.putCounters(context.Background(), cs...)
			errs := make([]error, len(cs))
			for i := range errs {
				errs[i] = err
			}
			return errs
		})
	}
	return p
}

// TouchDevice records that a device was seen at: at once in the cache,
// and in the store within a second, with the others seen meanwhile (a
// reconnect storm's devices; seenWriter); false when the store cannot
// (the caller updates the device instead).
func (p *soleStore) TouchDevice(ctx context.Context, id string, at time.Time) (bool, error) {
	if p.seen == nil {
		return false, nil
	}
	p.devices.touch(id, at)
	p.seen.note(id, at)
	return true, nil
}

// create writes one settled challenge with its events, with the others
// that come in meanwhile when the store can.
func (p *soleStore) create(ctx context.Context, c store.Challenge, audit []*store.Audit) error {
	alone := func() error { return p.Store.CreateChallenge(ctx, c, audit...) }
	return p.settles.do(ctx, store.ChallengeWrite{Challenge: c, Audit: audit}, alone)
}

// CreateSession creates a session with the others that sign-ins create
// meanwhile, when the store can.
func (p *soleStore) CreateSession(ctx context.Context, se store.Session) error {
	return p.sessions.do(ctx, se, func() error { return p.Store.CreateSession(ctx, se) })
}

// UseNonce records a one-time key with the others that come in meanwhile
// (a reconnect storm's device tokens) when the store can.
func (p *soleStore) UseNonce(ctx context.Context, key string, now, expires time.Time) error {
	alone := func() error { return p.Store.UseNonce(ctx, key, now, expires) }
	return p.nonces.do(ctx, store.NonceUse{Key: key, Now: now, Expires: expires}, alone)
}

// collectors count the group commits' transactions and the items they
// wrote, by what they write (challenges, nonces, device_touches,
// transactions, counters): items ÷ transactions is the batch size.
func (p *soleStore) collectors() []prometheus.Collector {
	return slices.Concat(p.settles.collectors("challenges"), p.nonces.collectors("nonces"),
		p.seen.collectors("device_touches"), p.txPuts.collectors("transactions"),
		p.counterPuts.collectors("counters"), p.sessions.collectors("sessions"),
		p.txCreates.collectors("transaction_creates"))
}

// Close stops the group commits and closes the store.
func (p *soleStore) Close() error {
	p.settles.close()
	p.nonces.close()
	if p.seen != nil {
		if err := p.seen.close(context.Background()); err != nil {
			p.warn("stop: devices' last-seen times not written", err)
		}
	}
	p.txPuts.close()
	p.counterPuts.close()
	p.sessions.close()
	p.txCreates.close()
	return p.Store.Close()
}

func (p *soleStore) lookup(id string) *pendingChallenge {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.byID[id]
}

// CreateChallenge keeps a pending challenge in memory (its events with
// it, to commit when it settles); anything else goes to the store.
func (p *soleStore) CreateChallenge(ctx context.Context, c store.Challenge, audit ...*store.Audit) error {
	if c.Status != store.ChallengePending {
		return p.Store.CreateChallenge(ctx, c, audit...)
	}
	p.mu.Lock()
	if p.flushed || len(p.byID) >= maxPendingInMemory {
		p.markStoredLocked(c.DeviceID)
		p.mu.Unlock()
		return p.Store.CreateChallenge(ctx, c, audit...)
	}
	if _, dup := p.byID[c.ID]; dup {
		p.mu.Unlock()
		return store.ErrConflict
	}
	pc := &pendingChallenge{c: c, sent: audit}
	p.byID[c.ID] = pc
	addIndex(p.byDevice, c.DeviceID, pc)
	if c.TxID != "" {
		addIndex(p.byTx, c.TxID, pc)
	}
	p.mu.Unlock()
	for _, a := range audit {
		a.Stored = nil // not yet: they commit with the outcome
	}
	return nil
}

func addIndex(ix map[string]map[string]*pendingChallenge, key string, pc *pendingChallenge) {
	m := ix[key]
	if m == nil {
		m = map[string]*pendingChallenge{}
		ix[key] = m
	}
	m[pc.c.ID] = pc
}

func dropIndex(ix map[string]map[string]*pendingChallenge, key, id string) {
	if m := ix[key]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(ix, key)
		}
	}
}

// markStoredLocked notes that the store may now hold pending challenges
// of deviceID; the caller holds p.mu.
func (p *soleStore) markStoredLocked(deviceID string) {
	p.stored[deviceID] = true
	p.storedGen++
}

// LoadStored learns which devices the store holds pending challenges of
// (left by an earlier run); until it has, every pending list asks the
// store.
func (p *soleStore) LoadStored(ctx context.Context) error {
	p.mu.Lock()
	gen := p.storedGen
	p.mu.Unlock()
	cs, err := p.Store.ListChallenges(ctx, store.ChallengeFilter{Status: store.ChallengePending})
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.stored[c.DeviceID] = true
	}
	if gen == p.storedGen {
		p.storedAll = false
	}
	return nil
}

// forget removes a challenge that is now in the store.
func (p *soleStore) forget(pc *pendingChallenge) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.byID, pc.c.ID)
	dropIndex(p.byDevice, pc.c.DeviceID, pc.c.ID)
	dropIndex(p.byTx, pc.c.TxID, pc.c.ID)
}

// persist writes pc, changed to c, with its push.sent and the events of
// audit, in one transaction; the caller holds pc.mu. Once it has, the
// store answers for the challenge.
func (p *soleStore) persist(ctx context.Context, pc *pendingChallenge, c store.Challenge, audit ...*store.Audit) error {
	all := append(slices.Clip(pc.sent), audit...)
	if err := p.create(ctx, c, all); err != nil {
		return err
	}
	pc.gone = true
	pc.c = c
	p.forget(pc)
	p.keepSettled(c)
	for _, a := range pc.sent {
		p.told(ctx, a.Stored)
	}
	return nil
}

func (p *soleStore) GetChallenge(ctx context.Context, id string) (store.Challenge, error) {
	if pc := p.lookup(id); pc != nil {
		pc.mu.Lock()
		c, gone := pc.c, pc.gone
		pc.mu.Unlock()
		if !gone {
			return c, nil
		}
	}
	p.mu.Lock()
	c, ok := p.settled[id]
	p.mu.Unlock()
	if ok {
		return c, nil
	}
	return p.Store.GetChallenge(ctx, id)
}

// keepSettled keeps c, just stored as settled, for the reads that follow
// (not one a clean stop stored still pending).
func (p *soleStore) keepSettled(c store.Challenge) {
	if c.Status == store.ChallengePending || p.asStored == nil {
		return
	}
	c = p.asStored(c)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.settledRing) < maxSettled {
		p.settledRing = append(p.settledRing, c.ID)
	} else {
		delete(p.settled, p.settledRing[p.settledNext])
		p.settledRing[p.settledNext] = c.ID
		p.settledNext = (p.settledNext + 1) % maxSettled
	}
	p.settled[c.ID] = c
}

// dropSettled forgets the kept copy of a challenge about to change in the
// store: from then on the store answers for it. Its id stays in the ring
// until its slot is reused.
func (p *soleStore) dropSettled(id string) {
	p.mu.Lock()
	delete(p.settled, id)
	p.mu.Unlock()
}

// UpdateChallenge changes a challenge held in memory by writing it, as
// changed, to the store with all its events; one held in the store
// changes there. Of updates racing on one challenge, each sees the one
// before it, as in the store.
func (p *soleStore) UpdateChallenge(ctx context.Context, id string, fn func(*store.Challenge) error, audit ...*store.Audit) (store.Challenge, error) {
	pc := p.lookup(id)
	if pc == nil {
		return p.updateStored(ctx, id, fn, audit...)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if pc.gone {
		// Settled while this waited: the store has it now.
		return p.updateStored(ctx, id, fn, audit...)
	}
	c := pc.c
	c.Numbers = slices.Clone(c.Numbers)
	c.Context = slices.Clone(c.Context)
	if err := fn(&c); err != nil {
		return store.Challenge{}, err
	}
	if err := p.persist(ctx, pc, c, audit...); err != nil {
		return store.Challenge{}, err
	}
	return c, nil
}

// updateStored changes a challenge the store holds, with its kept copy
// dropped before and after, so that no read after the change meets the
// copy from before it.
func (p *soleStore) updateStored(ctx context.Context, id string, fn func(*store.Challenge) error, audit ...*store.Audit) (store.Challenge, error) {
	p.dropSettled(id)
	defer p.dropSettled(id)
	return p.Store.UpdateChallenge(ctx, id, fn, audit...)
}

// ListChallenges lists the store's and memory's matches, oldest first.
func (p *soleStore) ListChallenges(ctx context.Context, f store.ChallengeFilter) ([]store.Challenge, error) {
	// Memory first, then the store: a challenge written in between shows
	// in both, and the store's copy (the newer) wins.
	mem := p.matching(f)
	byDevice := f.DeviceID != "" && f.Status == store.ChallengePending
	var gen uint64
	if f.Status == store.ChallengePending {
		p.mu.Lock()
		// The store holds none of the device's pending challenges, or
		// none at all (a sign-in's list of its push's challenges).
		skip := !p.storedAll && (len(p.stored) == 0 || byDevice && !p.stored[f.DeviceID])
		gen = p.storedGen
		p.mu.Unlock()
		if skip {
			return mem, nil
		}
	}
	cs, err := p.Store.ListChallenges(ctx, f)
	if err != nil {
		return nil, err
	}
	if byDevice && len(cs) == 0 {
		// None left in the store (answered or expired there): the next
		// list need not ask, unless one was written meanwhile.
		p.mu.Lock()
		if gen == p.storedGen {
			delete(p.stored, f.DeviceID)
		}
		p.mu.Unlock()
	}
	if len(mem) == 0 {
		return cs, nil
	}
	have := make(map[string]bool, len(cs))
	for _, c := range cs {
		have[c.ID] = true
	}
	for _, c := range mem {
		if !have[c.ID] {
			cs = append(cs, c)
		}
	}
	slices.SortStableFunc(cs, func(a, b store.Challenge) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return cs, nil
}

func (p *soleStore) matching(f store.ChallengeFilter) []store.Challenge {
	if f.Status != "" && f.Status != store.ChallengePending {
		return nil // what memory holds is pending
	}
	p.mu.Lock()
	var pcs []*pendingChallenge
	switch {
	case f.DeviceID != "":
		for _, pc := range p.byDevice[f.DeviceID] {
			pcs = append(pcs, pc)
		}
	case f.TxID != "":
		for _, pc := range p.byTx[f.TxID] {
			pcs = append(pcs, pc)
		}
	default:
		for _, pc := range p.byID {
			pcs = append(pcs, pc)
		}
	}
	p.mu.Unlock()
	var out []store.Challenge
	for _, pc := range pcs {
		pc.mu.Lock()
		c, gone := pc.c, pc.gone
		pc.mu.Unlock()
		if gone || !matches(c, f) {
			continue
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b store.Challenge) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func matches(c store.Challenge, f store.ChallengeFilter) bool {
	return (f.DeviceID == "" || c.DeviceID == f.DeviceID) &&
		(f.UserID == "" || c.UserID == f.UserID) &&
		(f.TxID == "" || c.TxID == f.TxID) &&
		(f.Status == "" || c.Status == f.Status) &&
		(f.Since.IsZero() || !c.CreatedAt.Before(f.Since))
}

// GarbageCollect sweeps the store, then expires the challenges memory
// holds past their time: each is written as expired with its push.sent
// and push.expired.
func (p *soleStore) GarbageCollect(ctx context.Context, now time.Time) (store.GCResult, error) {
	res, err := p.Store.GarbageCollect(ctx, now)
	if err != nil {
		return res, err
	}
	p.mu.Lock()
	for id, c := range p.settled {
		if !now.Before(c.ExpiresAt) {
			delete(p.settled, id)
		}
	}
	var due []*pendingChallenge
	for _, pc := range p.byID {
		// ExpiresAt never changes while a challenge is in memory.
		if !now.Before(pc.c.ExpiresAt) {
			due = append(due, pc)
		}
	}
	p.mu.Unlock()
	for _, pc := range due {
		pc.mu.Lock()
		if !pc.gone {
			c := pc.c
			c.Status, c.Reason = store.ChallengeExpired, store.ExpiredReason
			expired := &store.Audit{Events: []store.AuditEvent{store.ExpiredEvent(c, now)}}
			if err := p.persist(ctx, pc, c, expired); err != nil {
				pc.mu.Unlock()
				return res, err
			}
			res.Expired = append(res.Expired, c)
			res.Audits = append(res.Audits, expired.Stored...)
		}
		pc.mu.Unlock()
	}
	return res, nil
}

// Flush writes every challenge memory holds to the store as it is, with
// its push.sent, and sends every later one straight to the store: a
// clean stop keeps the pushes in flight, to be answered after a restart.
// Devices' last-seen times are written too, and later ones at once.
func (p *soleStore) Flush(ctx context.Context) error {
	var first error
	if p.seen != nil {
		first = p.seen.close(ctx)
	}
	p.mu.Lock()
	p.flushed = true
	p.storedAll = true
	p.storedGen++
	pcs := make([]*pendingChallenge, 0, len(p.byID))
	for _, pc := range p.byID {
		pcs = append(pcs, pc)
	}
	p.mu.Unlock()
	for _, pc := range pcs {
		pc.mu.Lock()
		if !pc.gone {
			if err := p.persist(ctx, pc, pc.c); err != nil && first == nil {
				first = err
			}
		}
		pc.mu.Unlock()
	}
	return first
}

// held counts the challenges in memory (for tests).
func (p *soleStore) held() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.byID)
}

// SpaceShort passes on whether the store gave up its space reserve
// (readyz).
func (p *soleStore) SpaceShort() bool {
	sp, ok := p.Store.(spaceShort)
	return ok && sp.SpaceShort()
}

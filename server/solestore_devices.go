package server

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// deviceCache keeps devices as the store last returned them, for a node
// that alone changes them (soleStore): every change of a device goes
// through this process's store, which drops what it cached of that
// device and its user. A push reads the user's devices and an answer or a
// reconnect reads the device: without the cache each is a query.
//
// gen counts changes: a read that raced a change (it began before the
// change ended) is not cached, so a revocation is never overwritten by
// the device as it was before.
type deviceCache struct {
	mu     sync.Mutex
	gen    uint64
	byID   map[string]store.Device
	byUser map[string][]store.Device
}

// maxCachedDevices bounds the cache; past it, reads go to the store.
const maxCachedDevices = 200_000

func newDeviceCache() *deviceCache {
	return &deviceCache{byID: map[string]store.Device{}, byUser: map[string][]store.Device{}}
}

func (dc *deviceCache) get(id string) (store.Device, uint64, bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	d, ok := dc.byID[id]
	return d, dc.gen, ok
}

func (dc *deviceCache) list(userID string) ([]store.Device, uint64, bool) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	ds, ok := dc.byUser[userID]
	return slices.Clone(ds), dc.gen, ok
}

func (dc *deviceCache) putDevice(d store.Device, gen uint64) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if gen == dc.gen && len(dc.byID) < maxCachedDevices {
		dc.byID[d.ID] = d
	}
}

func (dc *deviceCache) putList(userID string, ds []store.Device, gen uint64) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if gen == dc.gen && len(dc.byUser) < maxCachedDevices {
		dc.byUser[userID] = slices.Clone(ds)
	}
}

// touch moves a cached device's LastSeen forward (LastSeen decides
// nothing: a read that raced it may put an older one back, which costs
// one more touch).
func (dc *deviceCache) touch(id string, at time.Time) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	d, ok := dc.byID[id]
	if !ok {
		return
	}
	if d.LastSeen.Before(at) {
		d.LastSeen = at
		dc.byID[id] = d
	}
	for i, ud := range dc.byUser[d.UserID] {
		if ud.ID == id && ud.LastSeen.Before(at) {
			dc.byUser[d.UserID][i].LastSeen = at
		}
	}
}

// drop forgets a device and its user's list; reads in flight are not
// cached.
func (dc *deviceCache) drop(id, userID string) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	dc.gen++
	if d, ok := dc.byID[id]; ok && userID == "" {
		userID = d.UserID
	}
	delete(dc.byID, id)
	if userID != "" {
		delete(dc.byUser, userID)
	}
}

// LoadDevices fills the device cache with every device the store holds,
// in one read: after a restart every device reconnects within seconds,
// and a query for each (the cache is empty) costs nearly as much as its
// signature check. When every device fits, users' device lists are made
// from the same read (the scan gives a user's devices together, in
// ListDevices' order), so that a user's first push after a start asks the
// store nothing either; otherwise lists are read when a push first asks
// for them. A change while it reads leaves the cache as it was (drop's
// generation); so does a store without store.DeviceScanner.
func (p *soleStore) LoadDevices(ctx context.Context) error {
	sc, ok := p.Store.(store.DeviceScanner)
	if !ok {
		return nil
	}
	dc := p.devices
	dc.mu.Lock()
	gen := dc.gen
	dc.mu.Unlock()
	ds, err := sc.ListAllDevices(ctx)
	if err != nil {
		return err
	}
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.gen != gen {
		return nil
	}
	all := true
	for _, d := range ds {
		if len(dc.byID) >= maxCachedDevices {
			all = false
			break // the rest are read when asked for
		}
		if _, ok := dc.byID[d.ID]; !ok {
			dc.byID[d.ID] = d
		}
	}
	if !all {
		return nil
	}
	for i := 0; i < len(ds); {
		j := i + 1
		for j < len(ds) && ds[j].UserID == ds[i].UserID {
			j++
		}
		if _, ok := dc.byUser[ds[i].UserID]; !ok {
			dc.byUser[ds[i].UserID] = slices.Clone(ds[i:j])
		}
		i = j
	}
	return nil
}

func (p *soleStore) GetDevice(ctx context.Context, id string) (store.Device, error) {
	d, gen, ok := p.devices.get(id)
	if ok {
		return d, nil
	}
	d, err := p.Store.GetDevice(ctx, id)
	if err == nil {
		p.devices.putDevice(d, gen)
	}
	return d, err
}

func (p *soleStore) ListDevices(ctx context.Context, userID string) ([]store.Device, error) {
	ds, gen, ok := p.devices.list(userID)
	if ok {
		return ds, nil
	}
	ds, err := p.Store.ListDevices(ctx, userID)
	if err == nil {
		p.devices.putList(userID, ds, gen)
	}
	return ds, err
}

// UpdateDevice changes the device in the store; the cache forgets it
// before and after, whatever the outcome, so that no read cached while it
// ran survives it.
func (p *soleStore) UpdateDevice(ctx context.Context, id string, fn func(*store.Device) error) (store.Device, error) {
	p.devices.drop(id, "")
	d, err := p.Store.UpdateDevice(ctx, id, fn)
	p.devices.drop(id, d.UserID)
	return d, err
}

// CompleteEnrollment enrolls the device and then reads it and its user's
// devices into the cache: the new device connects at once, and its user's
// first push (often the sign-in the enrollment was for) follows; without
// this each would wait for a query that the enrollment, which nobody
// waits on to the millisecond, can make instead.
func (p *soleStore) CompleteEnrollment(ctx context.Context, tokenHash string, now time.Time, dev store.Device) (store.Device, error) {
	d, err := p.Store.CompleteEnrollment(ctx, tokenHash, now, dev)
	p.devices.drop(d.ID, d.UserID)
	if err == nil {
		// Reads, cached as any read is (a change racing them is not);
		// one that fails is made again when asked for.
		_, _ = p.GetDevice(ctx, d.ID)
		_, _ = p.ListDevices(ctx, d.UserID)
	}
	return d, err
}

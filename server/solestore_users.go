package server

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/seed-3a5b824e/assent/server/store"
)

// userCache keeps users as the store last returned them, for a node that
// alone changes them (soleStore): every change of a user goes through
// this process's store (UpdateUser); other processes on the data folder
// (assentd user add) only add users, and a login not found is never
// cached. A push request and every step of a sign-in read the user: each
// read was a query (about 190 µs of CPU in the profile at 250 pushes/s).
//
// As with devices, gen counts changes, and a read that raced one is not
// cached. Users are copied out, so that a caller changing a returned
// user's groups or profile cannot change the cache.
type userCache struct {
	mu      sync.Mutex
	gen     uint64
	byID    map[string]store.User
	byLogin map[string]string   // login as asked → id
	logins  map[string][]string // id → the logins it was asked as
}

// maxCachedUsers bounds the cache; past it, reads go to the store.
const maxCachedUsers = 200_000

func newUserCache() *userCache {
	return &userCache{byID: map[string]store.User{}, byLogin: map[string]string{}, logins: map[string][]string{}}
}

func copyUser(u store.User) store.User {
	u.Groups = slices.Clone(u.Groups)
	u.Profile = maps.Clone(u.Profile)
	return u
}

func (uc *userCache) get(id string) (store.User, uint64, bool) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	u, ok := uc.byID[id]
	return copyUser(u), uc.gen, ok
}

func (uc *userCache) getByLogin(login string) (store.User, uint64, bool) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if id, ok := uc.byLogin[login]; ok {
		if u, ok := uc.byID[id]; ok {
			return copyUser(u), uc.gen, true
		}
	}
	return store.User{}, uc.gen, false
}

// put caches u, read as login when login is not empty.
func (uc *userCache) put(u store.User, login string, gen uint64) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	if gen != uc.gen || len(uc.byID) >= maxCachedUsers {
		return
	}
	uc.byID[u.ID] = copyUser(u)
	if login != "" {
		if _, had := uc.byLogin[login]; !had {
			uc.logins[u.ID] = append(uc.logins[u.ID], login)
		}
		uc.byLogin[login] = u.ID
	}
}

// drop forgets a user; reads in flight are not cached.
func (uc *userCache) drop(id string) {
	uc.mu.Lock()
	defer uc.mu.Unlock()
	uc.gen++
	delete(uc.byID, id)
	for _, login := range uc.logins[id] {
		delete(uc.byLogin, login)
	}
	delete(uc.logins, id)
}

func (p *soleStore) GetUser(ctx context.Context, id string) (store.User, error) {
	u, gen, ok := p.users.get(id)
	if ok {
		return u, nil
	}
	u, err := p.Store.GetUser(ctx, id)
	if err == nil {
		p.users.put(u, "", gen)
	}
	return u, err
}

func (p *soleStore) GetUserByLogin(ctx context.Context, login string) (store.User, error) {
	u, gen, ok := p.users.getByLogin(login)
	if ok {
		return u, nil
	}
	u, err := p.Store.GetUserByLogin(ctx, login)
	if err == nil {
		p.users.put(u, login, gen)
	}
	return u, err
}

// UpdateUser changes the user in the store; the cache forgets it before
// and after, whatever the outcome.
func (p *soleStore) UpdateUser(ctx context.Context, id string, fn func(*store.User) error) (store.User, error) {
	p.users.drop(id)
	u, err := p.Store.UpdateUser(ctx, id, fn)
	p.users.drop(id)
	return u, err
}

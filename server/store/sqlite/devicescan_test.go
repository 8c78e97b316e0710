package sqlite

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
)

// ListAllDevices gives each user's devices together, in ListDevices'
// order (ties of the same millisecond included), walking the index by
// user without sorting: the node makes users' device lists from it.
func TestListAllDevicesGivesEachUsersDevicesInListOrder(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	ctx := t.Context()
	now := time.Now()
	users := []string{"u_c", "u_a", "u_b"}
	for _, u := range users {
		if err := s.CreateUser(ctx, store.User{ID: u, Login: u, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	// Devices of the users interleaved, some created in the same
	// millisecond, some earlier than devices enrolled before them.
	for i := range 12 {
		u := users[i%3]
		at := now.Add(time.Duration(5-i%4) * time.Millisecond)
		h := fmt.Sprintf("h%d", i)
		if err := s.CreateEnrollToken(ctx, store.EnrollToken{Hash: h, UserID: u, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CompleteEnrollment(ctx, h, now, store.Device{ID: fmt.Sprintf("dev_%02d", 11-i), PublicKey: []byte("{}"), Name: "Phone", CreatedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.ListAllDevices(ctx)
	if err != nil || len(all) != 12 {
		t.Fatalf("ListAllDevices: %d devices, %v", len(all), err)
	}
	seen := map[string]bool{}
	for i := 0; i < len(all); {
		u := all[i].UserID
		if seen[u] {
			t.Fatalf("the devices of %s are not together: %v", u, all)
		}
		seen[u] = true
		j := i
		for j < len(all) && all[j].UserID == u {
			j++
		}
		want, err := s.ListDevices(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(all[i:j], want) {
			t.Fatalf("devices of %s from the scan:\n%v\nListDevices:\n%v", u, all[i:j], want)
		}
		i = j
	}
	if plan := queryPlan(t, s, deviceAll); !strings.Contains(plan, "devices_user") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("plan of the scan %q: want the index by user, no sort", plan)
	}
}

package server

import (
	"context"
	"sync"
	"testing"
)

// TestDeviceRevokesItselfOnce: fifty revocations of one device at once (a
// device's DELETE /v1/device sent fifty times in parallel passes its
// "not revoked" check fifty times), and one more afterwards, revoke it once:
// one device.revoked in the audit log, each call still succeeds.
func TestDeviceRevokesItselfOnce(t *testing.T) {
	s := newTestServer(t)
	u := testUser(t, s, "dave")
	d := testDevice(t, s, u, "phone", "android")
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.RevokeDevice(context.Background(), d.ID, "device"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := s.RevokeDevice(context.Background(), d.ID, "device"); err != nil {
		t.Fatalf("revoking a revoked device again = %v, want nil", err)
	}
	if !deviceRevoked(t, s, d.ID) {
		t.Fatal("the device is not revoked")
	}
	if n := auditCount(t, s, u.ID, "device.revoked"); n != 1 {
		t.Fatalf("%d device.revoked events, want 1", n)
	}
	if err := s.RevokeDevice(context.Background(), "dev_unknown", "device"); err == nil {
		t.Fatal("revoking an unknown device succeeded")
	}
}

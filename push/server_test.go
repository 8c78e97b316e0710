package push_test

// These tests run the device client against a real assentd on a loopback
// port (as e2e does), for what only the real server can say: that the
// claims and tokens the client makes are the ones the server accepts.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

type realServer struct {
	srv *server.Server
	st  store.Store
	url string
}

func startServer(t *testing.T) *realServer {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "assent.db"))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	srv, err := server.New(context.Background(), server.Options{
		URL: url, Org: "Example Org", Store: st, SealKey: crypto.RandomBytes(32),
		PasswordParams: crypto.Argon2Params{Time: 1, Memory: 64, Threads: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		hs.Close()
		st.Close()
	})
	return &realServer{srv: srv, st: st, url: url}
}

func (s *realServer) user(t *testing.T, login string) store.User {
	t.Helper()
	u, err := s.srv.AddUser(context.Background(), server.NewUser{Login: login, Password: "correct horse battery", Email: login + "@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

var testDevice = push.Device{Name: "unit test", Platform: "linux", KeyStore: "file"}

func TestClientEnrollsPollsListensAndIsRevokedByARealServer(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	s.user(t, "alice")
	link, err := s.srv.NewEnrollLink(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := crypto.NewDeviceKey()
	resp, serverKey, err := push.EnrollDevice(ctx, http.DefaultClient, link, key, testDevice, time.Now())
	if err != nil {
		t.Fatalf("EnrollDevice: %v", err)
	}
	if resp.User != "alice" || resp.Server != s.url || resp.PushURL == "" {
		t.Fatalf("enroll answer = %+v", resp)
	}
	c := &push.Client{Server: link.Server, PushURL: resp.PushURL, EnrollmentID: resp.EnrollmentID, Key: key, ServerKey: serverKey}

	chs, serverTime, err := c.Poll(ctx)
	if err != nil || len(chs) != 0 {
		t.Fatalf("Poll = %v, %v; want no challenges", chs, err)
	}
	if d := time.Since(serverTime); d.Abs() > time.Minute {
		t.Fatalf("Poll's serverTime is %v away from now", d)
	}

	// The socket comes up: connecting, then connected with a welcome.
	var mu sync.Mutex
	var states []push.ConnState
	connected := make(chan struct{})
	welcomed := make(chan time.Time, 1)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- c.Run(runCtx, push.Handler{
			Welcome: func(st time.Time) { welcomed <- st },
			State: func(st push.ConnState, err error) {
				mu.Lock()
				states = append(states, st)
				mu.Unlock()
				if st == push.StateConnected {
					close(connected)
				}
			},
		})
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("the push channel did not come up")
	}
	if st := <-welcomed; time.Since(st).Abs() > time.Minute {
		t.Fatalf("welcome serverTime %v is far from now", st)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v after cancel, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	mu.Lock()
	got := append([]push.ConnState(nil), states...)
	mu.Unlock()
	if want := []push.ConnState{push.StateConnecting, push.StateConnected, push.StateOffline}; !slices.Equal(got, want) {
		t.Fatalf("states = %v, want %v", got, want)
	}

	// Revoked, the device is refused for good, and Run says so at once.
	if err := c.Revoke(ctx); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	_, _, err = c.Poll(ctx)
	var ae *push.APIError
	if !errors.As(err, &ae) || ae.Code != "device_revoked" || ae.Status != http.StatusForbidden {
		t.Fatalf("Poll after revoke = %v, want device_revoked (403)", err)
	}
	// At once means without a reconnect, not within some time: the
	// deadline only stops a Run that would retry for ever.
	var after []push.ConnState
	revokedCtx, cancelRevoked := context.WithTimeout(ctx, time.Minute)
	defer cancelRevoked()
	err = c.Run(revokedCtx, push.Handler{State: func(st push.ConnState, _ error) { after = append(after, st) }})
	if !push.Permanent(err) || !errors.As(err, &ae) || ae.Code != "device_revoked" {
		t.Fatalf("Run after revoke = %v, want device_revoked", err)
	}
	if want := []push.ConnState{push.StateConnecting, push.StateOffline}; !slices.Equal(after, want) {
		t.Fatalf("states after revoke = %v, want %v: no reconnect", after, want)
	}
}

func TestEnrollmentRefusedForItsPinIsRevokedOnTheServer(t *testing.T) {
	s := startServer(t)
	ctx := context.Background()
	u := s.user(t, "bob")
	link, err := s.srv.NewEnrollLink(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := crypto.NewDeviceKey()
	link.Pin, _ = crypto.Thumbprint(&other.PublicKey)
	key, _ := crypto.NewDeviceKey()
	if _, _, err := push.EnrollDevice(ctx, http.DefaultClient, link, key, testDevice, time.Now()); !errors.Is(err, push.ErrPinMismatch) {
		t.Fatalf("EnrollDevice = %v, want ErrPinMismatch", err)
	}
	devs, err := s.st.ListDevices(ctx, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(devs) != 1 || devs[0].RevokedAt.IsZero() {
		t.Fatalf("devices = %+v, want the refused enrollment revoked", devs)
	}
}

package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/postgres"
)

// TestPushAcrossNodesWithTheBrokerDownIsReportedUnreachable takes NATS
// away from two nodes while a device holds its socket on node B: a push
// made on node A is reported as unreachable (not "sent", and never
// delivered late), a push made on node B still reaches the device, and
// once NATS is back pushes cross nodes again.
func TestPushAcrossNodesWithTheBrokerDownIsReportedUnreachable(t *testing.T) {
	opts := &natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	ns, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS did not start")
	}
	opts.Port = ns.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { ns.Shutdown() })

	c := newCluster(t, ns.ClientURL(), 2)
	ctx := context.Background()
	a, b := 0, 1
	if _, err := c.nodes[a].srv.AddApp(ctx, "cli-test", "embedded"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[a].srv.AddUser(ctx, server.NewUser{Login: "nina", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	link, err := c.nodes[a].srv.NewEnrollLink(ctx, "nina")
	if err != nil {
		t.Fatal(err)
	}
	d := c.device("nina-phone")
	c.route(b, a)
	if _, err := d.Enroll(ctx, link); err != nil {
		t.Fatal(err)
	}
	prompts := make(chan core.Prompt, 8)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go d.Listen(lctx, core.Events{Prompt: func(p core.Prompt) { prompts <- p }})
	waitFor(t, func() bool { return c.nodes[b].srv.ConnectedDevices() == 1 })

	ready := func(n int) int {
		rec := httptest.NewRecorder()
		c.nodes[n].srv.OpsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	ns.Shutdown()
	waitFor(t, func() bool {
		return ready(a) == http.StatusServiceUnavailable && ready(b) == http.StatusServiceUnavailable
	})

	// On node A: the device's node cannot be told.
	tx := sdkSignIn(t, sdk.New(c.url), "nina")
	_, err = tx.Do(ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	wantCode(t, err, "device_unreachable")
	var ae *sdk.Error
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable || ae.RetryAfter == 0 {
		t.Errorf("push with the broker down: %+v, want 503 with a time to retry", ae)
	}
	// The undelivered challenge is cancelled: nothing can answer it later.
	st, err := postgres.Open(ctx, c.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, err := st.ListChallenges(ctx, store.ChallengeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Status != store.ChallengeCancelled {
		t.Fatalf("challenges after the unreachable push: %+v, want one, cancelled", cs)
	}
	// The user can still use a code on the same transaction.
	if _, err := tx.Do(ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthTOTP}); err != nil {
		t.Fatalf("choosing a code after the unreachable push: %v", err)
	}

	// On node B, which holds the socket, the push still arrives.
	c.route(b, b)
	tx, number := cliPush(t, sdk.New(c.url), "nina")
	p := recv(t, prompts)
	if _, err := d.Approve(ctx, p, number); err != nil {
		t.Fatal(err)
	}
	if r, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{}); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("sign-in on the device's own node with the broker down = %+v, %v", r, err)
	}

	// NATS comes back on the same address; pushes cross nodes again.
	ns2, err := natsserver.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns2.Start()
	if !ns2.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS did not restart")
	}
	t.Cleanup(ns2.Shutdown)
	waitFor(t, func() bool { return ready(a) == http.StatusOK && ready(b) == http.StatusOK })
	c.route(b, a)
	tx, number = cliPush(t, sdk.New(c.url), "nina")
	p = recv(t, prompts)
	if _, err := d.Approve(ctx, p, number); err != nil {
		t.Fatal(err)
	}
	if r, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{}); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("sign-in across nodes after NATS came back = %+v, %v", r, err)
	}
	select {
	case p := <-prompts:
		t.Errorf("a prompt arrived that nobody sent: %s", p.Challenge.ID)
	default:
	}
}

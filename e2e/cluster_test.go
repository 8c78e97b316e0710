package e2e

import (
	"context"
	"fmt"
	"github.com/seed-3a5b824e/assent/internal/natstest"
	"github.com/seed-3a5b824e/assent/internal/pgtest"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store/postgres"
)

const howToRunCluster = `the cluster tests need PostgreSQL and NATS: set ASSENT_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test and ASSENT_TEST_NATS=nats://127.0.0.1:4222 (make test and CI set them), and start the services if they are down:
  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server`

// pgSchema makes a PostgreSQL schema for one test and returns a URL that
// uses it (internal/pgtest).
func pgSchema(t *testing.T) string { t.Helper(); return pgtest.Schema(t, "assent_e2e") }

// cluster is several assentd nodes on one PostgreSQL and one NATS, behind
// a front that routes each request to a node the test chooses, as a load
// balancer would.
type cluster struct {
	t      *testing.T
	url    string
	db     string // the nodes' PostgreSQL
	nodes  []*node
	mu     sync.Mutex
	socket int // node that takes push sockets
	api    int // node that takes everything else
}

type node struct {
	srv  *server.Server
	http *http.Server
	addr string
}

func newCluster(t *testing.T, natsURL string, n int) *cluster {
	t.Helper()
	dbURL := pgSchema(t)
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, url: "http://" + front.Addr().String(), db: dbURL}
	seal := crypto.RandomBytes(32)
	prefix := "assent-test-" + crypto.RandomToken(6)
	for range n {
		st, err := postgres.Open(context.Background(), dbURL)
		if err != nil {
			t.Fatal(err)
		}
		broker, err := server.DialNATS(natsURL, prefix, nil)
		if err != nil {
			t.Fatalf("%v\n%s", err, howToRunCluster)
		}
		srv, err := server.New(context.Background(), server.Options{URL: c.url, Org: "Cluster Org", Store: st, SealKey: seal,
			Broker: broker, PasswordParams: cheapArgon2, PollRecheck: time.Hour}) // held polls woken only by the broker
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		hs := &http.Server{Handler: srv.Handler()}
		go hs.Serve(ln)
		nd := &node{srv: srv, http: hs, addr: ln.Addr().String()}
		c.nodes = append(c.nodes, nd)
		t.Cleanup(func() { c.stop(nd); st.Close() })
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		c.mu.Lock()
		i := c.api
		if r.In.URL.Path == "/v1/push" {
			i = c.socket
		}
		addr := c.nodes[i].addr
		c.mu.Unlock()
		r.SetURL(&url.URL{Scheme: "http", Host: addr})
		r.Out.Host = r.In.Host
		r.SetXForwarded()
	}}
	fs := &http.Server{Handler: proxy}
	go fs.Serve(front)
	t.Cleanup(func() { fs.Close() })
	return c
}

func (c *cluster) route(socket, api int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.socket, c.api = socket, api
}

// stop takes a node down as a deploy would: its sockets are closed, so
// devices reconnect elsewhere.
func (c *cluster) stop(n *node) {
	n.srv.Close()
	n.http.Close()
}

func (c *cluster) device(name string) *core.Core {
	c.t.Helper()
	d, err := core.Open(core.Options{Home: filepath.Join(c.t.TempDir(), name), KeyStore: core.KeyStoreFile,
		Passphrase: func() ([]byte, error) { return []byte("pw"), nil }, FileKDF: cheapArgon2, DeviceName: name})
	if err != nil {
		c.t.Fatal(err)
	}
	return d
}

func testCluster(t *testing.T, natsURL string) {
	c := newCluster(t, natsURL, 3)
	ctx := context.Background()
	a, b, third := 0, 1, 2
	if _, err := c.nodes[third].srv.AddApp(ctx, "cli-test", "embedded"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.nodes[a].srv.AddUser(ctx, server.NewUser{Login: "nina", Password: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	link, err := c.nodes[third].srv.NewEnrollLink(ctx, "nina")
	if err != nil {
		t.Fatal(err)
	}
	d := c.device("nina-phone")
	c.route(b, b)
	if _, err := d.Enroll(ctx, link); err != nil {
		t.Fatal(err)
	}

	// The device holds its socket on node B; the sign-in runs on node A.
	prompts := make(chan core.Prompt, 4)
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go d.Listen(lctx, core.Events{Prompt: func(p core.Prompt) { prompts <- p }, State: func(_ core.Account, s push.ConnState, err error) { t.Logf("state %s %v", s, err) }, Error: func(_ core.Account, err error) { t.Logf("error %v", err) }})
	waitFor(t, func() bool { return c.nodes[b].srv.ConnectedDevices() == 1 })
	c.route(b, a)
	tx, number := cliPush(t, sdk.New(c.url), "nina")
	p := recv(t, prompts)
	if _, err := d.Approve(ctx, p, number); err != nil {
		t.Fatal(err)
	}
	if r, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{}); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("sign-in on node A with the device on node B = %+v, %v", r, err)
	}

	// A poll held on node A is woken when node B takes the answer: the
	// message that the challenge ended comes over the broker.
	tx, number = cliPush(t, sdk.New(c.url), "nina")
	p = recv(t, prompts)
	held := make(chan error, 1)
	go func() {
		r, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{Wait: 20})
		if err == nil && r.Status != sdk.StatusSuccess {
			err = fmt.Errorf("status %s", r.Status)
		}
		held <- err
	}()
	waitFor(t, func() bool { return c.nodes[a].srv.WaitingPolls() == 1 })
	c.route(b, b)
	if _, err := d.Approve(ctx, p, number); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-held:
		if err != nil {
			t.Fatalf("poll held on node A, answer on node B: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a poll held on node A was not woken by the answer node B took")
	}

	// Node B stops; the device reconnects to the third node, and a push
	// made meanwhile on node A reaches it there.
	c.route(third, a)
	c.stop(c.nodes[b])
	tx, number = cliPush(t, sdk.New(c.url), "nina")
	p = recv(t, prompts)
	waitFor(t, func() bool { return c.nodes[third].srv.ConnectedDevices() == 1 })
	if _, err := d.Approve(ctx, p, number); err != nil {
		t.Fatal(err)
	}
	if r, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{}); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("sign-in after node B stopped = %+v, %v", r, err)
	}

	// The nodes share their store: node A wrote its three pushes and the
	// two answers it took through its group commit of challenge changes,
	// and the third node the device token of the reconnect through its
	// group commit of one-time keys.
	for _, want := range []struct {
		node int
		line string
	}{
		{a, `assent_group_commit_items_total{kind="challenge_changes"} 5`},
		{third, `assent_group_commit_items_total{kind="nonces"} 1`},
	} {
		rec := httptest.NewRecorder()
		c.nodes[want.node].srv.OpsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if !strings.Contains(rec.Body.String(), want.line) {
			t.Errorf("node %d's /metrics lacks %s:\n%s", want.node, want.line, grepLines(rec.Body.String(), "assent_group_commit"))
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestClusterOnTheMachinesNATS(t *testing.T) {
	u := os.Getenv("ASSENT_TEST_NATS")
	if u == "" {
		t.Fatal("ASSENT_TEST_NATS is not set: " + howToRunCluster)
	}
	testCluster(t, u)
}

func TestClusterOnAnEmbeddedNATS(t *testing.T) {
	testCluster(t, natstest.Embedded(t))
}

// grepLines is the lines of s that hold sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

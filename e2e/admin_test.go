package e2e

import (
	"context"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/postgres"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// adminNode is one assentd node on a loopback port with a clock of its own.
type adminNode struct {
	srv   *server.Server
	url   string
	clock *fakeclock.Clock
}

func startAdminNode(t *testing.T, st store.Store, seal []byte, start time.Time) *adminNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &adminNode{url: "http://" + ln.Addr().String(), clock: fakeclock.New(start)}
	n.srv, err = server.New(context.Background(), server.Options{URL: n.url, Store: st, SealKey: seal, Now: n.clock.Now, PasswordParams: cheapArgon2})
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: n.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		n.srv.Close()
		hs.Close()
		st.Close()
	})
	return n
}

// adminCall makes one admin API request and returns the status and body.
func adminCall(t testing.TB, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func wantStatus(t testing.TB, what string, code int, body string, want int, wantErr string) {
	t.Helper()
	if code != want || (wantErr != "" && !strings.Contains(body, `"error":"`+wantErr+`"`)) {
		t.Fatalf("%s = %d %s; want %d %s", what, code, body, want, wantErr)
	}
}

var tokenID = regexp.MustCompile(`\btok_[A-Za-z0-9_-]+`)

// makeToken runs `assentd admin-token` and returns the token and its id.
func makeToken(t *testing.T, c *cliEnv, args ...string) (tok, id string) {
	t.Helper()
	stdout, stderr, err := c.runBoth("", "assentd", append([]string{"admin-token"}, args...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	tok = strings.TrimSpace(stdout)
	if !regexp.MustCompile(`^aat_[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Fatalf("admin-token printed %q, want the token alone", stdout)
	}
	id = tokenID.FindString(stderr)
	if id == "" || !strings.Contains(stderr, "valid until") {
		t.Fatalf("admin-token said on stderr %q, want its id and expiry", stderr)
	}
	if strings.Contains(stderr, tok) {
		t.Fatal("admin-token printed the token on stderr too")
	}
	return tok, id
}

// TestAdminTokenRevocationReachesEveryNode: two nodes share one database
// (PostgreSQL, then one SQLite file), each with a clock of its own. Tokens
// are made, listed and revoked with the built assentd binary. A token that
// expires is refused by the node whose clock has passed its expiry; a
// token both nodes used before it was revoked is refused by both once
// their clocks have moved on a second, fifty requests at once included.
func TestAdminTokenRevocationReachesEveryNode(t *testing.T) {
	bin, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"postgres", "sqlite"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			seal := crypto.RandomBytes(32)
			c := &cliEnv{t: t, bin: bin, data: filepath.Join(dir, "data"), listen: "127.0.0.1:8080"}
			c.env = append(os.Environ(), server.SealKeyEnv+"="+base64.StdEncoding.EncodeToString(seal))
			var open func() store.Store
			var dbFlags []string
			switch backend {
			case "postgres":
				url := pgSchema(t)
				dbFlags = []string{"--database", url, "--data", c.data}
				open = func() store.Store {
					st, err := postgres.Open(context.Background(), url)
					if err != nil {
						t.Fatal(err)
					}
					return st
				}
			default:
				if err := os.MkdirAll(c.data, 0o700); err != nil {
					t.Fatal(err)
				}
				dbFlags = []string{"--data", c.data}
				open = func() store.Store {
					st, err := sqlite.Open(filepath.Join(c.data, "assent.db"))
					if err != nil {
						t.Fatal(err)
					}
					return st
				}
			}
			start := time.Now()
			a := startAdminNode(t, open(), seal, start)
			b := startAdminNode(t, open(), seal, start)

			long, longID := makeToken(t, c, append([]string{"--name", "ci", "--ttl", "2h"}, dbFlags...)...)
			short, shortID := makeToken(t, c, append([]string{"--name", "short-lived", "--ttl", "1h"}, dbFlags...)...)
			for _, n := range []*adminNode{a, b} {
				for _, tok := range []string{long, short} {
					code, body := adminCall(t, "GET", n.url+"/v1/admin/apps", tok, "")
					wantStatus(t, "list apps with a new token", code, body, 200, "")
				}
			}

			// Past the short token's hour on node A only.
			a.clock.Advance(time.Hour + time.Minute)
			code, body := adminCall(t, "GET", a.url+"/v1/admin/apps", short, "")
			wantStatus(t, "node A, the token past its expiry", code, body, 401, "unauthorized")
			code, body = adminCall(t, "GET", b.url+"/v1/admin/apps", short, "")
			wantStatus(t, "node B, the token before its expiry", code, body, 200, "")

			out := c.must("", "assentd", append([]string{"admin-token", "list"}, dbFlags...)...)
			for _, want := range []string{longID, shortID, "ci", "short-lived", "active", "EXPIRES"} {
				if !strings.Contains(out, want) {
					t.Fatalf("admin-token list lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, long) || strings.Contains(out, short) {
				t.Fatal("admin-token list shows a token")
			}

			out = c.must("", "assentd", append([]string{"admin-token", "revoke", longID}, dbFlags...)...)
			if !strings.Contains(out, "revoked admin token "+longID) {
				t.Fatalf("revoke said %q", out)
			}
			out = c.must("", "assentd", append([]string{"admin-token", "list"}, dbFlags...)...)
			if line := lineWith(out, longID); !strings.Contains(line, "revoked at ") {
				t.Fatalf("after the revocation, list says %q", line)
			}

			// Both nodes may trust what they read for a second; after it,
			// neither does — fifty requests at once on each included.
			a.clock.Advance(time.Second)
			b.clock.Advance(time.Second)
			var wg sync.WaitGroup
			let := make(chan string, 100)
			for i := range 100 {
				n := []*adminNode{a, b}[i%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					code, body := adminCall(t, "POST", n.url+"/v1/admin/apps", long, `{"name":"evil"}`)
					if code != 401 || !strings.Contains(body, `"error":"unauthorized"`) {
						let <- body
					}
				}()
			}
			wg.Wait()
			close(let)
			for body := range let {
				t.Errorf("a revoked token was let through: %s", body)
			}
			if _, err := a.srv.App(context.Background(), "evil"); err == nil {
				t.Fatal("a revoked token registered an app")
			}
		})
	}
}

// lineWith is the first line of s that contains sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

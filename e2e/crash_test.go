package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/app/core"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/postgres"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// TestKillNineUnderLoadLosesNoAuditEvent kills a real assentd with SIGKILL
// while pushes are sent, approved, denied and answered with the wrong
// number, restarts it on the same database, and checks that every
// challenge that exists has its push.sent and every settled one its
// outcome's event, exactly once, and that the audit chain holds: a
// challenge and its events commit together.
func TestKillNineUnderLoadLosesNoAuditEvent(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		killNineUnderLoad(t, "", func(c *cliEnv) (store.Store, error) {
			return sqlite.Open(filepath.Join(c.data, "assent.db"))
		})
	})
	t.Run("postgres", func(t *testing.T) {
		if os.Getenv("ASSENT_TEST_POSTGRES") == "" {
			t.Fatal(howToRunCluster)
		}
		db := pgSchema(t)
		killNineUnderLoad(t, db, func(*cliEnv) (store.Store, error) {
			return postgres.Open(context.Background(), db)
		})
	})
}

func killNineUnderLoad(t *testing.T, database string, open func(*cliEnv) (store.Store, error)) {
	c := newCLIEnv(t, "ASSENT_ORG=Crash Org")
	c.env = append(c.env, "ASSENT_URL="+c.url)
	dir := c.dir
	if database != "" {
		c.env = append(c.env, "ASSENT_DATABASE="+database)
	}
	srv := serveCLI(t, c)

	tok, _ := makeToken(t, c, c.server("--name", "crash-test")...)
	const users = 4
	var devices []*core.Core
	for i := range users {
		login := fmt.Sprintf("user%d", i)
		c.must("a long enough password\n", "assentd", c.server("user", "add", login)...)
		out := c.must("", "assentd", c.server("enroll", login)...)
		lines := strings.Split(strings.TrimSpace(out), "\n")
		link, err := enroll.ParseLink(lines[len(lines)-1])
		if err != nil {
			t.Fatalf("enroll printed %q: %v", out, err)
		}
		d, err := core.Open(core.Options{
			Home: filepath.Join(dir, login), KeyStore: core.KeyStoreFile,
			Passphrase: func() ([]byte, error) { return []byte("device passphrase"), nil },
			FileKDF:    cheapArgon2, DeviceName: login,
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Enroll(context.Background(), link); err != nil {
			t.Fatal(err)
		}
		devices = append(devices, d)
	}

	// Three kills, each after 100 more pushes than the last; the window
	// between an action and a separately written event is short, so one
	// kill alone could miss it.
	told := &toldOutcomes{m: map[string]string{}}
	for round := 1; round <= 3; round++ {
		load(t, c.url, tok, devices, told, func(sent int64) bool { return sent >= 100 }, func() {
			if err := srv.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			srv.Wait()
		})
		checkChallengeEvents(t, open, c, round, told)
		// The server comes back on the same database, and its log verifies.
		srv = serveCLI(t, c)
		if out := c.must("", "assentd", c.server("audit", "verify")...); !strings.HasPrefix(out, "audit log intact") {
			t.Errorf("audit verify after kill %d said %q", round, out)
		}
	}
}

// load has every device answer each prompt at once (mostly approving, with
// a number picked at random, right or wrong; sometimes denying) while eight
// callers send pushes, until enough(sent) holds; then it runs kill, and
// stops.
func load(t *testing.T, url, tok string, devices []*core.Core, told *toldOutcomes, enough func(int64) bool, kill func()) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var listening sync.WaitGroup
	for _, d := range devices {
		listening.Go(func() {
			d.Listen(ctx, core.Events{Prompt: func(p core.Prompt) {
				go func() {
					var outcome string
					var err error
					if rand.IntN(4) == 0 {
						outcome, err = d.Deny(ctx, p, false)
					} else {
						n := 0
						if len(p.Challenge.Numbers) > 0 {
							n = p.Challenge.Numbers[rand.IntN(len(p.Challenge.Numbers))]
						}
						outcome, err = d.Approve(ctx, p, n)
					}
					if err == nil {
						told.add(p.ID, outcome)
					}
				}()
			}})
		})
	}
	var sent atomic.Int64
	var pushing sync.WaitGroup
	for w := range 8 {
		pushing.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				// Calls fail once the server is gone: that is the point.
				req, _ := http.NewRequestWithContext(ctx, "POST", url+"/v1/admin/push", strings.NewReader(fmt.Sprintf(`{"login":"user%d"}`, (w+i)%len(devices))))
				req.Header.Set("Authorization", "Bearer "+tok)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue
				}
				var r server.AdminPushResult
				if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&r) == nil {
					sent.Add(int64(len(r.ChallengeIDs)))
				}
				resp.Body.Close()
			}
		})
	}
	deadline := time.Now().Add(2 * time.Minute)
	for !enough(sent.Load()) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d pushes sent in two minutes", sent.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	kill()
	stop()
	pushing.Wait()
	listening.Wait()
}

// toldOutcomes are the outcomes the server confirmed to the devices, by
// challenge.
type toldOutcomes struct {
	mu sync.Mutex
	m  map[string]string
}

func (o *toldOutcomes) add(id, outcome string) {
	o.mu.Lock()
	o.m[id] = outcome
	o.mu.Unlock()
}

// checkChallengeEvents reads the store as a kill left it: every challenge
// has its push.sent and every settled one its outcome's event, once; every
// answer a device was told about is stored as told. (A single node keeps
// pushes nobody answered in memory: a kill loses those, never an answer.)
func checkChallengeEvents(t *testing.T, open func(*cliEnv) (store.Store, error), c *cliEnv, round int, told *toldOutcomes) {
	t.Helper()
	st, err := open(c)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cs, err := st.ListChallenges(context.Background(), store.ChallengeFilter{})
	if err != nil {
		t.Fatal(err)
	}
	events, err := st.ListAudit(context.Background(), store.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{} // challenge id + event type
	for _, e := range events {
		if e.ChallengeID != "" {
			seen[e.ChallengeID+" "+e.Type]++
		}
	}
	settled := 0
	for _, ch := range cs {
		if n := seen[ch.ID+" push.sent"]; n != 1 {
			t.Errorf("after kill %d: challenge %s (%s) has %d push.sent events, want 1", round, ch.ID, ch.Status, n)
		}
		if ch.Status == store.ChallengePending {
			continue
		}
		settled++
		if n := seen[ch.ID+" push."+ch.Status]; n != 1 {
			t.Errorf("after kill %d: challenge %s is %s with %d push.%s events, want 1", round, ch.ID, ch.Status, n, ch.Status)
		}
	}
	status := map[string]string{}
	for _, ch := range cs {
		status[ch.ID] = ch.Status
	}
	told.mu.Lock()
	for id, outcome := range told.m {
		if status[id] != outcome {
			t.Errorf("after kill %d: the device was told challenge %s was %s; the store has %q", round, id, outcome, status[id])
		}
	}
	answered := len(told.m)
	told.mu.Unlock()
	if settled < 50*round || answered < 50*round {
		t.Fatalf("kill %d came after %d challenges, %d settled, %d answers confirmed: not under load", round, len(cs), settled, answered)
	}
	t.Logf("kill %d: %d challenges stored, %d settled, %d answers confirmed to devices, %d audit events", round, len(cs), settled, answered, len(events))
}

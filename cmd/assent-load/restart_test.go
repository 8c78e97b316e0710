package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// childEnv makes this test binary an assentd: the tests below run it as the
// child server that --mode restart stops and starts again (a real process,
// a real SIGTERM or SIGKILL), without building cmd/assentd.
const childEnv = "ASSENT_LOAD_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" && len(os.Args) > 1 && os.Args[1] == "worker" {
		// A load worker holding device sockets (see load_test.go).
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		if err := worker(ctx, os.Args[2:]); err != nil {
			os.Stderr.WriteString("test worker: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	if os.Getenv(childEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
		defer stop()
		cfg, _, err := server.LoadConfig(flag.NewFlagSet("serve", flag.ContinueOnError), os.Args[1:], os.Getenv)
		if err == nil {
			err = server.Serve(ctx, cfg, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
		}
		if err != nil {
			os.Stderr.WriteString("test assentd: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// restartEnv is a data folder, the server's flags, and an admin token
// made before the server first starts.
type restartEnv struct {
	dir, listen, ops, token string
	flags                   []string
}

func newRestartEnv(t *testing.T) *restartEnv {
	t.Helper()
	e := &restartEnv{dir: t.TempDir(), listen: freeAddr(t), ops: freeAddr(t)}
	e.flags = []string{"--data", filepath.Join(e.dir, "data"), "--listen", e.listen, "--ops-listen", e.ops,
		"--source-rate", "-1", "--max-conns-per-address", "0"}
	t.Setenv(childEnv, "") // the parent is no server; the child's own env says so
	cfg := e.config(t)
	ctx := context.Background()
	s, err := server.Open(ctx, cfg, cfg.Listen, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	e.token, _, err = s.IssueAdminToken(ctx, "restart-test", time.Hour)
	s.Shutdown()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *restartEnv) config(t *testing.T) server.Config {
	t.Helper()
	cfg, _, err := server.LoadConfig(flag.NewFlagSet("t", flag.ContinueOnError), e.flags, os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func (e *restartEnv) restartConfig(t *testing.T, devices int) restartConfig {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The child is this binary with childEnv set: env(1) sets it for the
	// child alone.
	cmd := append([]string{"/usr/bin/env", childEnv + "=1", self}, e.flags...)
	return restartConfig{
		Server: "http://" + e.listen, Ops: "http://" + e.ops, AdminToken: e.token,
		StatePath: filepath.Join(e.dir, "state.json"), Prefix: "rs", Devices: devices,
		Signal: syscall.SIGTERM, Deadline: 2 * time.Minute, Command: cmd,
	}
}

// TestRestartDevicesReconnect: devices connected to a real assentd (a child
// process) come back by themselves, with the app's own reconnect loop,
// after the server stops cleanly and starts again; the server counts them
// all; and a second run reuses the enrolled devices.
func TestRestartDevicesReconnect(t *testing.T) {
	e := newRestartEnv(t)
	cfg := e.restartConfig(t, 40)
	var log strings.Builder
	rep, err := runRestart(t.Context(), cfg, &log)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Connected != 40 || rep.Dropped != 40 || rep.Reconnected != 40 || rep.Failed != 0 || rep.NeverDropped != 0 {
		t.Fatalf("connected %d, dropped %d, back %d, failed %d, never dropped %d; want all 40 dropped and back",
			rep.Connected, rep.Dropped, rep.Reconnected, rep.Failed, rep.NeverDropped)
	}
	if rep.ServerSockets != 40 {
		t.Fatalf("the restarted server counts %v sockets, want the 40 devices", rep.ServerSockets)
	}
	if rep.StormCPUSeconds < 0 || rep.StartupCPU < 0 {
		t.Fatalf("no server CPU read: startup %v, storm %v", rep.StartupCPU, rep.StormCPUSeconds)
	}
	if rep.FromDropP50ms <= 0 || rep.FromDropMaxMs < rep.FromDropP99ms || rep.FromReadyMaxMs < rep.FromReadyP50ms {
		t.Fatalf("reconnect times out of order: %+v", rep)
	}
	// Once more with the same state file: no enrollment, the same devices.
	cfg.Devices = 20
	log.Reset()
	rep, err = runRestart(t.Context(), cfg, &log)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(log.String(), "enrolling") || rep.Reconnected != 20 || rep.Failed != 0 {
		t.Fatalf("second run: %s\n%+v", log.String(), rep)
	}
}

// TestRestartKillUnderLoad: the server is killed (SIGKILL) while devices
// approve test pushes. After the restart every push the server
// acknowledged is in its database, every approval it confirmed is
// approved, every challenge has its audit events, the devices answer what
// was left pending, and audit-check finds nothing wrong.
func TestRestartKillUnderLoad(t *testing.T) {
	e := newRestartEnv(t)
	cfg := e.restartConfig(t, 30)
	// Down a second: pushes are refused, answers in flight fail, and the
	// challenges left pending reach the devices again when they are back.
	cfg.Signal, cfg.Down = syscall.SIGKILL, time.Second
	cfg.Rate, cfg.Duration = 40, 1500*time.Millisecond
	cfg.Record = filepath.Join(e.dir, "record.csv")
	// One node on SQLite: pushes nobody answered live in its memory, and
	// the kill may take some.
	cfg.PendingInMemory = true
	var log strings.Builder
	rep, err := runRestart(t.Context(), cfg, &log)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Reconnected != 30 || rep.Failed != 0 {
		t.Fatalf("%d of 30 back, %d failed", rep.Reconnected, rep.Failed)
	}
	l := rep.Load
	if l == nil || l.Sent < 20 || l.Approved == 0 || l.Refused == 0 {
		t.Fatalf("the load did not run: %+v", l)
	}
	if l.Unanswered != 0 || l.Approved+l.ConfirmationLost+l.PendingLost != l.Sent {
		t.Fatalf("acknowledged pushes went unanswered: %+v", l)
	}
	// The server is stopped now: read its database as audit-check does.
	rec, err := readRecord(cfg.Record)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Sent) != l.Sent || len(rec.Approved) != l.Approved {
		t.Fatalf("the record holds %d sent and %d approved, the report %d and %d", len(rec.Sent), len(rec.Approved), l.Sent, l.Approved)
	}
	st, err := server.OpenStore(t.Context(), e.config(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := auditCheck(t.Context(), st, rec, true)
	if err != nil {
		t.Fatal(err)
	}
	// Every acknowledged push in the database ends approved (those the
	// kill interrupted after their answer were answered again); the ones
	// missing are exactly those the kill took unanswered.
	missing := 0
	for _, id := range rec.Sent {
		c, err := st.GetChallenge(t.Context(), id)
		if errors.Is(err, store.ErrNotFound) && !slices.Contains(rec.Approved, id) {
			missing++
			continue
		}
		if err != nil || c.Status != store.ChallengeApproved {
			t.Errorf("acknowledged push %s: %q, %v; want approved", id, c.Status, err)
		}
	}
	if missing != l.PendingLost || res.PendingLost != l.PendingLost {
		t.Errorf("%d acknowledged pushes are missing, audit-check says %d, the load %d", missing, res.PendingLost, l.PendingLost)
	}
	st.Close()
	t.Log(res)
	if res.Problems() != 0 || res.Challenges < l.Sent-l.PendingLost || res.LostSent != 0 || res.LostApproved != 0 {
		t.Fatalf("audit check: %s: %v", res, res.Examples)
	}
	// The command itself, on the same database.
	var out strings.Builder
	if err := auditCheckCmd(t.Context(), append([]string{"--record", cfg.Record}, e.flags...), &out); err != nil {
		t.Fatalf("audit-check: %v\n%s", err, out.String())
	}
}

// TestAuditCheckFindsLoss: audit-check is not blind. A challenge stored
// without its audit event, and a record naming a push the database never
// got, are both reported.
func TestAuditCheckFindsLoss(t *testing.T) {
	e := newRestartEnv(t)
	cfg := e.config(t)
	st, err := server.OpenStore(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u := store.User{ID: "usr_x", Login: "x", CreatedAt: time.Now()}
	if err := st.CreateUser(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.CreateEnrollToken(t.Context(), store.EnrollToken{Hash: "h", UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	d, err := st.CompleteEnrollment(t.Context(), "h", now, store.Device{ID: "dev_x", Name: "x", PublicKey: []byte("{}"), CreatedAt: now})
	if err != nil {
		t.Fatal(err)
	}
	c := store.Challenge{ID: "chl_x", DeviceID: d.ID, UserID: u.ID, Kind: "test", Nonce: "n", Context: []byte("{}"), JWS: "j",
		Status: store.ChallengeApproved, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute), AnsweredAt: time.Now()}
	if err := st.CreateChallenge(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	res, err := auditCheck(t.Context(), st, &ackRecord{Sent: []string{"chl_x", "chl_gone"}, Approved: []string{"chl_gone"}}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.MissingSent != 1 || res.MissingSettled != 1 || res.LostSent != 1 || res.LostApproved != 1 || res.Problems() != 4 {
		t.Fatalf("audit check missed a loss: %s: %v", res, res.Examples)
	}
}

// TestRestartByCommand: a server assent-load did not start, restarted by a
// shell command of the operator's (--restart-cmd); the devices come back
// and the report counts them, with the server seen away before it is back.
func TestRestartByCommand(t *testing.T) {
	e := newRestartEnv(t)
	cfg := e.restartConfig(t, 15)
	self := cfg.Command[2]
	pidFile, logFile := filepath.Join(e.dir, "pid"), filepath.Join(e.dir, "server.log")
	// start runs the server in the background, as a service manager would.
	start := "env " + childEnv + "=1 '" + self + "' '" + strings.Join(e.flags, "' '") + "' >>'" + logFile + "' 2>&1 & echo $! >'" + pidFile + "'"
	if out, err := exec.Command("/bin/sh", "-c", start).CombinedOutput(); err != nil {
		t.Fatalf("start the server: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("/bin/sh", "-c", "kill $(cat '"+pidFile+"')").Run() })
	up := func() bool {
		resp, err := http.Get(cfg.Server + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if !wait(t.Context(), time.Minute, up) {
		log, _ := os.ReadFile(logFile)
		t.Fatalf("the server did not come up: %s", log)
	}
	cfg.Command = nil
	cfg.RestartCmd = "pid=$(cat '" + pidFile + "'); kill -TERM $pid; while kill -0 $pid 2>/dev/null; do sleep 0.05; done; " + start
	var log strings.Builder
	rep, err := runRestart(t.Context(), cfg, &log)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Signal != "restart-cmd" || rep.Reconnected != 15 || rep.Failed != 0 || rep.ServerSockets != 15 {
		t.Fatalf("%+v", rep)
	}
	// A command that fails is reported, with its output.
	cfg.RestartCmd = "echo no such service >&2; exit 3"
	cfg.StatePath = filepath.Join(e.dir, "state.json")
	if _, err := runRestart(t.Context(), cfg, io.Discard); err == nil || !strings.Contains(err.Error(), "no such service") {
		t.Fatalf("a failing --restart-cmd gave %v", err)
	}
}

// TestRestartModeRefusesBadCommandLines: what is wrong with a command line
// is said in the user's words, before anything is started or enrolled.
func TestRestartModeRefusesBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mode", "restart"}, "needs a server it may restart"},
		{[]string{"--mode", "restart", "--restart-cmd", "true", "--", "assentd", "serve"}, "not both"},
		{[]string{"--mode", "restart", "--signal", "hup", "--", "assentd", "serve"}, `--signal "hup"`},
		{[]string{"--mode", "restart", "--nodes", "http://a,http://b", "--", "assentd", "serve"}, "one node"},
		{[]string{"--mode", "restart", "--devices", "0", "--", "assentd", "serve"}, "at least one device"},
		{[]string{"--mode", "push", "--", "assentd", "serve"}, "after -- is for --mode restart"},
		{[]string{"--mode", "reboot"}, "want push, signin or restart"},
	} {
		err := run(t.Context(), append([]string{"--admin-token", "x", "--state", state, "--ops", ""}, c.args...))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v; want an error saying %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("a refused command line left a state file: %v", err)
	}
}

// TestAuditCheckRefusesWhatItCannotRead: no database at the folder (and
// none made there), or a record that is not one, are clear errors.
func TestAuditCheckRefusesWhatItCannotRead(t *testing.T) {
	dir := t.TempDir()
	err := auditCheckCmd(t.Context(), []string{"--data", filepath.Join(dir, "nothing")}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "there is no database") {
		t.Fatalf("audit-check of an empty folder: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "nothing")); !os.IsNotExist(err) {
		t.Fatalf("audit-check made a data folder: %v", err)
	}
	e := newRestartEnv(t)
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("sent,chl_a\nlost,chl_b\n"), 0o600)
	err = auditCheckCmd(t.Context(), append([]string{"--record", bad}, e.flags...), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "unknown line") {
		t.Fatalf("audit-check of a bad record: %v", err)
	}
}

// Command assent-load measures an assentd: it enrolls simulated devices with
// the real protocol, keeps their sockets open from several processes, drives
// pushes or sign-ins, and reports memory per connection, round trips and
// approvals per second. With --mode restart it restarts the server under
// its connected devices and measures how long they take to come back; the
// audit-check subcommand checks a database after a crash. See
// docs/PERFORMANCE.md and docs/RELIABILITY.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/seed-3a5b824e/assent/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "worker":
		err = worker(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "audit-check":
		err = auditCheckCmd(ctx, os.Args[2:], os.Stdout)
	default:
		err = run(ctx, os.Args[1:])
	}
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "assent-load:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assent-load", flag.ContinueOnError)
	server := fs.String("server", "http://127.0.0.1:8080", "assentd URL (its --url)")
	nodes := fs.String("nodes", "", "comma-separated base URLs of the nodes behind --server, to spread sockets and requests over (default: --server)")
	ops := fs.String("ops", "http://127.0.0.1:9090", "the nodes' operator listeners (assentd --ops-listen) as base URLs, where their memory is read; comma-separated, one for each of --nodes in the same order")
	token := fs.String("admin-token", os.Getenv("ASSENT_ADMIN_TOKEN"), "admin API token (assentd admin-token; env ASSENT_ADMIN_TOKEN)")
	state := fs.String("state", "assent-load-state.json", "file that keeps enrolled devices between runs (holds their test keys)")
	prefix := fs.String("prefix", "load", "login prefix of the load users")
	devices := fs.Int("devices", 1000, "devices to enroll and connect")
	steps := fs.String("steps", "", "connected-device counts to measure at, e.g. 1000,5000,10000,19000 (default: --devices)")
	procs := fs.Int("procs", 4, "worker processes holding the sockets (a process may open only so many files)")
	sources := fs.String("source-ips", "127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5", "loopback source addresses to spread sockets over (empty: the system's choice)")
	rate := fs.Float64("rate", 0, "pushes or sign-ins per second (0: as fast as --concurrency allows); restart mode: test pushes the devices approve around the restart (0: none)")
	conc := fs.Int("concurrency", 32, "pushes in flight at once when --rate is 0")
	dur := fs.Duration("duration", 20*time.Second, "load time at each step (0: measure memory only); restart mode with --rate: pushes before the restart and after every device is back")
	mode := fs.String("mode", "push", "push (test pushes through the admin API), signin (passwordless sign-ins through the embedded API) "+
		"or restart (restart the server under the connected devices and measure their reconnects; the server command follows --)")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	sig := fs.String("signal", "term", "restart mode: how the server is stopped, term (SIGTERM, a clean stop) or kill (SIGKILL, a crash)")
	down := fs.Duration("down", 0, "restart mode: how long the server stays stopped before it starts again")
	deadline := fs.Duration("reconnect-deadline", 2*time.Minute, "restart mode: devices not back this long after the server is back count as failed")
	restartCmd := fs.String("restart-cmd", "", "restart mode: a shell command that restarts a server assent-load did not start (e.g. 'systemctl restart assentd'), instead of a command after --")
	sole := fs.Bool("sole-node", false, "restart mode: the server is one node on SQLite (assentd serve without --database and --nats), which keeps pushes nobody answered in memory; those a crash takes are counted apart (pendingLost), not as unanswered")
	record := fs.String("record", "", "restart mode: write the pushes the server acknowledged and the approvals it confirmed to this file, for assent-load audit-check --record")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return errors.New("give --admin-token (make one with: assentd admin-token --name load)")
	}
	if *mode == "restart" {
		return restartMode(ctx, fs, restartFlags{server: *server, nodes: *nodes, ops: *ops, token: *token, state: *state, prefix: *prefix,
			devices: *devices, rate: *rate, duration: *dur, signal: *sig, down: *down, deadline: *deadline, restartCmd: *restartCmd,
			record: *record, sole: *sole, json: *asJSON})
	}
	if *mode != "push" && *mode != "signin" {
		return fmt.Errorf("--mode %q: want push, signin or restart", *mode)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q: a server command after -- is for --mode restart", fs.Args())
	}
	cfg := loadgen.Config{
		Server: strings.TrimRight(*server, "/"), AdminToken: *token, StatePath: *state, Prefix: *prefix,
		Devices: *devices, Procs: max(*procs, 1), Rate: *rate, Concurrency: *conc, Duration: *dur, Mode: *mode,
		Quiet: *asJSON, Self: []string{os.Args[0]},
	}
	if *nodes != "" {
		for _, n := range strings.Split(*nodes, ",") {
			cfg.Nodes = append(cfg.Nodes, strings.TrimRight(strings.TrimSpace(n), "/"))
		}
	}
	for _, o := range strings.Split(*ops, ",") {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			cfg.Ops = append(cfg.Ops, o)
		}
	}
	if n := max(len(cfg.Nodes), 1); len(cfg.Ops) != n {
		return fmt.Errorf("--ops names %d operator listeners for %d nodes: give each node's --ops-listen address, in the order of --nodes", len(cfg.Ops), n)
	}
	if *sources != "" {
		cfg.SourceIPs = strings.Split(*sources, ",")
	}
	cfg.Steps = []int{cfg.Devices}
	if *steps != "" {
		cfg.Steps = nil
		for _, s := range strings.Split(*steps, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n <= 0 || n > cfg.Devices {
				return fmt.Errorf("--steps: %q is not a device count from 1 to --devices (%d)", s, cfg.Devices)
			}
			cfg.Steps = append(cfg.Steps, n)
		}
	}
	log := os.Stdout
	if *asJSON {
		log = os.Stderr
	}
	rep, err := loadgen.Run(ctx, cfg, log)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return nil
}

func worker(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("assent-load worker", flag.ContinueOnError)
	server := fs.String("server", "", "")
	node := fs.String("node", "", "")
	state := fs.String("state", "", "")
	from := fs.Int("from", 0, "")
	count := fs.Int("count", 0, "")
	src := fs.String("source-ip", "", "")
	if err := fs.Parse(args); err != nil {
		return err
	}
	st, err := loadgen.LoadState(*state)
	if err != nil {
		return err
	}
	if *from < 0 || *from+*count > len(st.Devices) {
		return fmt.Errorf("worker: devices %d..%d are not in %s", *from, *from+*count, *state)
	}
	return loadgen.RunWorker(ctx, *server, *node, *src, st.Devices[*from:*from+*count], os.Stdin, os.Stdout)
}

package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/loadgen"
	"github.com/seed-3a5b824e/assent/push"
)

// restartFlags are the command line of --mode restart.
type restartFlags struct {
	server, nodes, ops, token, state, prefix string
	devices                                  int
	rate                                     float64
	duration                                 time.Duration
	signal                                   string
	down, deadline                           time.Duration
	restartCmd, record                       string
	sole, json                               bool
}

func restartMode(ctx context.Context, fs *flag.FlagSet, f restartFlags) error {
	if f.nodes != "" {
		return errors.New("--mode restart measures one node: leave out --nodes")
	}
	cfg := restartConfig{
		Server: strings.TrimRight(f.server, "/"), Ops: strings.TrimRight(strings.TrimSpace(f.ops), "/"), AdminToken: f.token,
		StatePath: f.state, Prefix: f.prefix, Devices: f.devices, Rate: f.rate, Duration: f.duration,
		Down: f.down, Deadline: f.deadline, Command: fs.Args(), RestartCmd: f.restartCmd, Record: f.record,
		PendingInMemory: f.sole,
	}
	switch f.signal {
	case "term":
		cfg.Signal = syscall.SIGTERM
	case "kill":
		cfg.Signal = syscall.SIGKILL
	default:
		return fmt.Errorf("--signal %q: want term (a clean stop) or kill (a crash)", f.signal)
	}
	if strings.Contains(cfg.Ops, ",") {
		return errors.New("--mode restart measures one node: give --ops one operator listener")
	}
	log := io.Writer(os.Stdout)
	if f.json {
		log = os.Stderr
	}
	rep, err := runRestart(ctx, cfg, log)
	if rep != nil && f.json {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(rep); jerr != nil {
			return errors.Join(err, jerr)
		}
	}
	return err
}

// restartConfig is one --mode restart run: devices connect to one server,
// the server is stopped and started again, and every device's way back is
// timed. The devices reconnect with push.Client.Run, the loop the app
// runs, with its backoff and jitter.
type restartConfig struct {
	Server     string
	Ops        string // the node's --ops-listen as a base URL; "" for none
	AdminToken string
	StatePath  string
	Prefix     string
	Devices    int
	Signal     syscall.Signal // how the server is stopped: SIGTERM or SIGKILL
	Down       time.Duration  // how long it stays stopped
	Deadline   time.Duration  // devices not back this long after the server is back have failed
	// Rate, when above 0, drives test pushes at this rate (a second) for
	// Duration before the restart, through it, and for Duration after
	// every device is back; the devices approve them.
	Rate     float64
	Duration time.Duration
	// Command runs the server as a child that assent-load starts,
	// signals and starts again. RestartCmd, instead, restarts a server
	// somebody else runs (a shell command); Signal and Down do not apply.
	Command    []string
	RestartCmd string
	// Record, when set, is a CSV file of what the server acknowledged:
	// "sent,ID" for each push it answered with a challenge id, and
	// "approved,ID" for each approval it confirmed (see auditCheck).
	Record string
	// PendingInMemory says the server is one node on SQLite, which keeps
	// pushes nobody answered in memory (--sole-node).
	PendingInMemory bool
}

// RestartReport is what a restart run measured.
type RestartReport struct {
	Server string `json:"server"`
	Signal string `json:"signal"`
	// Devices connected before the restart (of Devices asked for).
	Devices        int     `json:"devices"`
	Connected      int     `json:"connectedBeforeRestart"`
	ConnectSeconds float64 `json:"initialConnectSeconds"`
	// The server is back at the first sign that it serves: its operator
	// listener answers (it opens with the public one, once the store is
	// open), /readyz answers, or a device's socket opens. BackBy says
	// which came first. /readyz alone is late: it writes to the store,
	// behind the reconnecting devices' writes.
	BackBy          string  `json:"backBy"`
	DownSeconds     float64 `json:"downSeconds"`  // from the stop to the server back
	StopSeconds     float64 `json:"stopSeconds"`  // from the signal to the old process's exit (a child only)
	StartSeconds    float64 `json:"startSeconds"` // from the new process's start to the server back (a child only)
	StartupCPU      float64 `json:"serverStartupCPUSeconds"`
	Dropped         int     `json:"dropped"`
	Reconnected     int     `json:"reconnected"`
	Failed          int     `json:"failedWithinDeadline"`
	NeverDropped    int     `json:"neverDropped"`
	DeadlineSeconds float64 `json:"deadlineSeconds"`
	// From the server back to each device's socket open again (the
	// welcome received), and from each device's drop.
	FromReadyP50ms float64 `json:"fromReadyP50ms"`
	FromReadyP99ms float64 `json:"fromReadyP99ms"`
	FromReadyMaxMs float64 `json:"fromReadyMaxMs"`
	FromDropP50ms  float64 `json:"fromDropP50ms"`
	FromDropP99ms  float64 `json:"fromDropP99ms"`
	FromDropMaxMs  float64 `json:"fromDropMaxMs"`
	// The storm: from the server back to the last device back, and the
	// server's CPU in that time (process_cpu_seconds_total: from its
	// first reading as the server came back to one after the last device);
	// -1 when the operator listener could not be read.
	StormSeconds    float64 `json:"stormSeconds"`
	StormCPUSeconds float64 `json:"stormServerCPUSeconds"`
	// Sockets the server counts once the devices are back
	// (assent_connected_devices); -1 when unknown.
	ServerSockets float64      `json:"serverSocketsAfter"`
	Attempts      int          `json:"failedAttempts"` // connection attempts that failed while the server was away
	FirstError    string       `json:"firstError,omitempty"`
	Load          *RestartLoad `json:"load,omitempty"`
}

// RestartLoad is what the pushes around a restart saw.
type RestartLoad struct {
	Rate float64 `json:"rate"`
	// Sent: pushes the server answered with a challenge. Refused: pushes
	// asked while it was away (or that failed).
	Sent    int `json:"sent"`
	Refused int `json:"refused"`
	// Approved: approvals the server confirmed to the device.
	// ConfirmationLost: answers whose confirmation the crash took, which
	// the server had stored (answered again, it says already_answered).
	// PendingLost: acknowledged pushes that a crash took while nobody had
	// answered them (one node on SQLite keeps those in memory): the
	// restarted server refuses their answer, or never sends them again.
	// Unanswered: the rest of Sent (audit-check --record tells more).
	Approved         int    `json:"approved"`
	ConfirmationLost int    `json:"confirmationLost"`
	PendingLost      int    `json:"pendingLost"`
	Unanswered       int    `json:"unanswered"`
	FirstError       string `json:"firstError,omitempty"`
}

// simDevice is one simulated device and what happened to its socket.
type simDevice struct {
	login string
	cl    *push.Client

	mu        sync.Mutex
	up        bool
	connects  int
	droppedAt time.Time // its first drop after the restart began
	backAt    time.Time // its first welcome after that drop
	failures  int       // failed attempts after the drop
	started   chan struct{}
	startOnce sync.Once
}

type restartRun struct {
	cfg     restartConfig
	httpc   *http.Client
	pollc   *http.Client
	child   *childServer
	devices []*simDevice

	armed       atomic.Bool // the restart has begun
	ready       atomic.Bool // the server is back
	reconnected atomic.Int64
	dropped     atomic.Int64
	connected   atomic.Int64

	errMu    sync.Mutex
	firstErr string

	load *pushLoad
}

func (r *restartRun) noteErr(s string) {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	if r.firstErr == "" {
		r.firstErr = s
	}
}

func (r *restartRun) firstError() string {
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return r.firstErr
}

func (r *restartRun) handler(d *simDevice) push.Handler {
	h := push.Handler{State: func(s push.ConnState, err error) {
		now := time.Now()
		d.mu.Lock()
		defer d.mu.Unlock()
		switch s {
		case push.StateConnected:
			d.up = true
			d.connects++
			if d.connects == 1 {
				r.connected.Add(1)
			}
			if r.armed.Load() && !d.droppedAt.IsZero() && d.backAt.IsZero() {
				d.backAt = now
				r.reconnected.Add(1)
			}
			d.startOnce.Do(func() { close(d.started) })
		case push.StateReconnecting, push.StateOffline:
			if r.armed.Load() {
				if d.up && d.droppedAt.IsZero() {
					d.droppedAt = now
					r.dropped.Add(1)
				} else if !d.droppedAt.IsZero() && d.backAt.IsZero() {
					d.failures++
				}
				// Back on the old server before it stopped listening:
				// that is not back yet.
				if d.up && !d.backAt.IsZero() && !r.ready.Load() {
					d.backAt = time.Time{}
					r.reconnected.Add(-1)
				}
			}
			d.up = false
			if err != nil && !r.armed.Load() {
				r.noteErr(fmt.Sprintf("%s: %v", d.login, err))
			}
			d.startOnce.Do(func() { close(d.started) })
		}
	}}
	if r.load != nil {
		h.Challenge = func(ch *push.Challenge) { r.load.challengeArrived(d, ch) }
	}
	return h
}

// runRestart connects the devices, restarts the server and measures the
// devices' way back.
func runRestart(ctx context.Context, cfg restartConfig, log io.Writer) (*RestartReport, error) {
	if cfg.Devices <= 0 {
		return nil, errors.New("--devices: want at least one device")
	}
	if (len(cfg.Command) == 0) == (cfg.RestartCmd == "") {
		return nil, errors.New("--mode restart needs a server it may restart: the command that runs it after -- " +
			"(e.g. -- assentd serve --data DIR --listen 127.0.0.1:9200 --ops-listen 127.0.0.1:9290), or --restart-cmd for one it did not start; not both")
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 2 * time.Minute
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r := &restartRun{cfg: cfg, httpc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}},
		// Polls use a fresh connection each: a kept one may be the old
		// server's.
		pollc: &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
	defer r.httpc.CloseIdleConnections()
	// net/http fills in a transport's TLSClientConfig lazily, on its first
	// use; push.Client.Connect reads it through Clone now, but a build
	// before 876a867 read it unlocked: have it filled in before the
	// devices' goroutines start.
	r.httpc.CloseIdleConnections()

	var srv serverControl = &shellServer{cmd: cfg.RestartCmd}
	if len(cfg.Command) > 0 {
		if r.isReady(ctx) {
			return nil, fmt.Errorf("a server already answers at %s: stop it first, or restart it with --restart-cmd instead of a command after --", cfg.Server)
		}
		r.child = &childServer{argv: cfg.Command}
		if err := r.child.start(); err != nil {
			return nil, err
		}
		defer r.child.stop()
		if _, _, _, err := r.waitBack(ctx, time.Minute, false); err != nil {
			return nil, err
		}
		srv = r.child
	} else if !r.isReady(ctx) {
		return nil, fmt.Errorf("no server is ready at %s (GET /readyz)", cfg.Server)
	}

	// The devices: enrolled once, kept in the state file.
	admin := &loadgen.Admin{URL: cfg.Server, Token: cfg.AdminToken, HTTP: r.httpc}
	st, err := loadgen.LoadState(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	if len(st.Devices) < cfg.Devices {
		fmt.Fprintf(log, "enrolling %d devices\n", cfg.Devices-len(st.Devices))
		err := loadgen.Enroll(ctx, admin, st, cfg.Prefix, cfg.Devices, 16, func() {})
		if serr := st.Save(cfg.StatePath); serr != nil {
			return nil, serr
		}
		if err != nil {
			return nil, err
		}
	} else if st.Server != cfg.Server {
		return nil, fmt.Errorf("the state file %s belongs to %s, not %s: use another --state", cfg.StatePath, st.Server, cfg.Server)
	}
	for _, d := range st.Devices[:cfg.Devices] {
		cl, err := deviceClient(d, cfg.Server, r.httpc)
		if err != nil {
			return nil, fmt.Errorf("device %s in %s: %w", d.Login, cfg.StatePath, err)
		}
		r.devices = append(r.devices, &simDevice{login: d.Login, cl: cl, started: make(chan struct{})})
	}
	if cfg.Rate > 0 {
		if r.load, err = newPushLoad(cfg, admin); err != nil {
			return nil, err
		}
		defer r.load.close()
	}

	rep := &RestartReport{Server: cfg.Server, Signal: signalName(cfg), Devices: cfg.Devices, DeadlineSeconds: cfg.Deadline.Seconds(),
		StormCPUSeconds: -1, StartupCPU: -1, ServerSockets: -1}

	// Connect them, 64 first attempts at a time, as the app does: Run.
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	sem := make(chan struct{}, 64)
	for _, d := range r.devices {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		wg.Go(func() {
			if err := d.cl.Run(ctx, r.handler(d)); err != nil {
				r.noteErr(fmt.Sprintf("%s gave up: %v", d.login, err))
			}
		})
		go func() {
			select {
			case <-d.started:
			case <-time.After(30 * time.Second):
			}
			<-sem
		}()
	}
	// Those not in by a minute after the last started are left out.
	wait(ctx, time.Minute, func() bool { return int(r.connected.Load()) == len(r.devices) })
	rep.ConnectSeconds = time.Since(start).Seconds()
	for _, d := range r.devices {
		d.mu.Lock()
		if d.up {
			rep.Connected++
		}
		d.mu.Unlock()
	}
	fmt.Fprintf(log, "%d of %d devices connected in %.1f s\n", rep.Connected, len(r.devices), rep.ConnectSeconds)
	if rep.Connected == 0 {
		return rep, fmt.Errorf("no device connected: %s", r.firstError())
	}
	if r.load != nil {
		r.load.start(ctx, r.devices)
		fmt.Fprintf(log, "test pushes at %.0f/s for %s before the restart\n", cfg.Rate, cfg.Duration)
		sleep(ctx, cfg.Duration)
	}

	// The restart.
	r.armed.Store(true)
	// No idle connection of ours may hold up the server's clean stop (it
	// waits for connections that never sent a request).
	r.httpc.CloseIdleConnections()
	times, err := srv.restart(ctx, cfg)
	if err != nil {
		return rep, err
	}
	readyAt, cpu0, by, err := r.waitBack(ctx, 2*time.Minute, len(cfg.Command) == 0)
	if err != nil {
		return rep, err
	}
	r.ready.Store(true)
	var cpuErr error
	if cpu0 < 0 {
		if cpu0, _, cpuErr = r.serverMetrics(ctx, r.httpc); cpuErr != nil {
			cpu0 = -1
		}
	}
	rep.StartupCPU = cpu0
	// A device may have shown it back first.
	for _, d := range r.devices {
		d.mu.Lock()
		if !d.backAt.IsZero() && d.backAt.Before(readyAt) {
			readyAt, by = d.backAt, "a device's socket"
		}
		d.mu.Unlock()
	}
	rep.BackBy = by
	rep.DownSeconds = readyAt.Sub(times.signalled).Seconds()
	if !times.exited.IsZero() {
		rep.StopSeconds = times.exited.Sub(times.signalled).Seconds()
		rep.StartSeconds = readyAt.Sub(times.started).Seconds()
	}
	child := ""
	if !times.exited.IsZero() {
		child = fmt.Sprintf("; old process gone after %.2f s, new one serving %.2f s after its start", rep.StopSeconds, rep.StartSeconds)
	}
	fmt.Fprintf(log, "server stopped with %s and back after %.2f s (%s answered first%s)\n", rep.Signal, rep.DownSeconds, rep.BackBy, child)

	// The storm: every device that dropped comes back, or the deadline.
	wait(ctx, cfg.Deadline, func() bool {
		d := r.dropped.Load()
		return d >= int64(rep.Connected) && r.reconnected.Load() >= d
	})
	var lastBack time.Time
	var fromReady, fromDrop []float64
	for _, d := range r.devices {
		d.mu.Lock()
		switch {
		case d.droppedAt.IsZero():
			if d.connects > 0 {
				rep.NeverDropped++
			}
		case d.backAt.IsZero() || d.backAt.Sub(readyAt) > cfg.Deadline:
			rep.Dropped++
			rep.Failed++
		default:
			rep.Dropped++
			rep.Reconnected++
			fromReady = append(fromReady, ms(d.backAt.Sub(readyAt)))
			fromDrop = append(fromDrop, ms(d.backAt.Sub(d.droppedAt)))
			if d.backAt.After(lastBack) {
				lastBack = d.backAt
			}
		}
		rep.Attempts += d.failures
		d.mu.Unlock()
	}
	if !lastBack.IsZero() {
		rep.StormSeconds = lastBack.Sub(readyAt).Seconds()
	}
	cpu1, sockets, err := r.serverMetrics(ctx, r.httpc)
	if err == nil && cpu0 >= 0 {
		rep.StormCPUSeconds, rep.ServerSockets = cpu1-cpu0, sockets
	} else if e := errors.Join(cpuErr, err); e != nil {
		fmt.Fprintf(log, "no server CPU: %v\n", e)
	}
	slices.Sort(fromReady)
	slices.Sort(fromDrop)
	rep.FromReadyP50ms, rep.FromReadyP99ms, rep.FromReadyMaxMs = pct(fromReady, .5), pct(fromReady, .99), pct(fromReady, 1)
	rep.FromDropP50ms, rep.FromDropP99ms, rep.FromDropMaxMs = pct(fromDrop, .5), pct(fromDrop, .99), pct(fromDrop, 1)
	fmt.Fprintf(log, "%d dropped, %d back, %d not back within %s, %d never dropped; %d failed attempts while away\n",
		rep.Dropped, rep.Reconnected, rep.Failed, cfg.Deadline, rep.NeverDropped, rep.Attempts)
	fmt.Fprintf(log, "  from the server back: p50 %.0f ms, p99 %.0f ms, max %.0f ms; from the drop: p50 %.0f ms, p99 %.0f ms, max %.0f ms\n",
		rep.FromReadyP50ms, rep.FromReadyP99ms, rep.FromReadyMaxMs, rep.FromDropP50ms, rep.FromDropP99ms, rep.FromDropMaxMs)
	if rep.StormCPUSeconds >= 0 {
		fmt.Fprintf(log, "  server CPU: %.2f s to start, %.2f s for the storm (%.2f s to the last device back); %0.f sockets on the server after\n",
			rep.StartupCPU, rep.StormCPUSeconds, rep.StormSeconds, rep.ServerSockets)
	} else {
		fmt.Fprintf(log, "  the storm took %.2f s to the last device back\n", rep.StormSeconds)
	}

	if r.load != nil {
		sleep(ctx, cfg.Duration)
		rep.Load = r.load.finish(ctx)
		l := rep.Load
		fmt.Fprintf(log, "  pushes at %.0f/s: %d sent, %d approved, %d answered but the crash took the confirmation, %d unanswered; %d refused while the server was away\n",
			l.Rate, l.Sent, l.Approved, l.ConfirmationLost, l.Unanswered, l.Refused)
		if l.PendingLost > 0 {
			fmt.Fprintf(log, "  %d pushes nobody had answered were lost in the crash (the node kept them in memory)\n", l.PendingLost)
		}
		if l.FirstError != "" {
			fmt.Fprintf(log, "  first push error: %s\n", l.FirstError)
		}
	}
	rep.FirstError = r.firstError()
	return rep, ctx.Err()
}

func signalName(cfg restartConfig) string {
	switch {
	case len(cfg.Command) == 0:
		return "restart-cmd"
	case cfg.Signal == syscall.SIGKILL:
		return "SIGKILL"
	}
	return "SIGTERM"
}

func deviceClient(d loadgen.Device, server string, httpc *http.Client) (*push.Client, error) {
	key, err := crypto.ParsePrivateKey(d.Key)
	if err != nil {
		return nil, err
	}
	sk, err := crypto.ParsePublicJWK(d.ServerKey)
	if err != nil {
		return nil, err
	}
	return &push.Client{Server: server, PushURL: d.PushURL, EnrollmentID: d.EnrollmentID, Key: key, ServerKey: sk, HTTP: httpc, Clock: new(push.Clock)}, nil
}

func (r *restartRun) isReady(ctx context.Context) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.Server+"/readyz", nil)
	if err != nil {
		return false
	}
	resp, err := r.pollc.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// waitBack waits until the server serves: its operator listener answers
// (then its CPU seconds are cpu, else -1) or /readyz does, asking both
// every 10 ms at once. With mustDrop (a restart by somebody else's
// command) the server must first be seen away, or a device dropped: until
// then an answer is the old server's.
func (r *restartRun) waitBack(ctx context.Context, limit time.Duration, mustDrop bool) (at time.Time, cpu float64, by string, err error) {
	type answer struct {
		at  time.Time
		cpu float64
		by  string
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	got := make(chan answer, 2)
	var away atomic.Bool
	away.Store(!mustDrop)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	poll := func(by string, try func() (float64, bool)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				cpu, ok := try()
				away.CompareAndSwap(false, !ok || r.dropped.Load() > 0)
				if ok && away.Load() {
					got <- answer{time.Now(), cpu, by}
					return
				}
				sleep(ctx, 10*time.Millisecond)
			}
		})
	}
	if r.cfg.Ops != "" {
		poll("the operator listener", func() (float64, bool) {
			cpu, _, err := r.serverMetrics(ctx, r.pollc)
			return cpu, err == nil
		})
	}
	poll("/readyz", func() (float64, bool) { return -1, r.isReady(ctx) })
	var exited <-chan error
	if r.child != nil {
		exited = r.child.done
	}
	select {
	case a := <-got:
		return a.at, a.cpu, a.by, nil
	case err := <-exited:
		r.child.cmd = nil
		return time.Time{}, 0, "", fmt.Errorf("the server exited before it served: %v (its messages are above)", err)
	case <-ctx.Done():
		if ctx.Err() == context.DeadlineExceeded {
			return time.Time{}, 0, "", fmt.Errorf("the server at %s did not answer (GET /readyz, or its operator listener's /metrics) within %s", r.cfg.Server, limit)
		}
		return time.Time{}, 0, "", ctx.Err()
	}
}

// serverMetrics reads the server's CPU seconds and open sockets from its
// operator listener.
func (r *restartRun) serverMetrics(ctx context.Context, httpc *http.Client) (cpu, sockets float64, err error) {
	if r.cfg.Ops == "" {
		return 0, 0, errors.New("no --ops")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.cfg.Ops+"/metrics", nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s/metrics: %w (is that the server's --ops-listen?)", r.cfg.Ops, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("%s/metrics: HTTP %d", r.cfg.Ops, resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, 0, fmt.Errorf("%s/metrics: %w", r.cfg.Ops, err)
	}
	value := func(name string) (float64, bool) {
		f := fams[name]
		if f == nil || len(f.GetMetric()) == 0 {
			return 0, false
		}
		m := f.GetMetric()[0]
		if m.GetCounter() != nil {
			return m.GetCounter().GetValue(), true
		}
		return m.GetGauge().GetValue(), m.GetGauge() != nil
	}
	cpu, ok := value("process_cpu_seconds_total")
	if !ok {
		return 0, 0, fmt.Errorf("%s/metrics has no process_cpu_seconds_total", r.cfg.Ops)
	}
	sockets, _ = value("assent_connected_devices")
	return cpu, sockets, nil
}

// wait polls cond every 20 ms until it holds, limit passes or ctx ends.
func wait(ctx context.Context, limit time.Duration, cond func() bool) bool {
	end := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(end) || ctx.Err() != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// pct is the q quantile of sorted values (nearest rank).
func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[max(0, min(len(sorted)-1, int(math.Ceil(q*float64(len(sorted))))-1))]
}

// serverControl restarts the server under test.
type serverControl interface {
	// restart stops the server (or has it stopped) and starts it again.
	restart(ctx context.Context, cfg restartConfig) (restartTimes, error)
}

// restartTimes: when the server was told to stop, and (a child only) when
// the old process exited and the new one started.
type restartTimes struct {
	signalled, exited, started time.Time
}

// childServer is an assentd that assent-load runs as its child.
type childServer struct {
	argv []string
	cmd  *exec.Cmd
	done chan error
}

func (c *childServer) start() error {
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the server (%s): %w", c.argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	c.cmd, c.done = cmd, done
	return nil
}

func (c *childServer) restart(ctx context.Context, cfg restartConfig) (restartTimes, error) {
	var t restartTimes
	if err := c.cmd.Process.Signal(cfg.Signal); err != nil {
		return t, fmt.Errorf("signal the server: %w", err)
	}
	t.signalled = time.Now()
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		c.cmd.Process.Kill()
		<-c.done
	}
	t.exited = time.Now()
	c.cmd = nil
	sleep(ctx, cfg.Down)
	t.started = time.Now()
	return t, c.start()
}

func (c *childServer) stop() {
	if c.cmd == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.done
	}
	c.cmd = nil
}

// shellServer is a server somebody else runs, restarted by a command.
type shellServer struct{ cmd string }

func (s *shellServer) restart(ctx context.Context, _ restartConfig) (restartTimes, error) {
	t := restartTimes{signalled: time.Now()}
	out, err := exec.CommandContext(ctx, "/bin/sh", "-c", s.cmd).CombinedOutput()
	if err != nil {
		return t, fmt.Errorf("--restart-cmd %q: %v: %s", s.cmd, err, strings.TrimSpace(string(out)))
	}
	return t, nil
}

// pushLoad drives test pushes at the devices around the restart; the
// devices approve them with the number the "page" shows.
type pushLoad struct {
	cfg   restartConfig
	admin *loadgen.Admin

	mu       sync.Mutex
	pending  map[string]*pendingPush // challenge id →
	sent     int
	refused  int
	approved int
	firstErr string
	rec      *csv.Writer
	recFile  *os.File

	stop   chan struct{}
	pushes sync.WaitGroup // the pacer and the pushes in flight
	wg     sync.WaitGroup // the answers in flight
}

type pendingPush struct {
	number   int
	known    bool // number known (the admin API answered)
	dev      *simDevice
	ch       *push.Challenge
	inFlight bool
	done     bool
}

func newPushLoad(cfg restartConfig, admin *loadgen.Admin) (*pushLoad, error) {
	l := &pushLoad{cfg: cfg, admin: admin, pending: map[string]*pendingPush{}, stop: make(chan struct{})}
	if cfg.Record != "" {
		f, err := os.OpenFile(cfg.Record, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, err
		}
		l.recFile, l.rec = f, csv.NewWriter(f)
	}
	return l, nil
}

// close waits for the answers in flight (the devices have stopped) and
// closes the record.
func (l *pushLoad) close() {
	l.pushes.Wait()
	l.wg.Wait()
	if l.recFile != nil {
		l.rec.Flush()
		l.recFile.Close()
	}
}

func (l *pushLoad) record(kind, id string) {
	if l.rec != nil {
		l.rec.Write([]string{kind, id})
		l.rec.Flush()
	}
}

func (l *pushLoad) noteErr(s string) {
	if l.firstErr == "" {
		l.firstErr = s
	}
}

func (l *pushLoad) start(ctx context.Context, devices []*simDevice) {
	interval := time.Duration(float64(time.Second) / l.cfg.Rate)
	l.pushes.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-l.stop:
				return
			case <-tick.C:
				d := devices[rand.IntN(len(devices))]
				l.pushes.Go(func() { l.pushOne(ctx, d) })
			}
		}
	})
}

func (l *pushLoad) pushOne(ctx context.Context, d *simDevice) {
	res, err := l.admin.Push(ctx, d.login)
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil || len(res.ChallengeIDs) != 1 {
		l.refused++
		if err == nil {
			err = fmt.Errorf("push to %s made %d challenges", d.login, len(res.ChallengeIDs))
		}
		l.noteErr(err.Error())
		return
	}
	id := res.ChallengeIDs[0]
	l.sent++
	l.record("sent", id)
	p := l.pending[id]
	if p == nil {
		l.pending[id] = &pendingPush{number: res.Number, known: true, dev: d}
		return
	}
	p.number, p.known, p.dev = res.Number, true, d
	l.answerLocked(ctx, p)
}

func (l *pushLoad) challengeArrived(d *simDevice, ch *push.Challenge) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pending[ch.ID]
	if p == nil {
		p = &pendingPush{}
		l.pending[ch.ID] = p
	}
	p.dev, p.ch = d, ch
	l.answerLocked(context.Background(), p)
}

// answerLocked approves p over HTTP when both its number and its
// challenge are known; a challenge sent again after a reconnect is
// answered again unless its approval was confirmed.
func (l *pushLoad) answerLocked(ctx context.Context, p *pendingPush) {
	if !p.known || p.ch == nil || p.inFlight || p.done {
		return
	}
	p.inFlight = true
	ch, n, d := p.ch, p.number, p.dev
	l.wg.Go(func() {
		outcome, err := d.cl.Respond(context.WithoutCancel(ctx), ch, push.Answer{Consent: push.ConsentApproved, Number: n})
		l.mu.Lock()
		defer l.mu.Unlock()
		p.inFlight = false
		switch {
		case err == nil && outcome == push.OutcomeApproved:
			p.done = true
			l.approved++
			l.record("approved", ch.ID)
		case err == nil:
			p.done = true
			l.noteErr(fmt.Sprintf("challenge %s ended %s", ch.ID, outcome))
		default:
			l.noteErr(fmt.Sprintf("answer %s: %v", ch.ID, err))
		}
	})
}

// finish stops the pushes, gives the answers in flight up to 15 s, asks
// again about answers whose confirmation was lost, and counts.
func (l *pushLoad) finish(ctx context.Context) *RestartLoad {
	close(l.stop)
	l.pushes.Wait()
	wait(ctx, 15*time.Second, func() bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		return l.approved >= l.sent
	})
	l.mu.Lock()
	var again []*pendingPush
	for _, p := range l.pending {
		if p.known && p.ch != nil && !p.done && !p.inFlight {
			again = append(again, p)
		}
	}
	l.mu.Unlock()
	lost, gone := 0, 0
	for _, p := range again {
		outcome, err := p.dev.cl.Respond(ctx, p.ch, push.Answer{Consent: push.ConsentApproved, Number: p.number})
		var ae *push.APIError
		switch {
		case errors.As(err, &ae) && ae.Code == "already_answered":
			lost++
		case l.cfg.PendingInMemory && errors.As(err, &ae) && ae.Code == "response_rejected":
			gone++ // the restarted node does not know it
		case err == nil && outcome == push.OutcomeApproved:
			l.mu.Lock()
			p.done = true
			l.approved++
			l.record("approved", p.ch.ID)
			l.mu.Unlock()
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.PendingInMemory {
		// Never delivered again after the crash: the node had them only
		// in memory.
		for _, p := range l.pending {
			if p.known && p.ch == nil && !p.done {
				gone++
			}
		}
	}
	return &RestartLoad{Rate: l.cfg.Rate, Sent: l.sent, Refused: l.refused, Approved: l.approved, ConfirmationLost: lost,
		PendingLost: gone, Unanswered: l.sent - l.approved - lost - gone, FirstError: l.firstErr}
}

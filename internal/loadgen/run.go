package loadgen

import (
	"bufio"
	"context"
	gocrypto "crypto"
	"crypto/ecdsa"
	crand "crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/sdk"
)

// SignInApp is the app sign-in mode signs in to: an embedded app the
// server must have registered (assentd app add load --type embedded).
const SignInApp = "load"

// Config is one assent-load run.
type Config struct {
	// Server is the URL the server calls itself (its --url).
	Server string
	// Nodes are the nodes' own addresses (base URLs) when several serve
	// one Server: sockets and requests are spread over them, as a load
	// balancer would. Empty means Server alone.
	Nodes []string
	// Ops are the nodes' operator listeners (their --ops-listen, as base
	// URLs), one for each of Nodes in the same order: where the nodes'
	// memory is read (POST /debug/gc, /metrics).
	Ops         []string
	AdminToken  string
	StatePath   string
	Prefix      string
	Devices     int
	Steps       []int // connected-device counts to measure at
	Procs       int
	SourceIPs   []string
	Rate        float64 // pushes or sign-ins per second; 0: as fast as Concurrency allows
	Concurrency int
	Duration    time.Duration
	Mode        string // push or signin
	Quiet       bool
	// Self is the command that runs a worker (this binary).
	Self []string
	// CryptoTime is how long the ES256 sign loop and then the verify
	// loop run (0: half a second each).
	CryptoTime time.Duration
}

// Step is what was measured with a number of devices connected.
type Step struct {
	Devices         int     `json:"devices"`
	ConnectFailures int     `json:"connectFailures"`
	HeapStackBytes  float64 `json:"serverHeapAndStackBytes"`
	RSSBytes        float64 `json:"serverRSSBytes"`
	BytesPerConn    float64 `json:"serverBytesPerConnection"`
	RSSPerConn      float64 `json:"serverRSSPerConnection"`
	// NewConnections is how many devices connected in this step (those
	// of earlier steps stay connected); ConnectCPUSeconds the servers'
	// CPU time from before they were asked to connect until they all had,
	// summed over the nodes, and ConnectCPUMicros that per new connection.
	NewConnections    int     `json:"newConnections"`
	ConnectCPUSeconds float64 `json:"serverConnectCPUSeconds"`
	ConnectCPUMicros  float64 `json:"serverCPUMicrosPerConnect"`
	// ConnectCPUWaitMicros is how long the servers' threads waited for a
	// CPU in that time, per new connection (where the nodes say: Linux).
	ConnectCPUWaitMicros float64 `json:"serverCPUWaitMicrosPerConnect,omitempty"`
	Load                 *Load   `json:"load,omitempty"`
}

// Load is what a load phase measured.
type Load struct {
	Mode       string  `json:"mode"`
	TargetRate float64 `json:"targetRate"`
	Seconds    float64 `json:"seconds"`
	Sent       int     `json:"sent"`
	Approved   int     `json:"approved"`
	Errors     int     `json:"errors"`
	Timeouts   int     `json:"timeouts"`
	PerSecond  float64 `json:"approvalsPerSecond"`
	P50ms      float64 `json:"roundTripP50ms"`
	P95ms      float64 `json:"roundTripP95ms"`
	P99ms      float64 `json:"roundTripP99ms"`
	MaxMs      float64 `json:"roundTripMaxMs"`
	FirstError string  `json:"firstError,omitempty"`
	// ServerCPUSeconds is the servers' CPU time over the load window
	// (process_cpu_seconds_total read just before the first push and
	// after the last answer, summed over the nodes; NodeCPUSeconds is
	// each node's, in the order of --ops), with no connect in it.
	ServerCPUSeconds float64   `json:"serverCPUSeconds"`
	NodeCPUSeconds   []float64 `json:"nodeCPUSeconds"`
	// CPUMicrosPerRoundTrip is ServerCPUSeconds per approved round trip,
	// in µs; NodeCPUMicrosPerRoundTrip each node's share of it.
	CPUMicrosPerRoundTrip     float64   `json:"serverCPUMicrosPerRoundTrip"`
	NodeCPUMicrosPerRoundTrip []float64 `json:"nodeCPUMicrosPerRoundTrip"`
	// CryptoRatio is CPUMicrosPerRoundTrip ÷ one ES256 sign plus one
	// ES256 verification (Report.ES256, same run): how many times its
	// unavoidable cryptography a round trip costs the server.
	CryptoRatio float64 `json:"cpuPerRoundTripOverES256SignVerify"`
	// CPUWaitSeconds is how long the servers' threads were ready to run
	// but waited for a CPU over the window (assent_process_cpu_wait_seconds_total,
	// where the nodes report it: Linux), and CPUWaitMicrosPerRoundTrip that
	// per approved round trip. Large against the CPU time, the servers
	// share their cores (here, with the load generator) or have too few:
	// the round trips' latency and CPU figures then carry the machine.
	CPUWaitSeconds            float64 `json:"serverCPUWaitSeconds,omitempty"`
	CPUWaitMicrosPerRoundTrip float64 `json:"serverCPUWaitMicrosPerRoundTrip,omitempty"`
	hasWait                   bool
}

// Report is a whole run.
type Report struct {
	Server            string   `json:"server"`
	Nodes             []string `json:"nodes"`
	P256VerifyPerSec  float64  `json:"p256VerificationsPerSecond"`
	ES256             ES256    `json:"es256"`
	BaselineHeapStack float64  `json:"serverBaselineHeapAndStackBytes"`
	BaselineRSS       float64  `json:"serverBaselineRSSBytes"`
	Steps             []Step   `json:"steps"`
}

type proc struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	owner int // first device index
	n     int
}

// Run enrolls, connects step by step, and measures.
func Run(ctx context.Context, cfg Config, log io.Writer) (*Report, error) {
	httpc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	admin := &Admin{URL: cfg.Server, Token: cfg.AdminToken, HTTP: httpc}
	st, err := LoadState(cfg.StatePath)
	if err != nil {
		return nil, err
	}
	if len(cfg.Nodes) == 0 {
		cfg.Nodes = []string{cfg.Server}
	}
	if len(cfg.Ops) != len(cfg.Nodes) {
		return nil, fmt.Errorf("%d operator URLs (--ops) for %d nodes: give each node's --ops-listen address, in the order of --nodes (e.g. --ops http://127.0.0.1:9091,http://127.0.0.1:9092)",
			len(cfg.Ops), len(cfg.Nodes))
	}
	rep := &Report{Server: cfg.Server, Nodes: cfg.Nodes, P256VerifyPerSec: p256Rate()}
	fmt.Fprintf(log, "P-256 verifications per second on this machine (one core): %.0f\n", rep.P256VerifyPerSec)
	if rep.ES256, err = measureES256(cfg.CryptoTime); err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "ES256 JWS on this machine (crypto.SignJWS/VerifyJWS, per CPU second): %.0f signs/s, %.0f verifications/s; one sign + one verify %.1f µs\n",
		rep.ES256.SignPerSec, rep.ES256.VerifyPerSec, rep.ES256.SignVerifyMicros)

	if len(st.Devices) < cfg.Devices {
		bar := cfg.bar(cfg.Devices-len(st.Devices), "enrolling devices")
		err := Enroll(ctx, admin, st, cfg.Prefix, cfg.Devices, 16, func() { bar.Add(1) })
		bar.Finish()
		if serr := st.Save(cfg.StatePath); serr != nil {
			return nil, serr
		}
		if err != nil {
			return nil, err
		}
	}
	devices := st.Devices[:cfg.Devices]
	if rep.BaselineHeapStack, rep.BaselineRSS, err = nodesMemory(ctx, httpc, cfg.Ops); err != nil {
		return nil, err
	}

	// Workers, each with a shard of devices and a source address.
	events := make(chan string, 4096)
	var procs []*proc
	per := (len(devices) + cfg.Procs - 1) / cfg.Procs
	for i := 0; i < len(devices); i += per {
		p, err := startWorker(cfg, i, min(per, len(devices)-i), events)
		if err != nil {
			return nil, err
		}
		defer func() { p.in.Close(); p.cmd.Wait() }()
		procs = append(procs, p)
	}
	var admins []*Admin
	for _, n := range cfg.Nodes {
		admins = append(admins, &Admin{URL: n, Token: cfg.AdminToken, HTTP: httpc})
	}
	d := &driver{cfg: cfg, admin: admin, admins: admins, devices: devices, procs: procs, started: map[string]time.Time{}, done: map[string]chan string{}}
	go d.route(events)

	before := 0 // devices connected before this step
	for _, target := range cfg.Steps {
		step := Step{}
		cpu0, err := nodesCPU(ctx, httpc, cfg.Ops)
		if err != nil {
			return nil, err
		}
		connected, failed, err := d.connect(ctx, target)
		if err != nil {
			return nil, err
		}
		cpu1, err := nodesCPU(ctx, httpc, cfg.Ops)
		if err != nil {
			return nil, err
		}
		step.Devices, step.ConnectFailures = connected, failed
		step.NewConnections = max(connected-before, 0)
		before = connected
		step.ConnectCPUSeconds, _ = cpuSince(cpu0, cpu1)
		connectWait, hasWait := waitSince(cpu0, cpu1)
		if step.NewConnections > 0 {
			step.ConnectCPUMicros = step.ConnectCPUSeconds * 1e6 / float64(step.NewConnections)
			step.ConnectCPUWaitMicros = connectWait * 1e6 / float64(step.NewConnections)
		}
		if step.HeapStackBytes, step.RSSBytes, err = nodesMemory(ctx, httpc, cfg.Ops); err != nil {
			return nil, err
		}
		if connected > 0 {
			step.BytesPerConn = (step.HeapStackBytes - rep.BaselineHeapStack) / float64(connected)
			step.RSSPerConn = (step.RSSBytes - rep.BaselineRSS) / float64(connected)
		}
		fmt.Fprintf(log, "%d devices connected (%d failed): server heap+stack %.1f MiB, %.0f B per connection; RSS %.1f MiB, %.0f B per connection\n",
			connected, failed, step.HeapStackBytes/(1<<20), step.BytesPerConn, step.RSSBytes/(1<<20), step.RSSPerConn)
		fmt.Fprintf(log, "  connect: server CPU %.3f s for %d new connections, %.0f µs per connect%s\n",
			step.ConnectCPUSeconds, step.NewConnections, step.ConnectCPUMicros, waitText(hasWait, step.ConnectCPUWaitMicros, "connect"))
		if cfg.Duration > 0 {
			// The window's CPU: read after the devices are connected and
			// the memory read (its GC) is done, and after the last answer.
			cpu2, err := nodesCPU(ctx, httpc, cfg.Ops)
			if err != nil {
				return nil, err
			}
			step.Load = d.load(ctx, connected)
			cpu3, err := nodesCPU(ctx, httpc, cfg.Ops)
			if err != nil {
				return nil, err
			}
			l := step.Load
			l.cpu(cpu2, cpu3, rep.ES256)
			fmt.Fprintf(log, "  %s at %s: %d sent, %d approved (%.0f/s), %d errors, %d timeouts; round trip p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, max %.2f ms\n",
				l.Mode, rateText(l.TargetRate), l.Sent, l.Approved, l.PerSecond, l.Errors, l.Timeouts, l.P50ms, l.P95ms, l.P99ms, l.MaxMs)
			fmt.Fprintf(log, "  server CPU %.0f µs per round trip (%.2f s for %d) = %.2f × one ES256 sign + verify (%.1f µs)%s%s\n",
				l.CPUMicrosPerRoundTrip, l.ServerCPUSeconds, l.Approved, l.CryptoRatio, rep.ES256.SignVerifyMicros, perNodeText(l.NodeCPUMicrosPerRoundTrip),
				waitText(l.hasWait, l.CPUWaitMicrosPerRoundTrip, "round trip"))
			if l.FirstError != "" {
				fmt.Fprintf(log, "  first error: %s\n", l.FirstError)
			}
		}
		rep.Steps = append(rep.Steps, step)
	}
	return rep, nil
}

// cpu fills in the window's server CPU from the nodes' CPU time before
// and after it, and its ratio to the ES256 cost of a round trip.
func (l *Load) cpu(before, after []nodeTimes, es ES256) {
	l.ServerCPUSeconds, l.NodeCPUSeconds = cpuSince(before, after)
	l.CPUWaitSeconds, l.hasWait = waitSince(before, after)
	if l.Approved == 0 {
		return
	}
	l.CPUMicrosPerRoundTrip = l.ServerCPUSeconds * 1e6 / float64(l.Approved)
	l.CPUWaitMicrosPerRoundTrip = l.CPUWaitSeconds * 1e6 / float64(l.Approved)
	for _, s := range l.NodeCPUSeconds {
		l.NodeCPUMicrosPerRoundTrip = append(l.NodeCPUMicrosPerRoundTrip, s*1e6/float64(l.Approved))
	}
	if es.SignVerifyMicros > 0 {
		l.CryptoRatio = l.CPUMicrosPerRoundTrip / es.SignVerifyMicros
	}
}

// waitText is what the report says of the servers' wait for a CPU, per
// what ("connect", "round trip"), where they reported it.
func waitText(reported bool, micros float64, what string) string {
	if !reported {
		return ""
	}
	return fmt.Sprintf("; its threads waited %.0f µs per %s for a CPU", micros, what)
}

func perNodeText(us []float64) string {
	if len(us) < 2 {
		return ""
	}
	parts := make([]string, len(us))
	for i, u := range us {
		parts[i] = fmt.Sprintf("%.0f", u)
	}
	return "; per node " + strings.Join(parts, ", ") + " µs"
}

func rateText(r float64) string {
	if r == 0 {
		return "full speed"
	}
	return fmt.Sprintf("%.0f/s", r)
}

func (cfg Config) bar(n int, what string) *progressbar.ProgressBar {
	if cfg.Quiet || !term.IsTerminal(int(os.Stderr.Fd())) {
		return progressbar.DefaultSilent(int64(n), what)
	}
	return progressbar.NewOptions(n, progressbar.OptionSetDescription(what), progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowCount(), progressbar.OptionShowIts(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionClearOnFinish())
}

func startWorker(cfg Config, from, n int, events chan<- string) (*proc, error) {
	src := ""
	if len(cfg.SourceIPs) > 0 {
		src = cfg.SourceIPs[(from/max(n, 1))%len(cfg.SourceIPs)]
	}
	node := cfg.Nodes[(from/max(n, 1))%len(cfg.Nodes)]
	args := append(slices.Clone(cfg.Self[1:]), "worker", "--server", cfg.Server, "--node", node, "--state", cfg.StatePath,
		"--from", strconv.Itoa(from), "--count", strconv.Itoa(n), "--source-ip", src)
	cmd := exec.Command(cfg.Self[0], args...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			events <- fmt.Sprintf("%d %s", from, sc.Text())
		}
	}()
	return &proc{cmd: cmd, in: in, owner: from, n: n}, nil
}

// driver sends load and matches answers to what it sent.
type driver struct {
	cfg     Config
	admin   *Admin
	admins  []*Admin // one per node
	devices []Device
	procs   []*proc

	mu        sync.Mutex
	started   map[string]time.Time   // challenge → when the push was asked for
	done      map[string]chan string // challenge → its ack
	connected chan string
	firstErr  string
}

func (d *driver) route(events <-chan string) {
	for ev := range events {
		_, line, _ := strings.Cut(ev, " ")
		f := strings.Fields(line)
		switch {
		case len(f) >= 1 && f[0] == "connected":
			d.mu.Lock()
			c := d.connected
			d.mu.Unlock()
			if c != nil {
				c <- line
			}
		case len(f) == 4 && f[0] == "ack":
			d.mu.Lock()
			ch := d.done[f[1]]
			delete(d.done, f[1])
			d.mu.Unlock()
			if ch != nil {
				ch <- f[2] + " " + f[3]
			}
		case len(f) >= 1 && f[0] == "err":
			d.noteErr(line)
		}
	}
}

func (d *driver) noteErr(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.firstErr == "" {
		d.firstErr = s
	}
}

// connect has every worker open its share of target sockets.
func (d *driver) connect(ctx context.Context, target int) (connected, failed int, err error) {
	c := make(chan string, len(d.procs))
	d.mu.Lock()
	d.connected = c
	d.mu.Unlock()
	total := len(d.devices)
	for _, p := range d.procs {
		share := int(math.Round(float64(target) * float64(p.n) / float64(total)))
		fmt.Fprintf(p.in, "connect %d\n", share)
	}
	for range d.procs {
		select {
		case line := <-c:
			var k, f int
			fmt.Sscanf(line, "connected %d %d", &k, &f)
			connected += k
			failed += f
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		}
	}
	return connected, failed, nil
}

// owner is the worker holding device i.
func (d *driver) owner(i int) *proc {
	for _, p := range d.procs {
		if i >= p.owner && i < p.owner+p.n {
			return p
		}
	}
	return nil
}

// load runs pushes (or sign-ins) for the configured time at the
// configured rate against the first `connected` devices of each worker.
func (d *driver) load(ctx context.Context, connected int) *Load {
	l := &Load{Mode: d.cfg.Mode, TargetRate: d.cfg.Rate}
	var mu sync.Mutex
	var rts []float64
	record := func(rt time.Duration, ok bool, timeout bool) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ok:
			l.Approved++
			rts = append(rts, float64(rt.Microseconds())/1000)
		case timeout:
			l.Timeouts++
		default:
			l.Errors++
		}
	}
	// The devices with open sockets: each worker opened its first ones.
	var live []int
	total := len(d.devices)
	for _, p := range d.procs {
		share := int(math.Round(float64(connected) * float64(p.n) / float64(total)))
		for j := range min(share, p.n) {
			live = append(live, p.owner+j)
		}
	}
	if len(live) == 0 {
		return l
	}
	bar := d.cfg.bar(int(d.cfg.Duration.Seconds()), "load")
	start := time.Now()
	deadline := start.Add(d.cfg.Duration)
	var wg sync.WaitGroup
	// A person answers one prompt at a time: a device with a push in
	// flight is not picked again until it has answered.
	busy := map[int]bool{}
	one := func() {
		mu.Lock()
		i := live[rand.IntN(len(live))]
		for tries := 0; busy[i] && tries < 16; tries++ {
			i = live[rand.IntN(len(live))]
		}
		if busy[i] {
			mu.Unlock()
			return
		}
		busy[i] = true
		l.Sent++
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(busy, i)
			mu.Unlock()
		}()
		rt, err := d.once(ctx, i)
		if err != nil {
			d.noteErr(err.Error())
		}
		record(rt, err == nil, err == errTimeout)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	go func() {
		for range tick.C {
			bar.Add(1)
		}
	}()
	if d.cfg.Rate > 0 {
		interval := time.Duration(float64(time.Second) / d.cfg.Rate)
		next := time.Now()
		for time.Now().Before(deadline) && ctx.Err() == nil {
			wg.Go(one)
			next = next.Add(interval)
			if wait := time.Until(next); wait > 0 {
				time.Sleep(wait)
			}
		}
	} else {
		for range max(d.cfg.Concurrency, 1) {
			wg.Go(func() {
				for time.Now().Before(deadline) && ctx.Err() == nil {
					one()
				}
			})
		}
	}
	wg.Wait()
	bar.Finish()
	l.Seconds = time.Since(start).Seconds()
	l.PerSecond = float64(l.Approved) / d.cfg.Duration.Seconds()
	slices.Sort(rts)
	l.P50ms, l.P95ms, l.P99ms = pct(rts, .50), pct(rts, .95), pct(rts, .99)
	if len(rts) > 0 {
		l.MaxMs = rts[len(rts)-1]
	}
	d.mu.Lock()
	l.FirstError, d.firstErr = d.firstErr, ""
	d.mu.Unlock()
	return l
}

func pct(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(math.Ceil(q*float64(len(sorted))))-1)]
}

var errTimeout = fmt.Errorf("no answer within 10s")

// once drives one push (or sign-in) to device i and waits for the device's
// answer to be acknowledged. The round trip runs from asking for the push
// to the acknowledgement: the challenge made, signed, stored and
// delivered, and the answer verified and stored.
func (d *driver) once(ctx context.Context, i int) (time.Duration, error) {
	dev := &d.devices[i]
	p := d.owner(i)
	start := time.Now()
	var id string
	var number int
	var tx *sdk.Transaction
	if d.cfg.Mode == "signin" {
		c := sdk.New(d.cfg.Nodes[i%len(d.cfg.Nodes)])
		c.HTTP = d.admin.HTTP
		c.Device = "load-" + dev.Login
		var err error
		if tx, err = c.Interact(ctx, SignInApp); err == nil {
			_, err = tx.Do(ctx, sdk.RemIdentify, sdk.Request{Login: dev.Login})
		}
		if err != nil {
			return 0, fmt.Errorf("%w (sign-in mode needs the app registered: assentd app add %s --type embedded; "+
				"and the per-address throttle off, since every sign-in comes from this machine: assentd serve --source-rate -1)", err, SignInApp)
		}
		start = time.Now()
		r, err := tx.Do(ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
		if err != nil {
			return 0, fmt.Errorf("select push: %w (is the server's policy passwordless for the group load? see docs/load-policy.yaml)", err)
		}
		number = r.Number
	} else {
		res, err := d.admins[i%len(d.admins)].Push(ctx, dev.Login)
		if err != nil {
			return 0, err
		}
		if len(res.ChallengeIDs) != 1 {
			return 0, fmt.Errorf("push to %s made %d challenges", dev.Login, len(res.ChallengeIDs))
		}
		id, number = res.ChallengeIDs[0], res.Number
	}
	if tx != nil {
		// The sign-in's challenge id is not in the API's answer; the
		// device's ack names it. Wait for the transaction instead.
		fmt.Fprintf(p.in, "answer-login %s %d\n", dev.Login, number)
		for {
			r, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{Wait: 10}) // held until the push ends
			if err != nil {
				return 0, err
			}
			if r.Status == sdk.StatusSuccess {
				return time.Since(start), nil
			}
			if time.Since(start) > 10*time.Second {
				return 0, errTimeout
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	done := make(chan string, 1)
	d.mu.Lock()
	d.done[id] = done
	d.mu.Unlock()
	fmt.Fprintf(p.in, "answer %s %d\n", id, number)
	select {
	case ack := <-done:
		outcome, ts, _ := strings.Cut(ack, " ")
		ns, _ := strconv.ParseInt(ts, 10, 64)
		if outcome != "approved" {
			return 0, fmt.Errorf("push to %s ended %s", dev.Login, outcome)
		}
		return time.Unix(0, ns).Sub(start), nil
	case <-time.After(10 * time.Second):
		d.mu.Lock()
		delete(d.done, id)
		d.mu.Unlock()
		return 0, errTimeout
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// p256Rate measures this machine's P-256 verification rate with a Go
// benchmark: the floor under every answer the server checks.
func p256Rate() float64 {
	k, _ := crypto.NewDeviceKey()
	digest := sha256.Sum256([]byte("assent"))
	sig, _ := k.Sign(crand.Reader, digest[:], gocrypto.SHA256)
	r := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			ecdsa.VerifyASN1(&k.PublicKey, digest[:], sig)
		}
	})
	return float64(r.N) / r.T.Seconds()
}

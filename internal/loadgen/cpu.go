package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
)

// ES256 is this machine's ES256 speed per second of one core's CPU time,
// measured in the assent-load process with the project's own JWS code
// (crypto.SignJWS, crypto.VerifyJWS) on the claims the server signs (a challenge) and verifies (a device's answer):
// the cryptography a push round trip cannot do without.
type ES256 struct {
	SignPerSec   float64 `json:"signsPerSecond"`
	VerifyPerSec float64 `json:"verificationsPerSecond"`
	// SignVerifyMicros is one sign plus one verification, in µs: the
	// unit the server's CPU per round trip is divided by.
	SignVerifyMicros float64 `json:"signPlusVerifyMicros"`
}

// measureES256 signs for d, then verifies for d, on one goroutine, and
// reports the rates per second of CPU (each the fastest fifth of its d).
// A zero d means half a second each.
func measureES256(d time.Duration) (ES256, error) {
	if d <= 0 {
		d = 500 * time.Millisecond
	}
	key, err := crypto.NewDeviceKey()
	if err != nil {
		return ES256{}, err
	}
	now := time.Now()
	challenge := push.ChallengeClaims{
		Issuer: "https://assent.example.com", Audience: "dev_0123456789abcdef", Subject: "load-000042",
		ID: "chl_0123456789abcdefghij", Nonce: crypto.RandomToken(16), IAT: now.Unix(), Exp: now.Add(time.Minute).Unix(),
		Kind: "test", Numbers: []int{17, 42, 88}, UserVerification: "preferred",
	}
	challenge.Context.Time = now.Unix()
	challenge.Context.ClientIP = "192.0.2.10"
	answer, err := crypto.SignJWS(key, push.TypResponse, push.ResponseClaims{
		Issuer: "dev_0123456789abcdef", Audience: "https://assent.example.com", ID: challenge.ID,
		Nonce: challenge.Nonce, IAT: now.Unix(), Consent: "approved", Number: 42,
	}, crypto.SignOptions{})
	if err != nil {
		return ES256{}, fmt.Errorf("ES256 rate: %w", err)
	}
	// loop runs op for d in five slices and keeps the fastest slice's
	// rate, each slice's time being the CPU time of this goroutine's
	// thread where it can be read (Linux) and the wall clock elsewhere:
	// the server's CPU per round trip is CPU time too, and a machine
	// whose cores are shared would otherwise slow the cryptography
	// down by whatever else ran.
	loop := func(op func() error) (float64, error) {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		best := 0.0
		for range 5 {
			start := time.Now()
			cpu0, ok := threadCPU()
			n := 0
			for time.Since(start) < d/5 {
				for range 4 { // a batch between clock reads
					if err := op(); err != nil {
						return 0, err
					}
					n++
				}
			}
			took := time.Since(start)
			if cpu1, ok1 := threadCPU(); ok && ok1 && cpu1 > cpu0 {
				took = cpu1 - cpu0
			}
			best = max(best, float64(n)/took.Seconds())
		}
		return best, nil
	}
	var r ES256
	if r.SignPerSec, err = loop(func() error {
		_, err := crypto.SignJWS(key, push.TypChallenge, challenge, crypto.SignOptions{})
		return err
	}); err != nil {
		return ES256{}, fmt.Errorf("ES256 sign rate: %w", err)
	}
	var rc push.ResponseClaims
	if r.VerifyPerSec, err = loop(func() error {
		return crypto.VerifyJWS(answer, &key.PublicKey, push.TypResponse, &rc)
	}); err != nil {
		return ES256{}, fmt.Errorf("ES256 verify rate: %w", err)
	}
	r.SignVerifyMicros = 1e6/r.SignPerSec + 1e6/r.VerifyPerSec
	return r, nil
}

// nodeTimes is one node's CPU time so far and, where the node reports it
// (assent_process_cpu_wait_seconds_total, on Linux), how long its threads
// have waited for a CPU.
type nodeTimes struct {
	cpu, wait float64
	hasWait   bool
}

// nodesCPU reads every node's CPU time so far (process_cpu_seconds_total,
// from /metrics on its operator listener), in the order of ops.
func nodesCPU(ctx context.Context, httpc *http.Client, ops []string) ([]nodeTimes, error) {
	out := make([]nodeTimes, len(ops))
	for i, o := range ops {
		m, err := scrape(ctx, httpc, o)
		if err != nil {
			return nil, fmt.Errorf("read the server's CPU time: %w", err)
		}
		v, ok := m["process_cpu_seconds_total"]
		if !ok {
			return nil, fmt.Errorf("%s/metrics has no process_cpu_seconds_total: is it assentd's operator listener (--ops-listen)?", o)
		}
		out[i].cpu = v
		out[i].wait, out[i].hasWait = m["assent_process_cpu_wait_seconds_total"]
	}
	return out, nil
}

// cpuSince is after − before per node, and their sum.
func cpuSince(before, after []nodeTimes) (total float64, perNode []float64) {
	perNode = make([]float64, len(after))
	for i := range after {
		perNode[i] = after[i].cpu - before[i].cpu
		total += perNode[i]
	}
	return total, perNode
}

// waitSince is how long the nodes' threads waited for a CPU between the
// readings, summed; false when a node does not say.
func waitSince(before, after []nodeTimes) (float64, bool) {
	total := 0.0
	for i := range after {
		if !before[i].hasWait || !after[i].hasWait {
			return 0, false
		}
		total += after[i].wait - before[i].wait
	}
	return total, true
}

package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/internal/loadgen"
)

// workerEnv makes this test binary an assent-load worker: TestMain runs
// `worker ...` when it is set, so the load below has real worker processes
// without building cmd/assent-load.
const workerEnv = "ASSENT_LOAD_TEST_WORKER"

// TestLoadReportsServerCPU: a short push load against a real assentd (a
// child process, SQLite) reports the server's own CPU time per round trip,
// the connect cost apart from it, this machine's ES256 sign and verify
// rates from the same run, and the ratio of the two, in the text report
// and in the JSON one.
func TestLoadReportsServerCPU(t *testing.T) {
	e := newRestartEnv(t)
	e.flags = append(e.flags, "--answer-floor", "0")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(self, e.flags...)
	srv.Env = append(os.Environ(), childEnv+"=1")
	srvLog := filepath.Join(e.dir, "server.log")
	lf, err := os.Create(srvLog)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	srv.Stdout, srv.Stderr = lf, lf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	up := func() bool {
		resp, err := http.Get("http://" + e.listen + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	if !wait(t.Context(), time.Minute, up) {
		b, _ := os.ReadFile(srvLog)
		t.Fatalf("the server did not come up: %s", b)
	}
	// The workers are this binary too; they inherit workerEnv.
	t.Setenv(workerEnv, "1")
	cfg := loadgen.Config{
		Server: "http://" + e.listen, Ops: []string{"http://" + e.ops}, AdminToken: e.token,
		StatePath: filepath.Join(e.dir, "state.json"), Prefix: "cpu", Devices: 30, Steps: []int{20, 30}, Procs: 2,
		Rate: 60, Concurrency: 8, Duration: 1500 * time.Millisecond, Mode: "push", Quiet: true,
		Self: []string{self}, CryptoTime: 100 * time.Millisecond,
	}
	var log strings.Builder
	rep, err := loadgen.Run(t.Context(), cfg, &log)
	t.Log(log.String())
	if err != nil {
		t.Fatal(err)
	}
	es := rep.ES256
	if es.SignPerSec <= 0 || es.VerifyPerSec <= 0 || es.SignVerifyMicros <= 0 {
		t.Fatalf("no ES256 rates: %+v", es)
	}
	// One sign plus one verify is the sum of their times.
	if want := 1e6/es.SignPerSec + 1e6/es.VerifyPerSec; abs(es.SignVerifyMicros-want) > want*1e-9 {
		t.Fatalf("sign+verify %v µs, want %v", es.SignVerifyMicros, want)
	}
	if len(rep.Steps) != 2 {
		t.Fatalf("%d steps, want 2", len(rep.Steps))
	}
	for i, st := range rep.Steps {
		if st.ConnectFailures != 0 || st.Devices != cfg.Steps[i] {
			t.Fatalf("step %d: %d connected, %d failed", i, st.Devices, st.ConnectFailures)
		}
		if wantNew := []int{20, 10}[i]; st.NewConnections != wantNew {
			t.Fatalf("step %d: %d new connections, want %d", i, st.NewConnections, wantNew)
		}
		if st.ConnectCPUSeconds < 0 || st.ConnectCPUMicros < 0 {
			t.Fatalf("step %d: negative connect CPU: %+v", i, st)
		}
		l := st.Load
		if l == nil || l.Approved == 0 {
			t.Fatalf("step %d: no load ran: %+v", i, l)
		}
		if l.ServerCPUSeconds <= 0 || l.CPUMicrosPerRoundTrip <= 0 || l.CryptoRatio <= 0 {
			t.Fatalf("step %d: no server CPU per round trip: %+v", i, l)
		}
		if len(l.NodeCPUSeconds) != 1 || l.NodeCPUSeconds[0] != l.ServerCPUSeconds || len(l.NodeCPUMicrosPerRoundTrip) != 1 {
			t.Fatalf("step %d: per-node CPU does not add up: %+v", i, l)
		}
		if got, want := l.CPUMicrosPerRoundTrip, l.ServerCPUSeconds*1e6/float64(l.Approved); abs(got-want) > want*1e-9 {
			t.Fatalf("step %d: %v µs per round trip, want %v", i, got, want)
		}
		if got, want := l.CryptoRatio, l.CPUMicrosPerRoundTrip/es.SignVerifyMicros; abs(got-want) > want*1e-9 {
			t.Fatalf("step %d: ratio %v, want %v", i, got, want)
		}
		// The server's threads' wait for a CPU (Linux), per round trip.
		if l.CPUWaitSeconds < 0 || st.ConnectCPUWaitMicros < 0 {
			t.Fatalf("step %d: negative wait for a CPU: %+v", i, st)
		}
		if got, want := l.CPUWaitMicrosPerRoundTrip, l.CPUWaitSeconds*1e6/float64(l.Approved); abs(got-want) > want*1e-9 {
			t.Fatalf("step %d: waited %v µs per round trip, want %v", i, got, want)
		}
	}
	if runtime.GOOS == "linux" && strings.Count(log.String(), "for a CPU") != 4 {
		t.Errorf("the text report does not give the server's wait for a CPU for both connects and both loads")
	}
	for _, want := range []string{"ES256 JWS on this machine", "µs per round trip", "× one ES256 sign + verify", "µs per connect"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("the text report lacks %q", want)
		}
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		ES256 struct {
			Sign   float64 `json:"signsPerSecond"`
			Verify float64 `json:"verificationsPerSecond"`
		} `json:"es256"`
		Steps []struct {
			Connect float64 `json:"serverCPUMicrosPerConnect"`
			Load    struct {
				CPU   float64 `json:"serverCPUMicrosPerRoundTrip"`
				Ratio float64 `json:"cpuPerRoundTripOverES256SignVerify"`
			} `json:"load"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if j.ES256.Sign <= 0 || j.ES256.Verify <= 0 || len(j.Steps) != 2 || j.Steps[0].Load.CPU <= 0 || j.Steps[0].Load.Ratio <= 0 {
		t.Fatalf("the JSON report lacks the CPU figures: %s", b)
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

package server

import (
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

func TestCPUWaitNeverFallsAsThreadsComeAndGo(t *testing.T) {
	var reads []map[int]uint64
	var readErr error
	c := &cpuWait{read: func() (map[int]uint64, error) {
		if readErr != nil {
			return nil, readErr
		}
		r := reads[0]
		reads = reads[1:]
		return r, nil
	}}
	reads = []map[int]uint64{
		{1: 100, 2: 50},        // 150 since the threads began
		{1: 130, 2: 50, 3: 20}, // +30, and a new thread's 20
		{1: 160, 3: 25},        // thread 2 ended: +30 +5, nothing taken away
		{1: 170, 3: 25, 2: 7},  // a new thread with an old id: its 7 is new
		{1: 10_000_000_170, 3: 25, 2: 7},
	}
	want := []float64{150e-9, 200e-9, 235e-9, 252e-9, (252 + 10_000_000_000) * 1e-9}
	for i, w := range want {
		if got := c.seconds(); !near(got, w) {
			t.Fatalf("reading %d = %g s, want %g", i, got, w)
		}
	}
	// A failed read keeps the total.
	readErr = errors.New("gone")
	if got := c.seconds(); !near(got, want[len(want)-1]) {
		t.Fatalf("after a failed read = %g s, want %g", got, want[len(want)-1])
	}
}

func near(a, b float64) bool { d := a - b; return d < 1e-12 && d > -1e-12 }

func TestParseSchedstat(t *testing.T) {
	for in, want := range map[string]int64{
		"8016282 274013 4\n":       274013,
		"1 2 3":                    2,
		"1 18446744073709551615 3": -2, // the largest uint64, checked below
		"":                         -1,
		"12":                       -1,
		"1 x 3":                    -1,
		"1 -5 3":                   -1,
	} {
		v, ok := parseSchedstat([]byte(in))
		switch {
		case want == -1:
			if ok {
				t.Errorf("parseSchedstat(%q) = %d, want refused", in, v)
			}
		case want == -2:
			if !ok || v != 1<<64-1 {
				t.Errorf("parseSchedstat(%q) = %d %v", in, v, ok)
			}
		case !ok || v != uint64(want):
			t.Errorf("parseSchedstat(%q) = %d %v, want %d", in, v, ok, want)
		}
	}
}

func FuzzParseSchedstat(f *testing.F) {
	f.Add([]byte("8016282 274013 4\n"))
	f.Add([]byte(""))
	f.Add([]byte("1 99999999999999999999999 3"))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := parseSchedstat(b)
		if !ok && v != 0 {
			t.Fatalf("refused %q with %d", b, v)
		}
	})
}

// The operator listener's metric grows when the node shares the machine's
// cores: with two busy processes per core beside it, each of its
// GOMAXPROCS spinning threads gets a third of a core at most, and they
// wait for one together for longer than half the spin.
func TestOperatorMetricsCountTheWaitForACPU(t *testing.T) {
	needCPUWait(t)
	s := newTestServer(t)
	read := func() float64 {
		code, body := doOps(t, s, "GET", "/metrics", "")
		m := regexp.MustCompile(`(?m)^assent_process_cpu_wait_seconds_total (\S+)$`).FindStringSubmatch(body)
		if code != 200 || m == nil {
			t.Fatalf("metrics = %d, without assent_process_cpu_wait_seconds_total", code)
		}
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const spin = 400 * time.Millisecond
	var others []*exec.Cmd
	for range 2 * runtime.NumCPU() {
		c := exec.Command("sh", "-c", "while :; do :; done")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		others = append(others, c)
	}
	defer func() {
		for _, c := range others {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	time.Sleep(50 * time.Millisecond) // the shells are running
	before := read()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for end := time.Now().Add(spin); time.Now().Before(end); {
			}
		}()
	}
	wg.Wait()
	after := read()
	t.Logf("waited %.3f s for a CPU", after-before)
	if after-before < spin.Seconds()/2 {
		t.Fatalf("the wait for a CPU grew %.3f s while %d threads spun for %v beside %d busy processes on %d cores, want at least %v",
			after-before, runtime.GOMAXPROCS(0), spin, len(others), runtime.NumCPU(), spin/2)
	}
}

// Fifty scrapes at once read the real threads together: none fails, and
// each one's total is at least what the scrapes before it read.
func TestCPUWaitReadByManyAtOnce(t *testing.T) {
	c := needCPUWait(t)
	first := c.seconds()
	var wg sync.WaitGroup
	errs := make(chan string, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := first
			for range 20 {
				v := c.seconds()
				if v < prev {
					errs <- fmt.Sprintf("a reading fell from %g to %g", prev, v)
					return
				}
				prev = v
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// needCPUWait is the metric's reader on this machine; a Linux kernel
// without schedstat fails the test, since the metric is then missing.
func needCPUWait(t *testing.T) *cpuWait {
	t.Helper()
	c := newCPUWait()
	if c == nil {
		if runtime.GOOS == "linux" {
			t.Fatal("this Linux kernel keeps no /proc/self/task/*/schedstat (CONFIG_SCHED_INFO); the node's CPU-wait metric needs it")
		}
		t.Skip("only Linux reports a thread's wait for a CPU")
	}
	return c
}

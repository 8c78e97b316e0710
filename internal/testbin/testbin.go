// Package testbin is for tests that run the real binaries (assent,
// assentd) as users get them: it builds them once per test process, finds
// free loopback ports, and starts a server and waits until it answers.
package testbin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	mu     sync.Mutex
	builds = map[string]func() (string, error){}
)

// Dir builds the packages (go build arguments, relative to the test's
// package folder, e.g. "../cmd/assentd") into one new folder and returns
// it. The same packages are built once per test process; a failed build
// stays failed.
func Dir(pkgs ...string) (string, error) {
	if len(pkgs) == 0 {
		return "", errors.New("testbin: no packages to build")
	}
	key := strings.Join(pkgs, "\x00")
	mu.Lock()
	build, ok := builds[key]
	if !ok {
		build = sync.OnceValues(func() (string, error) {
			dir, err := os.MkdirTemp("", "assent-test-bin-")
			if err != nil {
				return "", err
			}
			args := append([]string{"build", "-o", dir + string(os.PathSeparator)}, pkgs...)
			if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
				return "", fmt.Errorf("go build %s: %v\n%s", strings.Join(pkgs, " "), err, out)
			}
			return dir, nil
		})
		builds[key] = build
	}
	mu.Unlock()
	return build()
}

// Build is Dir for a test, which fails if the build does.
func Build(t testing.TB, pkgs ...string) string {
	t.Helper()
	dir, err := Dir(pkgs...)
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// FreeAddr is a loopback address (127.0.0.1:port) nobody listened on a
// moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// WaitServing waits up to ten seconds until the assentd at url (http://…)
// answers GET /v1/server; else the test fails with log, the server's
// output so far (nil: none).
func WaitServing(t testing.TB, url string, log fmt.Stringer) {
	t.Helper()
	for range 200 {
		if resp, err := http.Get(url + "/v1/server"); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	if log == nil {
		t.Fatalf("assentd did not come up at %s", url)
	}
	t.Fatalf("assentd did not come up at %s:\n%s", url, log)
}

// Run runs cmd to its end with stdin as its input, and returns what it
// wrote and its exit code. A command that does not start fails the test.
func Run(t testing.TB, cmd *exec.Cmd, stdin string) (stdout, stderr string, code int) {
	t.Helper()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

// Log is a process's output, safe to read while the process writes it.
type Log struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Serve starts cmd, an assentd serve that will answer at url, with its
// standard error kept in the returned log, stops it with SIGTERM when the
// test ends, and waits until it answers.
func Serve(t testing.TB, cmd *exec.Cmd, url string) *Log {
	t.Helper()
	log := &Log{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	WaitServing(t, url, log)
	return log
}

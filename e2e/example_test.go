package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSDKExampleSignsIn runs examples/signin, the SDK's example app, through
// a whole password + push sign-in against a real server and device.
func TestSDKExampleSignsIn(t *testing.T) {
	e := newEnv(t)
	_, d, _ := e.enrolled("sam")
	bin := filepath.Join(t.TempDir(), "signin")
	if out, err := exec.Command("go", "build", "-o", bin, "../examples/signin").CombinedOutput(); err != nil {
		t.Fatalf("build the example: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--server", e.url, "--login", "sam")
	cmd.Stdin = strings.NewReader("correct horse battery\n")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	r := bufio.NewReader(out)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("the example said nothing: %v", err)
	}
	m := regexp.MustCompile(`pick (\d+)`).FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("the example did not show a number: %q", line)
	}
	n, _ := strconv.Atoi(m[1])
	if _, err := d.Approve(e.ctx, e.onlyPrompt(d), n); err != nil {
		t.Fatal(err)
	}
	rest, _ := r.ReadString('\n')
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the example failed: %v (%s)", err, rest)
	}
	if !strings.HasPrefix(rest, "Signed in as sam to example-app (pwd swk mfa)") {
		t.Fatalf("the example ended with %q", rest)
	}
}

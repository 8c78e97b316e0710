package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/testbin"
	"github.com/seed-3a5b824e/assent/sdk"
)

// binaries builds assentd and assent once per test process and returns
// their folder.
func binaries() (string, error) { return testbin.Dir("../cmd/assentd", "../cmd/assent") }

var freePort = testbin.FreeAddr

type cliEnv struct {
	t      *testing.T
	bin    string
	dir    string // the test's folder, which holds data and home
	data   string
	listen string
	url    string
	home   string
	env    []string
}

// newCLIEnv is a cliEnv for the built binaries in a new folder, with a
// free loopback port, and the machine's environment with ASSENT_HOME, no
// operator listener (tests run side by side: no shared port) and extra.
func newCLIEnv(t *testing.T, extra ...string) *cliEnv {
	t.Helper()
	dir := t.TempDir()
	c := &cliEnv{t: t, bin: testbin.Build(t, "../cmd/assentd", "../cmd/assent"), dir: dir,
		data: filepath.Join(dir, "data"), listen: freePort(t), home: filepath.Join(dir, "home")}
	c.url = "http://" + c.listen
	c.env = append(append(os.Environ(), "ASSENT_HOME="+c.home, "ASSENT_OPS_LISTEN=off"), extra...)
	return c
}

// run runs a command to completion and returns its standard output.
func (c *cliEnv) run(stdin string, name string, args ...string) (string, error) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	cmd.Env = c.env
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

func (c *cliEnv) must(stdin string, name string, args ...string) string {
	c.t.Helper()
	out, err := c.run(stdin, name, args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

func (c *cliEnv) server(args ...string) []string {
	return append(args, "--data", c.data, "--listen", c.listen)
}

// TestCLIWalkthrough does what the README tells a new user to do, with the
// real binaries: serve, add a user, enroll from a QR file into the OS
// keychain, sign in with a push approved from the command line, deny and
// report, listen and answer at the prompt.
func TestCLIWalkthrough(t *testing.T) {
	requireSecretService(t)
	c := newCLIEnv(t)
	dir := c.dir

	srv := exec.Command(filepath.Join(c.bin, "assentd"), c.server("serve")...)
	srv.Env = c.env
	srvLog := &strings.Builder{}
	srv.Stderr = srvLog
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Process.Kill()
	waitUp(t, c.url)

	// The app the sign-ins below name, registered as the README says.
	if out := c.must("", "assentd", c.server("app", "add", "cli-test", "--type", "embedded")...); !strings.Contains(out, "added app cli-test") {
		t.Fatalf("app add said %q", out)
	}
	if out := c.must("correct horse battery\n", "assentd", c.server("user", "add", "alice", "--email", "alice@example.com")...); !strings.Contains(out, "added user alice") {
		t.Fatalf("user add said %q", out)
	}
	if _, err := c.run("short\n", "assentd", c.server("user", "add", "bob")...); err == nil || !strings.Contains(err.Error(), "password") {
		t.Fatalf("a short password was accepted: %v", err)
	}
	qr := filepath.Join(dir, "alice.png")
	out := c.must("", "assentd", c.server("enroll", "alice", "--qr", qr)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "assent://enroll?") {
		t.Fatalf("the last line of assentd enroll is %q, want the link", last)
	}
	if !strings.Contains(out, "█") && !strings.Contains(out, "▀") {
		t.Fatal("assentd enroll drew no QR code in the terminal")
	}

	out = c.must("", "assent", "enroll", qr)
	if !strings.Contains(out, "Enrolled Assent:alice") || !strings.Contains(out, "keychain") {
		t.Fatalf("assent enroll said %q", out)
	}
	if out := c.must("", "assent", "accounts"); !strings.Contains(out, "alice") {
		t.Fatalf("accounts = %q", out)
	}
	if code := strings.TrimSpace(c.must("", "assent", "code", "alice")); !regexp.MustCompile(`^\d{6}$`).MatchString(code) {
		t.Fatalf("code = %q", code)
	}

	// A third-party account from an otpauth URI gives the same codes as
	// any authenticator would.
	before := time.Now()
	out = c.must("", "assent", "add", "otpauth://totp/GitHub:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=GitHub")
	if !strings.Contains(out, "Added GitHub:alice@example.com (TOTP)") {
		t.Fatalf("add said %q", out)
	}
	code := strings.TrimSpace(c.must("", "assent", "code", "github"))
	p := crypto.OTPParams{Secret: []byte("Hello!\xde\xad\xbe\xef"), Algorithm: "SHA1", Digits: 6, Period: 30}
	want1, _ := crypto.TOTP(p, before)
	want2, _ := crypto.TOTP(p, time.Now())
	if code != want1 && code != want2 {
		t.Fatalf("code for the GitHub account = %q, want %q or %q", code, want1, want2)
	}
	if _, err := c.run("", "assent", "code"); err == nil || !strings.Contains(err.Error(), "say which") {
		t.Fatalf("code with two accounts and no name: %v", err)
	}

	// Sign in; approve from the command line.
	ctx := context.Background()
	tx, number := cliPush(t, sdk.New(c.url), "alice")
	id, numbers := onePending(t, c)
	if !strings.Contains(numbers, strconv.Itoa(number)) {
		t.Fatalf("challenges lists %s, the page shows %d", numbers, number)
	}
	if out := c.must("", "assent", "approve", id, strconv.Itoa(number)); strings.TrimSpace(out) != "approved" {
		t.Fatalf("approve said %q", out)
	}
	if r, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{}); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("sign-in after approve = %+v, %v", r, err)
	}

	// Report the next one.
	tx, _ = cliPush(t, sdk.New(c.url), "alice")
	id, _ = onePending(t, c)
	if out := c.must("", "assent", "deny", id, "--report"); strings.TrimSpace(out) != "reported" {
		t.Fatalf("deny --report said %q", out)
	}
	if _, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{}); sdk.Code(err) != "push_reported" {
		t.Fatalf("poll after report: %v", err)
	}
	if _, err := c.run("", "assent", "approve", id, "12"); err == nil || !strings.Contains(err.Error(), "no longer waiting") {
		t.Fatalf("approving an answered challenge: %v", err)
	}

	// Listen, and answer at the prompt. The report made the account high
	// risk, so the next push asks the device to verify its user: that is
	// what the app lock is for.
	if out := c.must("2468\n", "assent", "lock", "set"); !strings.Contains(out, "app lock set") {
		t.Fatalf("lock set said %q", out)
	}
	listen := exec.Command(filepath.Join(c.bin, "assent"), "listen")
	listen.Env = c.env
	stdin, _ := listen.StdinPipe()
	stdout, _ := listen.StdoutPipe()
	listen.Stderr = os.Stderr
	if err := listen.Start(); err != nil {
		t.Fatal(err)
	}
	defer listen.Process.Kill()
	lr := bufio.NewReader(stdout)
	readUntil(t, lr, "connected")
	tx, number = cliPush(t, sdk.New(c.url), "alice")
	readUntil(t, lr, "Pick the number")
	fmt.Fprintf(stdin, "%d\n2468\n", number)
	readUntil(t, lr, "Answered: the server recorded approved")
	if r, err := tx.Do(ctx, sdk.RemChallengePoll, sdk.Request{}); err != nil || r.Status != sdk.StatusSuccess {
		t.Fatalf("sign-in through listen = %+v, %v", r, err)
	}
	listen.Process.Signal(syscall.SIGTERM)
	listen.Wait()

	// Removing the account revokes the device on the server.
	c.must("", "assent", "remove", "Assent:alice")
	if out := c.must("", "assent", "accounts", "--json"); strings.Contains(out, `"Kind":"assent"`) || !strings.Contains(out, "GitHub") {
		t.Fatalf("accounts after removing the Assent one = %s", out)
	}
	tx2, _ := sdk.New(c.url).Interact(ctx, "cli-test")
	tx2.Do(ctx, sdk.RemIdentify, sdk.Request{Login: "alice"})
	r, err := tx2.Do(ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"})
	if err != nil || !r.Has(sdk.RemEnrollAuth) || r.Has(sdk.RemSelectAuth) {
		t.Fatalf("sign-in after the only device was removed = %+v, %v; want to enroll a new device", r, err)
	}

	// assentd stops cleanly on SIGTERM.
	srv.Process.Signal(syscall.SIGTERM)
	if err := srv.Wait(); err != nil {
		t.Fatalf("assentd exit: %v\n%s", err, srvLog)
	}
	if strings.Contains(srvLog.String(), "correct horse battery") {
		t.Fatal("the server log contains a password")
	}
}

func waitUp(t *testing.T, url string) { testbin.WaitServing(t, url, nil) }

func sdkSignIn(t *testing.T, c *sdk.Client, login string) *sdk.Transaction {
	t.Helper()
	ctx := context.Background()
	tx, err := c.Interact(ctx, "cli-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Do(ctx, sdk.RemIdentify, sdk.Request{Login: login}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Do(ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	return tx
}

func cliPush(t *testing.T, c *sdk.Client, login string) (*sdk.Transaction, int) {
	t.Helper()
	tx := sdkSignIn(t, c, login)
	r, err := tx.Do(context.Background(), sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		t.Fatal(err)
	}
	return tx, r.Number
}

// onePending runs `assent challenges --json` and expects one prompt.
func onePending(t *testing.T, c *cliEnv) (id, numbers string) {
	t.Helper()
	var ps []struct {
		ID      string
		Numbers []int
	}
	if err := json.Unmarshal([]byte(c.must("", "assent", "challenges", "--json")), &ps); err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("want 1 pending challenge, got %d", len(ps))
	}
	return ps[0].ID, fmt.Sprint(ps[0].Numbers)
}

func readUntil(t *testing.T, r *bufio.Reader, want string) {
	t.Helper()
	done := make(chan error, 1)
	var seen strings.Builder
	go func() {
		buf := make([]byte, 1)
		for {
			if _, err := io.ReadFull(r, buf); err != nil {
				done <- err
				return
			}
			seen.Write(buf)
			if strings.Contains(seen.String(), want) {
				done <- nil
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("output ended before %q: %v\n%s", want, err, seen.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no %q within 20s", want)
	}
}

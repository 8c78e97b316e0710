package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/jezek/xgb"
	"github.com/jezek/xgb/xproto"

	"github.com/seed-3a5b824e/assent/internal/testbin"
	"github.com/seed-3a5b824e/assent/internal/xvfb"
	"github.com/seed-3a5b824e/assent/sdk"
)

// The tests here run the real binaries: assent as users get it (built
// without the test build's tags, so with its window and the display
// check), and assentd.
func binDir(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real binaries")
	}
	return testbin.Build(t, ".", "../assentd")
}

// baseEnv is the environment without what these tests set themselves.
func baseEnv(drop ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "DISPLAY", name == "WAYLAND_DISPLAY", strings.HasPrefix(name, "ASSENT_"), name == "LANG", name == "LANGUAGE", strings.HasPrefix(name, "LC_"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

type result struct {
	stdout, stderr string
	code           int
}

// runBin runs a binary to its end.
func runBin(t *testing.T, env []string, stdin string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir(t), name), args...)
	cmd.Env = env
	var r result
	r.stdout, r.stderr, r.code = testbin.Run(t, cmd, stdin)
	return r
}

func TestNoDisplaySaysOneLineInsteadOfATrace(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no DISPLAY", baseEnv(), nil, "no display (DISPLAY is not set)"},
		{"no DISPLAY, global flags only", baseEnv(), []string{"--home", home, "--keystore", "file"}, "no display"},
		{"no DISPLAY, app flags", baseEnv(), []string{"--hidden"}, "no display"},
		{"a DISPLAY nobody serves", append(baseEnv(), "DISPLAY=:97"), []string{"app"}, "cannot open DISPLAY=:97"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runBin(t, append(tc.env, "LANG=C.UTF-8", "ASSENT_PASSPHRASE=long enough"), "", "assent", tc.args...)
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if r.code != 1 || len(lines) != 1 || !strings.Contains(r.stderr, tc.want) ||
				!strings.Contains(r.stderr, "— use `assent listen` or another subcommand") || strings.Contains(r.stderr, "panic") {
				t.Fatalf("exit %d, stderr (%d lines):\n%s", r.code, len(lines), r.stderr)
			}
		})
	}
	if _, err := os.Stat(home); err == nil {
		t.Error("the app made a home although it could not open")
	}
}

func TestNoLocaleNoiseFromAnyCommand(t *testing.T) {
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	for _, locale := range []string{"LANG=C.UTF-8", "LC_ALL=C.UTF-8", "LANG=C", "LANG=POSIX", "LANG=C.utf8"} {
		env := append(baseEnv(), locale, "ASSENT_PASSPHRASE=long enough", "ASSENT_KEYSTORE=file")
		for _, args := range [][]string{
			{"help"},
			{"enroll", "--help"},
			{"add", "otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXP&issuer=GitHub", "--home", home},
			{"accounts", "--home", home},
			{"accounts", "--home", filepath.Join(dir, "missing")},
			{"code", "--home", home},
			{"settings", "--home", home},
			{}, // the app, which cannot open here
		} {
			r := runBin(t, env, "", "assent", args...)
			if strings.Contains(r.stderr+r.stdout, "user locale") || strings.Contains(r.stderr, "Fyne error") || strings.Contains(r.stderr, "language: tag") {
				t.Errorf("%s assent %s: locale noise:\n%s%s", locale, strings.Join(args, " "), r.stdout, r.stderr)
			}
		}
	}
	// The fix does not mask a real language: LANGUAGE stays as given.
	r := runBin(t, append(baseEnv(), "LANG=C.UTF-8", "LANGUAGE=de"), "", "assent", "help")
	if r.code != 0 || r.stderr != "" {
		t.Errorf("LANGUAGE=de: %d %s", r.code, r.stderr)
	}
}

func TestGlobalFlagsWorkBeforeAndAfterTheSubcommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("ASSENT_PASSPHRASE", "cli test")
	t.Setenv("ASSENT_KEYSTORE", "")
	run1 := func(args ...string) (string, string, int) {
		var out, errOut strings.Builder
		code := mainCode(context.Background(), args, strings.NewReader(""), &out, &errOut)
		return out.String(), errOut.String(), code
	}
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	for _, args := range [][]string{
		{"--home", a, "--keystore", "file", "add", "otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXP&issuer=GitHub"},
		{"--home=" + b, "add", "--keystore=file", "otpauth://totp/Google:bob?secret=JBSWY3DPEHPK3PXP&issuer=Google"},
		{"-v", "add", "otpauth://totp/GitLab:carol?secret=JBSWY3DPEHPK3PXP&issuer=GitLab", "--home", a},
	} {
		if out, errOut, code := run1(args...); code != 0 || !strings.Contains(out, "Added") {
			t.Fatalf("assent %s: %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	out, _, _ := run1("--home", a, "accounts")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "carol") || strings.Contains(out, "bob") {
		t.Fatalf("accounts of a:\n%s", out)
	}
	out, _, _ = run1("accounts", "--home", b)
	if !strings.Contains(out, "bob") || strings.Contains(out, "alice") {
		t.Fatalf("accounts of b:\n%s", out)
	}
	// A flag after the subcommand beats the same one before it.
	out, _, _ = run1("--home", a, "accounts", "--home", b)
	if !strings.Contains(out, "bob") {
		t.Fatalf("--home after the subcommand did not win:\n%s", out)
	}
	// A global flag without its value says so.
	if _, errOut, code := run1("--home"); code != 1 || !strings.Contains(errOut, "--home needs a value") {
		t.Fatalf("--home alone: %d %s", code, errOut)
	}
	// -v shows an error's details, without it a hint.
	_, errOut, code := run1("code", "nobody", "--home", a)
	if code != 1 || strings.Contains(errOut, "details:") {
		t.Fatalf("code nobody: %d %s", code, errOut)
	}
}

func TestHelpOfEachSubcommand(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		want     []string
		dontWant []string
	}{
		{[]string{"enroll", "--help"}, []string{"assent enroll LINK|QR.png", "--home DIR", "--keystore KIND"}, []string{"--json", "--report", "assent accounts"}},
		{[]string{"help", "deny"}, []string{"assent deny CHALLENGE [--report]", "--report"}, []string{"--json"}},
		{[]string{"lock", "-h"}, []string{"assent lock set", "assent lock clear", "assent lock status", "--passphrase"}, []string{"assent settings"}},
		{[]string{"settings", "--help"}, []string{"--auto-lock DURATION", "--close-to-tray TRUE|FALSE"}, nil},
		{[]string{"--help"}, []string{"assent listen", "assent enroll", "Flags for every subcommand"}, nil},
	} {
		var out, errOut strings.Builder
		code := mainCode(context.Background(), tc.args, strings.NewReader(""), &out, &errOut)
		if code != 0 || errOut.Len() != 0 {
			t.Errorf("assent %s: exit %d, stderr %q", strings.Join(tc.args, " "), code, errOut.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("assent %s lacks %q:\n%s", strings.Join(tc.args, " "), w, out.String())
			}
		}
		for _, w := range tc.dontWant {
			if strings.Contains(out.String(), w) {
				t.Errorf("assent %s has %q:\n%s", strings.Join(tc.args, " "), w, out.String())
			}
		}
	}
	var out, errOut strings.Builder
	if code := mainCode(context.Background(), []string{"enroll", "--frob"}, strings.NewReader(""), &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "assent enroll --help") {
		t.Errorf("an unknown flag: %d %q", code, errOut.String())
	}
}

func TestPipedSecretsAreReadLineByLine(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	if out, err := runCLI(t, home, "1234\n1234\n", "lock", "set"); err != nil || !strings.Contains(out, "app lock set (pin)") {
		t.Fatalf("lock set from a pipe: %v %s", err, out)
	}
	// Current, new, new again.
	if out, err := runCLI(t, home, "1234\n567890\n567890\n", "lock", "set"); err != nil || !strings.Contains(out, "app lock set") {
		t.Fatalf("lock change from a pipe: %v %s", err, out)
	}
	if _, err := runCLI(t, home, "1234\n", "lock", "clear"); err == nil {
		t.Fatal("the old PIN cleared the lock")
	}
	// A second line that differs is refused, and the lock stays.
	if _, err := runCLI(t, home, "567890\n1111\n2222\n", "lock", "set"); err == nil || !strings.Contains(err.Error(), "differ") {
		t.Fatalf("differing entries: %v", err)
	}
	// A PIN that is not one says what one is.
	if _, err := runCLI(t, home, "567890\n12\n12\n", "lock", "set"); err == nil || !strings.Contains(err.Error(), "4 to 16 digits") {
		t.Fatalf("a short PIN: %v", err)
	}
	if out, err := runCLI(t, home, "567890\n", "lock", "clear"); err != nil || !strings.Contains(out, "app lock removed") {
		t.Fatalf("clear with the new PIN: %v %s", err, out)
	}
	// One line alone still sets a lock (scripts that pipe it once).
	if out, err := runCLI(t, home, "2468\n", "lock", "set", "--passphrase"); err == nil || !strings.Contains(err.Error(), "8 characters") {
		t.Fatalf("a short passphrase: %v %s", err, out)
	}
	if out, err := runCLI(t, home, "2468\n", "lock", "set"); err != nil || !strings.Contains(out, "app lock set") {
		t.Fatalf("one line: %v %s", err, out)
	}
}

func TestReadOnlyCommandsDoNotMakeAHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "nothing-here")
	for _, args := range [][]string{
		{"accounts"}, {"accounts", "--json"}, {"code"}, {"challenges"}, {"lock", "status"}, {"lock", "clear"},
		{"listen"}, {"remove", "x"}, {"rename", "x", "y"}, {"move", "x", "1"}, {"deny", "chl_x"}, {"approve", "chl_x", "12"},
	} {
		_, err := runCLI(t, home, "", args...)
		if err == nil || !strings.Contains(err.Error(), "there is no Assent home at "+home) {
			t.Errorf("assent %s on a missing home: %v", strings.Join(args, " "), err)
		}
	}
	out, err := runCLI(t, home, "", "settings")
	if err != nil || !strings.Contains(out, "auto-lock:        5m0s") {
		t.Errorf("settings on a missing home: %v %s", err, out)
	}
	if _, err := os.Stat(home); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a read-only command made the home: %v", err)
	}
	// Commands that add something make it.
	if _, err := runCLI(t, home, "", "settings", "--auto-lock", "10m"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(home); err != nil {
		t.Fatalf("settings --auto-lock made no home: %v", err)
	}
}

// ptyProcess is a real assent with a terminal for its stdin, stdout and
// stderr.
type ptyProcess struct {
	cmd *exec.Cmd
	tty *os.File
	out *lineWatcher
}

func startPTY(t *testing.T, env []string, args ...string) *ptyProcess {
	t.Helper()
	cmd := exec.Command(filepath.Join(binDir(t), "assent"), args...)
	cmd.Env = env
	f, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	p := &ptyProcess{cmd: cmd, tty: f, out: watch(f)}
	t.Cleanup(func() {
		stopBySIGTERM(t, cmd, "assent")
		f.Close()
	})
	return p
}

// stopBySIGTERM sends a started process SIGTERM and waits for it; one
// still running ten seconds later is killed, and the test fails.
func stopBySIGTERM(t *testing.T, cmd *exec.Cmd, name string) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Errorf("%s did not stop on SIGTERM", name)
	}
}

// typeLine types a line at the terminal.
func (p *ptyProcess) typeLine(t *testing.T, s string) {
	t.Helper()
	if _, err := io.WriteString(p.tty, s+"\r"); err != nil {
		t.Fatal(err)
	}
}

func TestNewFileStoreAsksThePassphraseTwiceAndRefusesAShortOne(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	env := append(baseEnv(), "LANG=C.UTF-8")
	p := startPTY(t, env, "--home", home, "--keystore", "file", "add", "otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXP&issuer=GitHub")
	p.out.waitFor(t, "at least 8 characters")
	p.out.waitFor(t, "New passphrase: ")
	p.typeLine(t, "short")
	p.out.waitFor(t, "That passphrase has 5 characters; it needs at least 8.")
	// Typed once the prompt shows (echo goes off before it does).
	p.out.waitCount(t, "New passphrase: ", 2)
	p.typeLine(t, "first try, long")
	p.out.waitFor(t, "Again: ")
	p.typeLine(t, "second try, long")
	p.out.waitFor(t, "The two entries differ")
	p.out.waitCount(t, "New passphrase: ", 3)
	p.typeLine(t, "the passphrase")
	p.out.waitCount(t, "Again: ", 2)
	p.typeLine(t, "the passphrase")
	p.out.waitFor(t, "Added GitHub:alice (TOTP).")
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("add: %v\n%s", err, p.out)
	}
	for _, secret := range []string{"short", "first try", "second try", "the passphrase"} {
		if strings.Contains(p.out.String(), secret) {
			t.Fatalf("the terminal echoed %q:\n%s", secret, p.out)
		}
	}
	// The store opens with the passphrase typed twice, and only with it.
	if r := runBin(t, append(env, "ASSENT_PASSPHRASE=the passphrase"), "", "assent", "accounts", "--home", home); r.code != 0 || !strings.Contains(r.stdout, "alice") {
		t.Fatalf("accounts with the passphrase: %+v", r)
	}
	if r := runBin(t, append(env, "ASSENT_PASSPHRASE=first try, long"), "", "assent", "accounts", "--home", home); r.code == 0 {
		t.Fatalf("accounts with a refused passphrase: %+v", r)
	}
	// An existing store asks once.
	p = startPTY(t, env, "accounts", "--home", home)
	p.out.waitFor(t, "Passphrase of the Assent key store: ")
	p.typeLine(t, "the passphrase")
	p.out.waitFor(t, "alice")
	if strings.Contains(p.out.String(), "Again") || strings.Contains(p.out.String(), "the passphrase") {
		t.Fatalf("an existing store:\n%s", p.out)
	}
}

// demoServer is a real assentd on a free port whose policy asks user
// verification of every push, with the user alice and the app cli-test.
type demoServer struct {
	url, data string
	env       []string
}

func startServer(t *testing.T, policy string) *demoServer {
	t.Helper()
	dir := t.TempDir()
	listen := testbin.FreeAddr(t)
	s := &demoServer{url: "http://" + listen, data: filepath.Join(dir, "data")}
	s.env = append(baseEnv(), "LANG=C.UTF-8", "ASSENT_OPS_LISTEN=off", "ASSENT_DATA="+s.data, "ASSENT_LISTEN="+listen)
	if policy != "" {
		file := filepath.Join(dir, "policy.yaml")
		if err := os.WriteFile(file, []byte(policy), 0o600); err != nil {
			t.Fatal(err)
		}
		s.env = append(s.env, "ASSENT_POLICY="+file)
	}
	srv := exec.Command(filepath.Join(binDir(t), "assentd"), "serve")
	srv.Env = s.env
	testbin.Serve(t, srv, s.url)
	for _, c := range []struct {
		stdin string
		args  []string
	}{
		{"", []string{"app", "add", "cli-test", "--type", "embedded"}},
		{"correct horse battery\n", []string{"user", "add", "alice"}},
	} {
		if r := runBin(t, s.env, c.stdin, "assentd", c.args...); r.code != 0 {
			t.Fatalf("assentd %s: %+v", strings.Join(c.args, " "), r)
		}
	}
	return s
}

// enroll enrolls alice into home (the file store, passphrase "cli test")
// and returns the environment that reaches it.
func (s *demoServer) enroll(t *testing.T, home string) []string {
	t.Helper()
	r := runBin(t, s.env, "", "assentd", "enroll", "alice")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	link := lines[len(lines)-1]
	env := append(baseEnv(), "LANG=C.UTF-8", "ASSENT_HOME="+home, "ASSENT_KEYSTORE=file", "ASSENT_PASSPHRASE=cli test")
	if r := runBin(t, env, "", "assent", "enroll", link); r.code != 0 {
		t.Fatalf("enroll: %+v", r)
	}
	return env
}

// push starts a sign-in of alice and chooses a push: the transaction and
// the number the page shows.
func (s *demoServer) push(t *testing.T) (*sdk.Transaction, int) {
	t.Helper()
	ctx := context.Background()
	tx, err := sdk.New(s.url).Interact(ctx, "cli-test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Do(ctx, sdk.RemIdentify, sdk.Request{Login: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Do(ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "correct horse battery"}); err != nil {
		t.Fatal(err)
	}
	r, err := tx.Do(ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
	if err != nil {
		t.Fatal(err)
	}
	return tx, r.Number
}

// signInOutcome polls the sign-in once: its status, or the error code.
func signInOutcome(t *testing.T, tx *sdk.Transaction) string {
	t.Helper()
	r, err := tx.Do(context.Background(), sdk.RemChallengePoll, sdk.Request{})
	if err != nil {
		return sdk.Code(err)
	}
	return r.Status
}

// uvRequired is a policy asking user verification (the app lock) of every
// push, as the default one does after "this wasn't me".
const uvRequired = `signOn:
  - name: Everything is high risk
    action:
      factors: 2
      userVerification: required
      numberChallenge: always
      reauthenticate: 0s
recovery:
  authenticators: [push]
`

func TestListenOffersAnAppLockForAHighRiskPushAndApproves(t *testing.T) {
	s := startServer(t, uvRequired)
	home := filepath.Join(t.TempDir(), "home")
	env := s.enroll(t, home)
	p := startPTY(t, env, "listen", "--no-same-device")
	p.out.waitFor(t, "connected")

	tx, number := s.push(t)
	p.out.waitFor(t, "Pick the number shown on the sign-in page")
	p.typeLine(t, fmt.Sprint(number))
	p.out.waitFor(t, "This request needs an app lock to confirm it's you, and none is set on this device.")
	p.out.waitFor(t, "Set a PIN now and approve? [Y/n]")
	p.typeLine(t, "")
	p.out.waitFor(t, "New PIN (4 to 16 digits")
	p.typeLine(t, "12")
	p.out.waitFor(t, "A PIN has 4 to 16 digits. Try again.")
	p.out.waitCount(t, "New PIN (", 2)
	p.typeLine(t, "730519")
	p.out.waitFor(t, "The same PIN again: ")
	p.typeLine(t, "730519")
	p.out.waitFor(t, "App lock set: a PIN.")
	p.out.waitFor(t, "Answered: the server recorded approved")
	if got := signInOutcome(t, tx); got != sdk.StatusSuccess {
		t.Fatalf("the sign-in after the lock was set: %s", got)
	}

	// The next high-risk push asks for the lock just set, without echo;
	// a wrong one asks again, and the prompt stays open.
	tx, number = s.push(t)
	p.out.waitFor(t, "resolved")
	p.typeLine(t, fmt.Sprint(number))
	p.out.waitFor(t, "This request asks you to verify it's you. App lock: ")
	p.typeLine(t, "999999")
	p.out.waitFor(t, "Wrong PIN or passphrase")
	p.out.waitCount(t, "Pick the number shown on the sign-in page", 3)
	p.typeLine(t, fmt.Sprint(number))
	p.out.waitCount(t, "App lock: ", 2)
	p.typeLine(t, "730519")
	p.out.waitCount(t, "Answered: the server recorded approved", 2)
	if got := signInOutcome(t, tx); got != sdk.StatusSuccess {
		t.Fatalf("the second sign-in: %s", got)
	}
	for _, pin := range []string{"730519", "999999"} {
		if strings.Contains(p.out.String(), pin) {
			t.Fatalf("the terminal shows the PIN %s:\n%s", pin, p.out)
		}
	}
	// The lock is the app's lock now.
	if r := runBin(t, env, "", "assent", "lock", "status"); !strings.Contains(r.stdout, "locked with a pin") {
		t.Fatalf("lock status: %+v", r)
	}
}

func TestListenWithoutATerminalExplainsTheMissingLockAndKeepsListening(t *testing.T) {
	s := startServer(t, uvRequired)
	home := filepath.Join(t.TempDir(), "home")
	env := s.enroll(t, home)
	cmd := exec.Command(filepath.Join(binDir(t), "assent"), "listen", "--no-same-device")
	cmd.Env = env
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); pw.Close() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	out := watch(pr)
	out.waitFor(t, "connected")

	tx, number := s.push(t)
	out.waitFor(t, "Pick the number")
	fmt.Fprintf(stdin, "%d\n", number)
	out.waitFor(t, "This request needs an app lock (a PIN or passphrase) to confirm it's you, and none is set on this device. Set one with 'assent lock set'")
	select {
	case err := <-exited:
		t.Fatalf("listen ended (%v):\n%s", err, out)
	case <-time.After(200 * time.Millisecond):
	}
	// assent approve, without a terminal, says the same and answers
	// nothing.
	id := regexp.MustCompile(`id:\s+(chl_\S+)`).FindStringSubmatch(out.String())
	if id == nil {
		t.Fatalf("no prompt id in:\n%s", out)
	}
	if r := runBin(t, env, "", "assent", "approve", id[1], fmt.Sprint(number)); r.code != 1 ||
		!strings.Contains(r.stderr, "needs an app lock") || !strings.Contains(r.stderr, "assent lock set") {
		t.Fatalf("approve without a lock or a terminal: %+v", r)
	}
	// Still listening: the same prompt takes another answer.
	io.WriteString(stdin, "d\n")
	out.waitFor(t, "Answered: the server recorded denied")
	if got := signInOutcome(t, tx); got != "push_denied" {
		t.Fatalf("the sign-in after deny: %s", got)
	}
	// And the next push comes too.
	_, _ = s.push(t)
	out.waitCount(t, "Pick the number", 3)
}

func TestErrorsSayWhatHappenedAndDetailsComeWithV(t *testing.T) {
	s := startServer(t, "")
	home := filepath.Join(t.TempDir(), "home")
	env := s.enroll(t, home)
	// A used enrollment link, as a person meets it.
	r := runBin(t, s.env, "", "assentd", "enroll", "alice")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	link := lines[len(lines)-1]
	other := append(baseEnv(), "LANG=C.UTF-8", "ASSENT_HOME="+filepath.Join(t.TempDir(), "other"), "ASSENT_KEYSTORE=file", "ASSENT_PASSPHRASE=cli test")
	if r := runBin(t, other, "", "assent", "enroll", link); r.code != 0 {
		t.Fatal(r)
	}
	r = runBin(t, other, "", "assent", "enroll", link)
	if r.code != 1 || strings.Contains(r.stderr, "HTTP") || strings.Contains(r.stderr, "token_used") || !strings.Contains(r.stderr, "add -v") {
		t.Fatalf("a used link: %+v", r)
	}
	r = runBin(t, other, "", "assent", "-v", "enroll", link)
	if r.code != 1 || !strings.Contains(r.stderr, "details:") {
		t.Fatalf("a used link with -v: %+v", r)
	}
	// A server that is not there.
	bad := regexp.MustCompile(`server=[^&]+`).ReplaceAllString(link, "server=http://127.0.0.1:1")
	r = runBin(t, env, "", "assent", "enroll", bad)
	if r.code != 1 || strings.Contains(r.stderr, "dial tcp") || strings.Contains(r.stderr, "connection refused") {
		t.Fatalf("an unreachable server: %+v", r)
	}
	if r := runBin(t, env, "", "assent", "-v", "enroll", bad); !strings.Contains(r.stderr, "details:") {
		t.Fatalf("-v shows no details: %+v", r)
	}
}

// waitCount waits until the output holds s n times.
func (w *lineWatcher) waitCount(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(w.String(), s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %q %d times; the output is:\n%s", s, n, w)
		}
		select {
		case <-w.more:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startXvfb starts a virtual display for the test, or skips it when Xvfb
// is not installed (make deps installs it).
func startXvfb(t *testing.T) string {
	t.Helper()
	xgb.Logger.SetOutput(io.Discard)
	return xvfb.Start(t, "800x600x24")
}

// waitForWindow waits until a top-level window named title shows.
func waitForWindow(t *testing.T, display, title string) {
	t.Helper()
	xgb.Logger.SetOutput(io.Discard)
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	root := xproto.Setup(conn).DefaultScreen(conn).Root
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		tree, err := xproto.QueryTree(conn, root).Reply()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range tree.Children {
			p, err := xproto.GetProperty(conn, false, w, xproto.AtomWmName, xproto.GetPropertyTypeAny, 0, 64).Reply()
			if err == nil && string(p.Value) == title {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no window %q on %s", title, display)
}

func TestTheAppQuitsOnASignalFromFynesOwnGoroutine(t *testing.T) {
	bin := binDir(t)
	display := startXvfb(t)
	home := filepath.Join(t.TempDir(), "home")
	env := append(baseEnv(), "LANG=C.UTF-8", "ASSENT_PASSPHRASE=long enough", "ASSENT_KEYSTORE=file", "TMPDIR="+t.TempDir())
	if r := runBin(t, env, "", "assent", "add", "otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXP&issuer=GitHub", "--home", home); r.code != 0 {
		t.Fatal(r)
	}
	for _, sig := range []os.Signal{syscall.SIGTERM, os.Interrupt} {
		cmd := exec.Command(filepath.Join(bin, "assent"), "--home", home)
		cmd.Env = append(env, "DISPLAY="+display)
		var errOut strings.Builder
		cmd.Stderr = &errOut
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitForWindow(t, display, "Assent")
		cmd.Process.Signal(sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%v: the app exited with %v", sig, err)
			}
		case <-time.After(30 * time.Second):
			// SIGQUIT has the Go runtime print every goroutine's stack
			// to stderr: where the app was stuck.
			cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			t.Fatalf("%v: the app did not quit:\n%s", sig, errOut.String())
		}
		for _, bad := range []string{"Error in Fyne call thread", "user locale", "XGB", "panic"} {
			if strings.Contains(errOut.String(), bad) {
				t.Errorf("%v: the app said %q:\n%s", sig, bad, errOut.String())
			}
		}
	}
}

// makeN is what make would run for target, from the top of the repository.
func makeN(t *testing.T, env []string, target string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	cmd := exec.Command("make", "-n", "--no-print-directory", "-C", "../..", target)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n %s: %v\n%s", target, err, out)
	}
	return string(out)
}

func TestTheMakefileOnAFreshMachine(t *testing.T) {
	env := baseEnv()
	// make run installs the build's packages before it builds.
	run := makeN(t, env, "run")
	install, build := strings.Index(run, "gcc libc6-dev libgl1-mesa-dev xorg-dev libxkbcommon-dev"), strings.Index(run, "build -o bin/")
	if install < 0 || build < 0 || install > build || !strings.Contains(run, "scripts/run.sh") {
		t.Fatalf("make run does not install the build's packages first:\n%s", run)
	}
	// make signin goes where make run's server listens.
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, `http://localhost:${listen##*:}`},
	} {
		out := makeN(t, append(env, tc.env...), "signin")
		if !strings.Contains(out, tc.want) || !strings.Contains(out, "ASSENT_LISTEN") {
			t.Fatalf("make signin:\n%s", out)
		}
	}
	sh := exec.Command("sh", "-c", strings.ReplaceAll(makeN(t, env, "signin"), "go run ./examples/signin", "echo"))
	sh.Env = append(env, "ASSENT_LISTEN=127.0.0.1:9123")
	if out, err := sh.CombinedOutput(); err != nil || !strings.Contains(string(out), "--server http://localhost:9123") {
		t.Fatalf("make signin with ASSENT_LISTEN=127.0.0.1:9123: %v %s", err, out)
	}
	// make bench gets the test databases as make test does.
	if out := makeN(t, env, "bench"); !strings.Contains(out, "ASSENT_TEST_POSTGRES=") || !strings.Contains(out, "ASSENT_TEST_NATS=") {
		t.Fatalf("make bench:\n%s", out)
	}
	// The package's closing hint names the folder the archive unpacks to.
	if out := makeN(t, env, "package"); !strings.Contains(out, "assent/usr/local/bin/assent") {
		t.Fatalf("make package:\n%s", out)
	}
}

func TestGitIgnoresBuildOutputsAndNoTrackedFile(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	if err := exec.Command("git", "-C", "../..", "rev-parse", "--git-dir").Run(); err != nil {
		t.Skip("not a git checkout")
	}
	out, err := exec.Command("git", "-C", "../..", "ls-files", "-ci", "--exclude-standard").Output()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("tracked files .gitignore covers: %v\n%s", err, out)
	}
	for _, p := range []string{"bin/assent", "bin/assentd", "dist/Assent.tar.xz", "dist/tmp-pkg/assent/Makefile", "cmd/assent/assent", "assent", "assentd", "data/assent.db", "fyne-cross/dist/x", "cmd/assent/assent.test", "cover.out", "perf-results/x.txt"} {
		if err := exec.Command("git", "-C", "../..", "check-ignore", "-q", "--no-index", p).Run(); err != nil {
			t.Errorf("%s is not ignored", p)
		}
	}
	for _, p := range []string{"cmd/assent/main.go", "docs/perf-2026-11-27/x", "scripts/run.sh", "Makefile"} {
		if err := exec.Command("git", "-C", "../..", "check-ignore", "-q", "--no-index", p).Run(); err == nil {
			t.Errorf("%s is ignored", p)
		}
	}
}

func TestApproveInATerminalOffersAnAppLockToo(t *testing.T) {
	s := startServer(t, uvRequired)
	home := filepath.Join(t.TempDir(), "home")
	env := s.enroll(t, home)
	tx, number := s.push(t)
	r := runBin(t, env, "", "assent", "challenges", "--json")
	id := regexp.MustCompile(`"id":"(chl_[^"]+)"`).FindStringSubmatch(r.stdout)
	if id == nil {
		t.Fatalf("challenges: %+v", r)
	}
	p := startPTY(t, env, "approve", id[1], fmt.Sprint(number))
	p.out.waitFor(t, "Set a PIN now and approve? [Y/n]")
	p.typeLine(t, "y")
	p.out.waitFor(t, "New PIN (")
	p.typeLine(t, "4826")
	p.out.waitFor(t, "The same PIN again: ")
	p.typeLine(t, "4826")
	p.out.waitFor(t, "approved")
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("approve: %v\n%s", err, p.out)
	}
	if strings.Contains(p.out.String(), "4826") {
		t.Fatalf("the PIN was echoed:\n%s", p.out)
	}
	if got := signInOutcome(t, tx); got != sdk.StatusSuccess {
		t.Fatalf("the sign-in: %s", got)
	}
}

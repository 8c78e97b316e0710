package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/internal/testidp"
	"github.com/seed-3a5b824e/assent/push"
)

// TestMain lets a test run the assent command as a real process: the test
// binary itself, with ASSENT_TEST_MAIN set, is assent.
func TestMain(m *testing.M) {
	if os.Getenv("ASSENT_TEST_MAIN") == "1" {
		os.Args = append([]string{"assent"}, strings.Fields(os.Getenv("ASSENT_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runCLI runs the assent command on a fresh file-store home.
func runCLI(t *testing.T, home, stdin string, args ...string) (string, error) {
	t.Helper()
	t.Setenv("ASSENT_PASSPHRASE", "cli test")
	t.Setenv("ASSENT_KEYSTORE", "file")
	var out, errOut strings.Builder
	s := &session{con: newConsole(strings.NewReader(stdin), &errOut), stdout: &out, stderr: &errOut}
	err := run(context.Background(), s, append(args, "--home", home))
	return out.String(), err
}

func googleExportFile(t *testing.T) string {
	t.Helper()
	uri, err := enroll.EncodeMigration([]*enroll.OTPAuth{
		{Type: "totp", Issuer: "GitHub", Account: "alice", Secret: []byte("0123456789abcdef"), Algorithm: "SHA1", Digits: 6, Period: 30},
		{Type: "totp", Issuer: "Google", Account: "bob", Secret: []byte("fedcba9876543210"), Algorithm: "SHA1", Digits: 6, Period: 30},
	})
	if err != nil {
		t.Fatal(err)
	}
	png, err := enroll.EncodePNG(uri, 400)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "export.png")
	if err := os.WriteFile(path, png, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestImportShowsWhatWillBeImportedAndAsksFirst(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	export := googleExportFile(t)
	out, err := runCLI(t, home, "n\n", "import", export)
	if err == nil || !strings.Contains(out, "+ GitHub:alice (TOTP)") || !strings.Contains(out, "+ Google:bob (TOTP)") || !strings.Contains(out, "Import 2 account(s)? [y/N]") {
		t.Fatalf("declined import: %v\n%s", err, out)
	}
	if out, _ := runCLI(t, home, "", "accounts"); !strings.Contains(out, "No accounts yet") {
		t.Fatalf("a declined import added accounts:\n%s", out)
	}
	out, err = runCLI(t, home, "y\n", "import", export)
	if err != nil || !strings.Contains(out, "Imported 2 account(s).") {
		t.Fatalf("accepted import: %v\n%s", err, out)
	}
	// Again, with --yes: nothing new.
	out, err = runCLI(t, home, "", "import", export, "--yes")
	if err != nil || !strings.Contains(out, "GitHub:alice: already in Assent") || !strings.Contains(out, "nothing new to import") {
		t.Fatalf("second import: %v\n%s", err, out)
	}
}

func TestSettingsShowsAndChangesTheAppsSettings(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	out, err := runCLI(t, home, "", "settings")
	if err != nil || !strings.Contains(out, "auto-lock:        5m0s") || !strings.Contains(out, "close-to-tray:    true") || !strings.Contains(out, "app lock:         none") {
		t.Fatalf("defaults: %v\n%s", err, out)
	}
	out, err = runCLI(t, home, "", "settings", "--auto-lock", "0", "--start-hidden=true", "--close-to-tray", "false")
	if err != nil || !strings.Contains(out, "auto-lock:        never") || !strings.Contains(out, "start-hidden:     true") || !strings.Contains(out, "close-to-tray:    false") {
		t.Fatalf("after changes: %v\n%s", err, out)
	}
	if _, err := runCLI(t, home, "", "settings", "--auto-lock", "2s"); err == nil {
		t.Fatal("a two-second auto-lock was accepted")
	}
	if out, _ := runCLI(t, home, "", "lock", "status"); !strings.Contains(out, "no app lock") {
		t.Fatalf("lock status: %s", out)
	}
}

func TestRenameAndMoveFromTheCommandLine(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	for _, uri := range []string{
		"otpauth://totp/GitHub:alice?secret=JBSWY3DPEHPK3PXP&issuer=GitHub",
		"otpauth://totp/Google:bob?secret=JBSWY3DPEHPK3PXP&issuer=Google",
	} {
		if _, err := runCLI(t, home, "", "add", uri); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runCLI(t, home, "", "move", "Google", "1"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, home, "", "rename", "GitHub", "alice@work", "--issuer", "GitHub Enterprise"); err != nil {
		t.Fatal(err)
	}
	out, _ := runCLI(t, home, "", "accounts")
	g, e := strings.Index(out, "Google"), strings.Index(out, "GitHub Enterprise")
	if g < 0 || e < 0 || g > e || !strings.Contains(out, "alice@work") {
		t.Fatalf("accounts after move and rename:\n%s", out)
	}
}

// lineWatcher collects a process's output and waits for text in it.
type lineWatcher struct {
	mu   sync.Mutex
	text strings.Builder
	more chan struct{}
}

func watch(r io.Reader) *lineWatcher {
	w := &lineWatcher{more: make(chan struct{}, 1)}
	go func() {
		br := bufio.NewReader(r)
		buf := make([]byte, 4096)
		for {
			n, err := br.Read(buf)
			w.mu.Lock()
			w.text.Write(buf[:n])
			w.mu.Unlock()
			select {
			case w.more <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return w
}

func (w *lineWatcher) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.text.String()
}

// waitFor waits until the output holds s, and returns what follows it up
// to the end of that line.
func (w *lineWatcher) waitFor(t *testing.T, s string) string {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		out := w.String()
		if i := strings.Index(out, s); i >= 0 {
			rest := out[i+len(s):]
			if j := strings.IndexByte(rest, '\n'); j >= 0 {
				rest = rest[:j]
			}
			return rest
		}
		select {
		case <-w.more:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("gave up waiting for %q; the output is:\n%s", s, out)
		}
	}
}

func TestListenAnswersSameDeviceSignInsFromTheRightOriginOnly(t *testing.T) {
	idp := testidp.New(t)
	home := filepath.Join(t.TempDir(), "home")
	if out, err := runCLI(t, home, "", "enroll", idp.Link(t).String()); err != nil {
		t.Fatalf("enroll: %v\n%s", err, out)
	}

	// assent listen, as a real process.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), "ASSENT_TEST_MAIN=1", "ASSENT_TEST_ARGS=listen --home "+home)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopBySIGTERM(t, cmd, "assent listen") })
	out := watch(stdout)
	addr := strings.TrimSpace(out.waitFor(t, "Same-device sign-in: listening on "))

	post := func(origin, challenge string) (*http.Response, push.SameDeviceAnswer, []byte) {
		body, _ := json.Marshal(push.SameDeviceRequest{Challenge: challenge})
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+push.PathSameDevice, strings.NewReader(string(body)))
		req.Header.Set("Origin", origin)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return nil, push.SameDeviceAnswer{}, nil
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var a push.SameDeviceAnswer
		json.Unmarshal(raw, &a)
		return resp, a, raw
	}

	// Another origin gets a bare 403, and nobody is asked.
	cl := idp.Claims(time.Now(), push.UVPreferred, time.Minute)
	jws := idp.Sign(t, cl)
	resp, _, raw := post("https://evil.example", jws)
	if resp.StatusCode != http.StatusForbidden || len(raw) != 0 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("a wrong origin got %d %q %v", resp.StatusCode, raw, resp.Header)
	}
	if strings.Contains(out.String(), "in this browser?") {
		t.Fatalf("a wrong origin was asked about:\n%s", out)
	}

	// The right origin: the terminal asks, y answers with a proof.
	type result struct {
		resp *http.Response
		a    push.SameDeviceAnswer
	}
	got := make(chan result, 1)
	go func() {
		resp, a, _ := post(idp.Origin, jws)
		got <- result{resp, a}
	}()
	out.waitFor(t, "Sign in to Example Org as alice in this browser? [y/N]")
	if !strings.Contains(out.String(), "page:    "+idp.Origin) || !strings.Contains(out.String(), "app:     intranet") {
		t.Fatalf("the question does not name the page and the app:\n%s", out)
	}
	io.WriteString(stdin, "y\n")
	var r result
	select {
	case r = <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("no answer; the output is:\n%s", out)
	}
	if r.resp == nil || r.resp.StatusCode != http.StatusOK || r.a.Proof == "" || r.resp.Header.Get("Access-Control-Allow-Origin") != idp.Origin {
		t.Fatalf("the right origin got %+v", r)
	}
	ids := idp.DeviceIDs()
	if len(ids) != 1 {
		t.Fatalf("%d devices enrolled, want 1", len(ids))
	}
	enrollmentID := ids[0]
	pub := idp.Device(enrollmentID)
	var p push.SameDeviceProofClaims
	if err := crypto.VerifyJWS(r.a.Proof, pub, push.TypSameDeviceProof, &p); err != nil {
		t.Fatalf("the proof does not verify with the device key: %v", err)
	}
	if p.Issuer != enrollmentID || p.Audience != idp.URL || p.ID != cl.ID || p.Origin != idp.Origin || p.UV {
		t.Fatalf("proof %+v", p)
	}
	out.waitFor(t, "Confirmed: carry on in your browser.")
	t.Logf("assent listen said:\n%s", out)
}

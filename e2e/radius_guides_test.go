package e2e

// The RADIUS guides' pieces run for real: the OpenVPN deferred script as
// docs/integrations/openvpn.md prints it, against a real assentd, the way
// OpenVPN 2.6 calls it.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// guideBlock is the fenced code block that follows a marker line in a
// guide.
func guideBlock(t *testing.T, guide, marker string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "integrations", guide))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(b), marker)
	if !ok {
		t.Fatalf("%s has no %q", guide, marker)
	}
	_, after, ok = strings.Cut(after, "```")
	if !ok {
		t.Fatalf("%s: no code block after %q", guide, marker)
	}
	_, body, _ := strings.Cut(after, "\n")
	block, _, ok := strings.Cut(body, "```")
	if !ok {
		t.Fatalf("%s: the code block after %q does not end", guide, marker)
	}
	return block
}

func TestRADIUSOpenVPNGuideScript(t *testing.T) {
	e, r := newRADIUSEnv(t, vpnPlainPush, radiusClient{name: "vpn", networks: []string{"127.0.0.1"}})
	_, d, acct := e.enrolled("alice")
	if _, err := exec.LookPath("radclient"); err != nil {
		t.Fatal("radclient is not installed: apt-get install -y freeradius-utils (make deps does)")
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "assent-auth.sh")
	if err := os.WriteFile(script, []byte(guideBlock(t, "openvpn.md", "<!-- assent-auth.sh")), 0o755); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "assent-radius.secret")
	if err := os.WriteFile(secretFile, []byte(radiusSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// connect runs the script as OpenVPN 2.6 does for one sign-in; the
	// result comes later, in the control file.
	connect := func(name, password string) (control, reason string) {
		t.Helper()
		creds := filepath.Join(dir, name+".creds")
		control, reason = filepath.Join(dir, name+".control"), filepath.Join(dir, name+".reason")
		if err := os.WriteFile(creds, []byte("alice\n"+password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(script, creds)
		cmd.Env = append(os.Environ(), "ASSENT_RADIUS="+r.Addr().String(), "ASSENT_SECRET_FILE="+secretFile, "ASSENT_WAIT=30",
			"auth_control_file="+control, "auth_failed_reason_file="+reason, "untrusted_ip=203.0.113.77", "username=alice")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Fatalf("the script should defer (exit 2): %v\n%s", err, out.String())
		}
		// OpenVPN deletes the file once the script returns.
		os.Remove(creds)
		return control, reason
	}
	result := func(control string) string {
		var got []byte
		eventuallyE(t, "the deferred result", func() bool {
			got, _ = os.ReadFile(control)
			return len(bytes.TrimSpace(got)) > 0
		})
		return strings.TrimSpace(string(got))
	}

	// Approved: 1.
	control, _ := connect("approved", "correct horse battery")
	p := e.waitPrompt(d)
	if p.Context.ClientIP != "203.0.113.77" || !strings.Contains(p.Context.UserAgent, "RADIUS openvpn") {
		t.Fatalf("the push shows %+v", p.Context)
	}
	if _, err := d.Approve(e.ctx, p, 0); err != nil {
		t.Fatal(err)
	}
	if got := result(control); got != "1" {
		t.Fatalf("approved: the control file says %q", got)
	}

	// Denied: 0, and Assent's reason for the client.
	control, reason := connect("denied", "correct horse battery")
	if _, err := d.Deny(e.ctx, e.waitPrompt(d), false); err != nil {
		t.Fatal(err)
	}
	if got := result(control); got != "0" {
		t.Fatalf("denied: the control file says %q", got)
	}
	if b, _ := os.ReadFile(reason); !strings.Contains(string(b), "denied in the Assent app") {
		t.Fatalf("the reason file says %q", b)
	}

	// A password with quotes and backslashes reaches Assent as typed (and
	// is wrong here), with a code appended it needs no push.
	control, reason = connect("quoted", `a "quoted" \ password`)
	if got := result(control); got != "0" {
		t.Fatalf("wrong password: the control file says %q", got)
	}
	if b, _ := os.ReadFile(reason); !strings.Contains(string(b), "login or password is wrong") {
		t.Fatalf("the reason file says %q", b)
	}
	code, err := d.Code(acct.ID)
	if err != nil {
		t.Fatal(err)
	}
	control, _ = connect("code", "correct horse battery,"+code.Code)
	if got := result(control); got != "1" {
		t.Fatalf("password and code: the control file says %q", got)
	}
}

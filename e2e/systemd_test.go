package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shipped unit file passes systemd's own checks, with its ExecStart
// pointing at a real assentd, and keeps its hardening.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is not installed, and this test checks docs/assentd.service with it: run `make deps` (it installs Debian's systemd)")
	}
	unit, err := os.ReadFile("../docs/assentd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=assent",
		"ExecStart=/usr/local/bin/assentd serve"} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("the unit lacks %q", want)
		}
	}
	bin, err := binaries()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "assentd.service")
	text := strings.ReplaceAll(string(unit), "/usr/local/bin/assentd", filepath.Join(bin, "assentd"))
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", file).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Its warnings about this unit (others' go by).
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "assentd.service") {
			t.Errorf("systemd-analyze: %s", line)
		}
	}
}

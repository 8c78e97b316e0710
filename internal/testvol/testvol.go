// Package testvol gives a test a small volume of its own, to fill.
package testvol

import (
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// Small mounts a tmpfs of the given size (e.g. "24m") on a fresh folder for
// the test and unmounts it at the end. It needs root (CI runs the tests as
// root); otherwise the test is skipped saying how to run it, named by run
// (e.g. "go test ./e2e -run TestFullDisk").
func Small(t *testing.T, size, run string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root to mount a small tmpfs volume; run as root, e.g. sudo -E %s", run)
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("cannot mount a tmpfs on %s (%v); run as root with CAP_SYS_ADMIN (not in an unprivileged container)", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

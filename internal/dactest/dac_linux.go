// Package dactest lets a test running as root meet file permissions as
// another user would.
package dactest

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// WithoutDACOverride runs fn on an OS thread that has dropped the
// capabilities that let root ignore file permissions (CAP_DAC_OVERRIDE,
// CAP_DAC_READ_SEARCH, CAP_FOWNER), so a test running as root still meets a
// read-only directory. Capabilities are per thread on Linux; the thread is
// discarded afterwards (the goroutine exits locked to it). fn runs on
// another goroutine: it must not call t.Fatal.
func WithoutDACOverride(fn func()) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		for _, c := range []uint{unix.CAP_DAC_OVERRIDE, unix.CAP_DAC_READ_SEARCH, unix.CAP_FOWNER} {
			data[c/32].Effective &^= 1 << (c % 32)
		}
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- err
			return
		}
		fn()
		done <- nil
	}()
	return <-done
}

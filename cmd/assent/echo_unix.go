//go:build aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris || zos

package main

import "golang.org/x/sys/unix"

// echoOff turns the terminal's echo off, as golang.org/x/term's
// ReadPassword does, but before the prompt is printed (so that nothing
// typed as soon as the prompt shows is echoed), and leaves the reading to
// the caller's buffered reader. restore puts the terminal back.
func echoOff(fd int) (restore func(), err error) {
	old, err := unix.IoctlGetTermios(fd, ioctlReadTermios)
	if err != nil {
		return nil, err
	}
	st := *old
	st.Lflag &^= unix.ECHO
	st.Lflag |= unix.ICANON | unix.ISIG
	st.Iflag |= unix.ICRNL
	if err := unix.IoctlSetTermios(fd, ioctlWriteTermios, &st); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, ioctlWriteTermios, old) }, nil
}

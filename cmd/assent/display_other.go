//go:build ci || mobile || wayland || nogui || android || !(linux || freebsd || netbsd || openbsd || dragonfly)

package main

// checkDisplay: this platform (or build) has its own way to a window.
func checkDisplay() error { return nil }

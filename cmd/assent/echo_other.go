//go:build !(aix || darwin || dragonfly || freebsd || linux || netbsd || openbsd || solaris || zos)

package main

import "errors"

// echoOff: here the console reads secrets with golang.org/x/term's
// ReadPassword instead.
func echoOff(int) (func(), error) { return nil, errors.ErrUnsupported }

//go:build !ci && !mobile && !wayland && !nogui && !android && (linux || freebsd || netbsd || openbsd || dragonfly)

package main

import (
	"fmt"
	"io"
	"log"
	"os"

	"github.com/jezek/xgb"
)

// checkDisplay says, in one line, why the app's window cannot open here:
// no X display named, or one that does not answer. Without it GLFW panics
// with a long trace.
func checkDisplay() error {
	display := os.Getenv("DISPLAY")
	if display == "" {
		return errNoDisplay("no display (DISPLAY is not set)")
	}
	// xgb logs its steps (no ~/.Xauthority under Xvfb, say): not ours to
	// show.
	logger := xgb.Logger
	xgb.Logger = log.New(io.Discard, "", 0)
	defer func() { xgb.Logger = logger }()
	conn, err := xgb.NewConnDisplay(display)
	if err != nil {
		return errNoDisplay(fmt.Sprintf("no display (cannot open DISPLAY=%s: %v)", display, err))
	}
	conn.Close()
	return nil
}

//go:build linux && !android

package core

import (
	"io"
	"sync"

	"github.com/jezek/xgb"
)

// quietX11 stops the X11 client from logging each connection to stderr
// ("Could not get authority info"), which is noise in a terminal.
var quietX11 = sync.OnceFunc(func() { xgb.Logger.SetOutput(io.Discard) })

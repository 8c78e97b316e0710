//go:build nogui

package main

import (
	"context"
)

// runApp: this build (-tags nogui, for machines without OpenGL) has the
// subcommands only.
func runApp(context.Context, string, string, bool, bool) error {
	return userErrorf("this assent was built without the app (-tags nogui): use its subcommands, see 'assent help'")
}

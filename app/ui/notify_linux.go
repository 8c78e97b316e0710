//go:build linux && !android

package ui

import (
	"slices"

	"github.com/godbus/dbus/v5"
)

// notificationsAvailable says whether the desktop shows notifications:
// on Linux a notification server owns (or can be started for)
// org.freedesktop.Notifications on the session bus, which Fyne sends to.
func notificationsAvailable() bool {
	conn, err := dbus.SessionBus()
	if err != nil {
		return false
	}
	const name = "org.freedesktop.Notifications"
	var has bool
	if err := conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has); err == nil && has {
		return true
	}
	var names []string
	if err := conn.BusObject().Call("org.freedesktop.DBus.ListActivatableNames", 0).Store(&names); err != nil {
		return false
	}
	return slices.Contains(names, name)
}

//go:build linux && !android

package ui

import "github.com/godbus/dbus/v5"

// trayAvailable says whether the desktop shows tray icons: on Linux a
// StatusNotifierWatcher must own its name on the session bus (Fyne's tray
// registers with it). Without one, hiding the window would leave a running
// app nobody can reach, so the window's close button quits instead.
func trayAvailable() bool {
	conn, err := dbus.SessionBus()
	if err != nil {
		return false
	}
	var has bool
	err = conn.BusObject().Call("org.freedesktop.DBus.NameHasOwner", 0, "org.kde.StatusNotifierWatcher").Store(&has)
	return err == nil && has
}

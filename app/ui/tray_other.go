//go:build !linux || android

package ui

// trayAvailable: Windows and macOS always have a tray (notification area,
// menu bar); a phone has none, and Fyne's mobile app is no desktop.App.
func trayAvailable() bool { return true }

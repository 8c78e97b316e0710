//go:build !linux || android

package ui

// notificationsAvailable: Windows, macOS and phones have a notification
// centre.
func notificationsAvailable() bool { return true }

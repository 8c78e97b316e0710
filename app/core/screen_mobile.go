//go:build android || ios

package core

// ScreenCaptureSupported says whether ScanScreen can work here.
const ScreenCaptureSupported = false

// ScanScreen cannot capture a phone's screen for the app.
func ScanScreen() (string, error) { return "", ErrScreenCaptureUnsupported }

//go:build !android && !ios

package core

import (
	"fmt"
	"image"

	"github.com/kbinani/screenshot"
)

// ScreenCaptureSupported says whether ScanScreen can work here.
const ScreenCaptureSupported = true

// ScanScreen captures every display (X11, Wayland through the desktop
// portal, Windows, macOS) and reads the first QR code on them.
func ScanScreen() (string, error) {
	quietX11()
	n := screenshot.NumActiveDisplays()
	if n <= 0 {
		return "", fmt.Errorf("scan the screen: no display found (is DISPLAY or WAYLAND_DISPLAY set?)")
	}
	var screens []image.Image
	var firstErr error
	for i := range n {
		img, err := screenshot.CaptureDisplay(i)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		screens = append(screens, img)
	}
	if len(screens) == 0 {
		return "", fmt.Errorf("scan the screen: capture failed: %w", firstErr)
	}
	return DecodeScreens(screens)
}

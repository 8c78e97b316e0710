package core

import (
	"errors"
	"fmt"
	"image"

	"github.com/seed-3a5b824e/assent/enroll"
)

// Scanning a QR code on the screen is how a desktop without a camera
// enrolls: the enrollment page usually sits on the same screen as the app.

// ErrNoQRCodeOnScreen means no display showed a QR code that could be read.
var ErrNoQRCodeOnScreen = errors.New("no QR code found on the screen: show the QR code (not covered, not too small) and scan again, or open a picture of it")

// ErrScreenCaptureUnsupported means this platform cannot capture its
// screen for the app (phones: use a picture of the QR code instead).
var ErrScreenCaptureUnsupported = errors.New("this device cannot scan its own screen: open a picture of the QR code, or paste the link")

// DecodeScreens reads the first QR code found on the given screen images.
func DecodeScreens(screens []image.Image) (string, error) {
	for _, img := range screens {
		text, err := enroll.Decode(img)
		if err == nil {
			return text, nil
		}
		if !errors.Is(err, enroll.ErrNoQRCode) {
			return "", fmt.Errorf("read the screen: %w", err)
		}
	}
	return "", ErrNoQRCodeOnScreen
}

// ScanScreenInput scans the screen and reads what the QR code holds.
func ScanScreenInput() (Input, error) {
	text, err := ScanScreen()
	if err != nil {
		return Input{}, err
	}
	in, err := ParseInputText(text)
	if err != nil {
		return Input{}, fmt.Errorf("the QR code on the screen: %w", err)
	}
	return in, nil
}

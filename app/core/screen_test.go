package core

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/enroll"
	"github.com/seed-3a5b824e/assent/internal/xvfb"
)

func writeImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// desktop paints a 1280×800 grey desktop with a QR code of text at (x, y),
// the way an enrollment page sits somewhere on a screen.
func desktop(t *testing.T, text string, x, y int) image.Image {
	t.Helper()
	screen := image.NewRGBA(image.Rect(0, 0, 1280, 800))
	draw.Draw(screen, screen.Bounds(), image.NewUniform(color.RGBA{0x30, 0x34, 0x3a, 0xff}), image.Point{}, draw.Src)
	if text == "" {
		return screen
	}
	data, err := enroll.EncodePNG(text, 240)
	if err != nil {
		t.Fatal(err)
	}
	code, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	draw.Draw(screen, code.Bounds().Add(image.Pt(x, y)), code, image.Point{}, draw.Src)
	return screen
}

func TestDecodeScreensFindsTheQRCodeOnAnyDisplay(t *testing.T) {
	uri := totpURI("Example", "alice")
	got, err := DecodeScreens([]image.Image{desktop(t, "", 0, 0), desktop(t, uri, 900, 420)})
	if err != nil {
		t.Fatal(err)
	}
	if got != uri {
		t.Fatalf("read %q, want %q", got, uri)
	}
	if _, err := DecodeScreens([]image.Image{desktop(t, "", 0, 0)}); !errors.Is(err, ErrNoQRCodeOnScreen) {
		t.Fatalf("a screen without a code: %v", err)
	}
}

// TestScanScreenReadsAQRCodeShownInAWindow shows a QR code in a real window
// (feh) on a real X server (Xvfb) and scans the screen, as a person does
// with the enrollment page beside the app.
func TestScanScreenReadsAQRCodeShownInAWindow(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the X server check runs on Linux")
	}
	for _, tool := range []string{"Xvfb", "feh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (make deps installs it)", tool)
		}
	}
	display := startXvfb(t)
	uri := totpURI("Example", "screen")
	img := filepath.Join(t.TempDir(), "qr.png")
	writeImage(t, img, desktop(t, uri, 200, 120).(*image.RGBA).SubImage(image.Rect(150, 70, 550, 470)))
	feh := exec.Command("feh", "--geometry", "400x400+300+200", img)
	feh.Env = append(os.Environ(), "DISPLAY="+display)
	if err := feh.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { feh.Process.Kill(); feh.Wait() })
	t.Setenv("DISPLAY", display)
	t.Setenv("WAYLAND_DISPLAY", "")

	// The window maps when feh is ready; scan until it shows (a slow
	// machine may take a moment), failing only after a generous wait.
	var in Input
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if in, err = ScanScreenInput(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("scan: %v", err)
	}
	if in.Link != uri {
		t.Fatalf("scanned %+v, want the link %s", in, uri)
	}
}

// startXvfb starts a private X server and returns its display.
func startXvfb(t *testing.T) string { t.Helper(); return xvfb.Start(t, "1280x800x24") }

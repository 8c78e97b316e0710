package enroll

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"image/png"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
)

// serverLink is a random enrollment link shaped like the ones
// server.NewEnrollLink makes: 32 random bytes of token, the 32-byte key
// thumbprint as pin, an expiry to the second, and the server URLs, logins
// and organisation names of a test server ('make run', the e2e tests) or
// of a deployment.
func serverLink() string {
	random := func(n int) string {
		b := make([]byte, n)
		rand.Read(b)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	l := wantLinkValue()
	switch mrand.IntN(4) {
	case 0, 1:
		l.Server = fmt.Sprintf("http://127.0.0.1:%d", 1024+mrand.IntN(64512))
	case 2:
		l.Server = "https://assent.example.com"
	default:
		l.Server = fmt.Sprintf("https://idp%d.corp.example.org:%d/assent", mrand.IntN(100), 1024+mrand.IntN(64512))
	}
	l.Token = random(32)
	l.Pin = random(32)
	l.User = []string{"alice", "alice@example.com", "bob.smith@subsidiary.example.org", fmt.Sprintf("user%d", mrand.IntN(100000))}[mrand.IntN(4)]
	l.Org = []string{"ACME Co", "Example", "Example Holdings & Partners"}[mrand.IntN(3)]
	l.Expires = time.Unix(1_700_000_000+mrand.Int64N(200_000_000), 0).UTC()
	return l.String()
}

// roundTripServerLinks draws n random server links as the server does
// (EncodePNG at 480 pixels, the hosted enrollment page's size) and reads
// each back with DecodeReader, on every CPU; it returns the links that did
// not read back, with why.
func roundTripServerLinks(t testing.TB, n int) []string {
	var (
		mu     sync.Mutex
		failed []string
		wg     sync.WaitGroup
		next   = make(chan struct{})
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range next {
				text := serverLink()
				// readByFinderSearch is Decode's first pass on the PNG, so
				// DecodeReader returns what it reads; unlike DecodeReader it
				// cannot fall back to the pure-barcode pass.
				b, err := EncodePNG(text, 480)
				if err == nil {
					err = readByFinderSearch(b, text)
				}
				if err != nil {
					mu.Lock()
					failed = append(failed, fmt.Sprintf("%s: %v", text, err))
					mu.Unlock()
				}
			}
		}()
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	return failed
}

// readByFinderSearch checks that the finder-pattern search alone — what
// reads a photo of a screen, without Decode's last, pure-barcode pass —
// reads text from the PNG b.
func readByFinderSearch(b []byte, text string) error {
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		return err
	}
	lum, w, h := luminance(img)
	src, err := gozxing.NewPlanarYUVLuminanceSource(lum, w, h, 0, 0, w, h, false)
	if err != nil {
		return err
	}
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	if err != nil {
		return err
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, decodeHints())
	if err != nil {
		return fmt.Errorf("the finder-pattern search does not read it: %w", err)
	}
	if res.GetText() != text {
		return fmt.Errorf("the finder-pattern search read %q", res.GetText())
	}
	return nil
}

// These links, drawn with the mask of lowest penalty, put a finder-like
// pattern in the data that the finder-pattern search took for one of the
// three corners; encodeQR now draws them with another mask.
func TestLinksThatHidTheirFinderPatternsReadBack(t *testing.T) {
	for _, text := range []string{
		"assent://enroll?v=1&server=https://assent.example.com&token=e5FuCxzwlEgUcyeF943CzSqVHYAvXdT106v3f7EzMaQ&user=user69475&org=ACME%20Co&exp=1891935812&pin=VAJnWmz7WKwPktCeh7JM4Mv9leWPUDlzpfef72TKP6c",
		"assent://enroll?v=1&server=http://127.0.0.1:3071&token=F0pJHy7nmfqlo4FV44apyYkWcakbj2omc6B1R9dK1eU&user=alice@example.com&org=Example&exp=1890530035&pin=pF9rjfh9EfZ4btPbEJ0czQbV5yAcE6vEAR74Q_ehQJ0",
	} {
		if err := readByFinderSearch(mustEncodePNG(t, text, 480), text); err != nil {
			t.Errorf("%s: %v", text, err)
		}
	}
}

// raceEnabled reports whether the test binary was built with -race.
func raceEnabled() bool {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "-race" {
				return s.Value == "true"
			}
		}
	}
	return false
}

// A hundred under the race detector ('make test'), which makes the decoder
// about ten times slower, and a few hundred without;
// BenchmarkTenThousandServerLinksReadBack ('make bench') is the full check.
// TestLinksThatHidTheirFinderPatternsReadBack catches the known failure
// every time.
func TestRandomServerLinksReadBackFromTheirQRCodes(t *testing.T) {
	n := 300
	if raceEnabled() {
		n = 100
	}
	if failed := roundTripServerLinks(t, n); len(failed) > 0 {
		t.Fatalf("%d of %d server enrollment QR codes did not read back:\n%s", len(failed), n, strings.Join(failed, "\n"))
	}
}

// BenchmarkTenThousandServerLinksReadBack round-trips 10,000 random server
// links and fails on any that does not read back: before encodeQR checked
// its masks, about 1 in 75 missed the finder-pattern search. Run it with
//
//	go test -run '^$' -bench TenThousand ./enroll/
func BenchmarkTenThousandServerLinksReadBack(b *testing.B) {
	const n = 10000
	for b.Loop() {
		if failed := roundTripServerLinks(b, n); len(failed) > 0 {
			b.Fatalf("%d of %d server enrollment QR codes did not read back:\n%s", len(failed), n, strings.Join(failed, "\n"))
		}
	}
}

// zbarimg's XML output: one source per image, its symbols.
type zbarResult struct {
	Sources []struct {
		Href    string `xml:"href,attr"`
		Symbols []struct {
			Type string `xml:"type,attr"`
			Data string `xml:"data"`
		} `xml:"index>symbol"`
	} `xml:"source"`
}

// The server's enrollment QR codes must read in other readers than our
// own: zbar (Debian's zbar-tools) is an independent implementation, with
// its own binarizer and finder search. Only its QR decoder is enabled, as
// in a QR scanning app: with every symbology on, zbar also sees a spurious
// Codabar in the modules of about 7 codes in 10,000 (beside the QR code,
// which it reads right).
func TestServerQRCodesReadInZbarimg(t *testing.T) {
	zbarimg, err := exec.LookPath("zbarimg")
	if err != nil {
		t.Fatal("zbarimg is not installed: run 'make deps' (it installs Debian's zbar-tools), then test again")
	}
	const n = 200
	dir := t.TempDir()
	want := make(map[string]string, n)
	files := make([]string, n)
	for i := range files {
		text := serverLink()
		files[i] = filepath.Join(dir, fmt.Sprintf("%03d.png", i))
		if err := os.WriteFile(files[i], mustEncodePNG(t, text, 480), 0o600); err != nil {
			t.Fatal(err)
		}
		want[files[i]] = text
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(zbarimg, append([]string{"--xml", "-q", "-Sdisable", "-Sqrcode.enable"}, files...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// zbarimg exits with 4 when some image has no code: the output says which.
	if err := cmd.Run(); err != nil && stdout.Len() == 0 {
		t.Fatalf("zbarimg: %v\n%s", err, stderr.String())
	}
	var res zbarResult
	if err := xml.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("zbarimg's XML: %v\n%s", err, stdout.String())
	}
	seen := 0
	for _, src := range res.Sources {
		text, ok := want[src.Href]
		if !ok {
			t.Errorf("zbarimg read a file it was not given: %q", src.Href)
			continue
		}
		seen++
		delete(want, src.Href)
		if len(src.Symbols) != 1 || src.Symbols[0].Type != "QR-Code" || src.Symbols[0].Data != text {
			t.Errorf("%s: zbarimg read %+v, want one QR-Code %q", filepath.Base(src.Href), src.Symbols, text)
		}
	}
	for file, text := range want {
		t.Errorf("%s: zbarimg found no QR code, want %q", filepath.Base(file), text)
	}
	if seen != n {
		t.Errorf("zbarimg reported %d of %d images\n%s", seen, n, stderr.String())
	}
}

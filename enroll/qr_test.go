package enroll

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// qrTexts are texts that must survive a trip through a QR code.
func qrTexts(t testing.TB) map[string]string {
	long := wantLinkValue()
	long.Token = strings.Repeat("A", 86)
	long.Server = "https://assent.internal.example.org/identity/assent"
	long.User = "firstname.lastname@subsidiary.example.org"
	long.Org = "Example Holdings, Subsidiary & Partners"
	return map[string]string{
		"enrollment link":         validLink,
		"long enrollment link":    long.String(),
		"otpauth wiki example":    "otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
		"otpauth HOTP":            (&OTPAuth{Type: "hotp", Issuer: "Bücher", Account: "zoë", Secret: make([]byte, 64), Counter: 42}).String(),
		"UTF-8 text (ECI marker)": "Zoë 🙂 日本語 – Grüße",
	}
}

func mustEncodePNG(t testing.TB, text string, size int) []byte {
	t.Helper()
	b, err := EncodePNG(text, size)
	if err != nil {
		t.Fatalf("EncodePNG(%q, %d): %v", text, size, err)
	}
	return b
}

func mustDecodePNG(t testing.TB, b []byte) image.Image {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func TestEncodePNGRoundTripsThroughDecodeReader(t *testing.T) {
	for name, text := range qrTexts(t) {
		for _, size := range []int{256, 333, 1024} {
			got, err := DecodeReader(bytes.NewReader(mustEncodePNG(t, text, size)))
			if err != nil {
				t.Errorf("%s at %d px: %v", name, size, err)
				continue
			}
			if got != text {
				t.Errorf("%s at %d px: got %q, want %q", name, size, got, text)
			}
		}
	}
}

// The finder-pattern search alone missed about one enrollment QR code in
// fifty that EncodePNG made; every one must read back (without the fix,
// 300 links find one with a chance of 998 in 1,000).
func TestEveryEnrollmentLinkReadsBackFromItsQRCode(t *testing.T) {
	n := 300
	if raceEnabled() { // see TestRandomServerLinksReadBackFromTheirQRCodes
		n = 100
	}
	failed := 0
	for i := range n {
		l := wantLinkValue()
		l.Server = fmt.Sprintf("http://127.0.0.1:%d", 30000+i)
		l.Token = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%032d", i*7919)))
		l.Pin = base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("pin%029d", i*104729)))
		text := l.String()
		got, err := DecodeReader(bytes.NewReader(mustEncodePNG(t, text, 480)))
		if err != nil || got != text {
			failed++
			t.Errorf("link %d: %v", i, err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d enrollment QR codes did not read back (about one in fifty did before)", failed, n)
	}
}

func TestEncodePNGDecodesAtTheSmallestSize(t *testing.T) {
	text := "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
	got, err := DecodeReader(bytes.NewReader(mustEncodePNG(t, text, minPNGSize)))
	if err != nil || got != text {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestEncodedLinksParseBack(t *testing.T) {
	text, err := DecodeReader(bytes.NewReader(mustEncodePNG(t, wantLinkValue().String(), 400)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok := v.(*Link); !ok || l.Token != testToken {
		t.Errorf("got %+v", v)
	}
}

func TestEncodePNGMakesASquareBlackAndWhiteImageOfTheRequestedSize(t *testing.T) {
	b := mustEncodePNG(t, validLink, 300)
	cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if format != "png" || cfg.Width != 300 || cfg.Height != 300 {
		t.Errorf("got %s %dx%d, want png 300x300", format, cfg.Width, cfg.Height)
	}
	img := mustDecodePNG(t, b)
	dark := 0
	for y := 0; y < 300; y++ {
		for x := 0; x < 300; x++ {
			switch lum16(img.At(x, y).RGBA()) {
			case 0:
				dark++
			case 255:
			default:
				t.Fatalf("pixel (%d,%d) is grey", x, y)
			}
		}
	}
	if dark == 0 {
		t.Error("no dark pixels")
	}
	// The quiet zone: at 4 pixels per module (300/(57+8)), 16 light pixels
	// at least along every edge.
	for i := 0; i < 300; i++ {
		for d := 0; d < 16; d++ {
			for _, p := range [][2]int{{i, d}, {i, 299 - d}, {d, i}, {299 - d, i}} {
				if lum16(img.At(p[0], p[1]).RGBA()) != 255 {
					t.Fatalf("pixel %v in the quiet zone is dark", p)
				}
			}
		}
	}
}

func TestEncodePNGRejects(t *testing.T) {
	tests := []struct {
		name string
		text string
		size int
		msg  string
	}{
		{"size 0", validLink, 0, "want 128 to 4096"},
		{"size 127", validLink, 127, "want 128 to 4096"},
		{"negative size", validLink, -1, "want 128 to 4096"},
		{"size 4097", validLink, 4097, "want 128 to 4096"},
		{"empty text", "", 256, "empty text"},
		{"text too long for any QR code", strings.Repeat("x", 3000), 1024, "cannot make a QR code of 3000 bytes"},
		{"text needing more pixels than given", strings.Repeat("x", 2000), 128, "needs at least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodePNG(tt.text, tt.size)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("EncodePNG: %v, want an error containing %q", err, tt.msg)
			}
		})
	}
}

func TestDecodeReaderReadsJPEG(t *testing.T) {
	for name, text := range qrTexts(t) {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, mustDecodePNG(t, mustEncodePNG(t, text, 400)), &jpeg.Options{Quality: 90}); err != nil {
			t.Fatal(err)
		}
		got, err := DecodeReader(&buf)
		if err != nil || got != text {
			t.Errorf("%s: got %q, %v; want %q", name, got, err, text)
		}
	}
}

// The decoders read several image types directly; each must agree with
// the generic path, including bounds that do not start at (0, 0).
func TestDecodeReadsCodesInEveryImageType(t *testing.T) {
	text := validLink
	src := mustDecodePNG(t, mustEncodePNG(t, text, 300))
	bounds := src.Bounds()

	convert := func(dst draw.Image) image.Image {
		draw.Draw(dst, dst.Bounds(), src, bounds.Min, draw.Src)
		return dst
	}
	jpegImage := func() image.Image {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, src, &jpeg.Options{Quality: 95}); err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(&buf)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}
	// Dark modules opaque, light ones fully transparent: shown over white.
	transparent := image.NewNRGBA(bounds)
	premultiplied := image.NewRGBA(bounds)
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			if lum16(src.At(x, y).RGBA()) < 128 {
				transparent.Set(x, y, color.NRGBA{0, 0, 80, 255})
				premultiplied.Set(x, y, color.RGBA{0, 0, 0, 255})
			}
		}
	}
	big := image.NewGray(image.Rect(-50, -70, 650, 500))
	draw.Draw(big, big.Bounds(), image.NewUniform(color.Gray{200}), image.Point{}, draw.Src)
	draw.Draw(big, bounds.Add(image.Pt(120, 60)), src, bounds.Min, draw.Src)

	images := map[string]image.Image{
		"paletted (PNG)":                  src,
		"YCbCr (JPEG)":                    jpegImage(),
		"gray":                            convert(image.NewGray(bounds)),
		"gray16 (generic path)":           convert(image.NewGray16(bounds)),
		"RGBA":                            convert(image.NewRGBA(bounds)),
		"NRGBA":                           convert(image.NewNRGBA(bounds)),
		"CMYK (generic path)":             convert(image.NewCMYK(bounds)),
		"transparent background":          transparent,
		"premultiplied, transparent":      premultiplied,
		"sub-image with offset bounds":    convert(image.NewRGBA(image.Rect(-20, -20, 400, 400))).(*image.RGBA).SubImage(image.Rect(-10, -10, 310, 310)),
		"off-centre on a larger canvas":   big,
		"gray sub-image (rows with gaps)": big.SubImage(bounds.Add(image.Pt(120, 60)).Inset(-10)),
		"rotated a quarter turn":          rotate(src),
		"inverted (light on dark)":        invert(src),
	}
	for name, img := range images {
		got, err := Decode(img)
		if err != nil || got != text {
			t.Errorf("%s: got %q, %v", name, got, err)
		}
	}
}

func rotate(src image.Image) image.Image {
	b := src.Bounds()
	dst := image.NewGray(image.Rect(0, 0, b.Dy(), b.Dx()))
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.Set(b.Max.Y-1-y, x-b.Min.X, src.At(x, y))
		}
	}
	return dst
}

func invert(src image.Image) image.Image {
	b := src.Bounds()
	dst := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			dst.SetGray(x, y, color.Gray{255 - lum16(src.At(x, y).RGBA())})
		}
	}
	return dst
}

func TestDecodeFindsNoCodeWhereThereIsNone(t *testing.T) {
	gradient := image.NewGray(image.Rect(0, 0, 400, 300))
	noise := image.NewRGBA(image.Rect(0, 0, 400, 300))
	rng := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < 300; y++ {
		for x := 0; x < 400; x++ {
			gradient.SetGray(x, y, color.Gray{uint8((x + y) * 255 / 700)})
			noise.Set(x, y, color.RGBA{uint8(rng.UintN(256)), uint8(rng.UintN(256)), uint8(rng.UintN(256)), 255})
		}
	}
	white := image.NewGray(image.Rect(0, 0, 200, 200))
	draw.Draw(white, white.Bounds(), image.White, image.Point{}, draw.Src)
	// Half a code: finder patterns but not the data.
	half := mustDecodePNG(t, mustEncodePNG(t, validLink, 300)).(*image.Paletted)
	for i := len(half.Pix) / 2; i < len(half.Pix); i++ {
		half.Pix[i] = 0
	}

	images := map[string]image.Image{
		"gradient":    gradient,
		"noise":       noise,
		"white":       white,
		"one pixel":   image.NewGray(image.Rect(0, 0, 1, 1)),
		"empty":       image.NewGray(image.Rectangle{}),
		"a thin line": image.NewGray(image.Rect(0, 0, 5000, 1)),
		"half a code": half,
		"nil":         nil,
	}
	for name, img := range images {
		text, err := Decode(img)
		if !errors.Is(err, ErrNoQRCode) {
			t.Errorf("%s: Decode = %q, %v; want ErrNoQRCode", name, text, err)
		}
	}
	// And through the reader, with the message a person sees.
	var buf bytes.Buffer
	if err := png.Encode(&buf, noise); err != nil {
		t.Fatal(err)
	}
	_, err := DecodeReader(&buf)
	if !errors.Is(err, ErrNoQRCode) || !strings.Contains(err.Error(), "paste the link instead") {
		t.Errorf("DecodeReader(noise): %v", err)
	}
}

func TestDecodeReaderRejectsWhatIsNotAPNGOrJPEG(t *testing.T) {
	var gifBuf bytes.Buffer
	if err := gif.Encode(&gifBuf, image.NewPaletted(image.Rect(0, 0, 10, 10), color.Palette{color.White, color.Black}), nil); err != nil {
		t.Fatal(err)
	}
	inputs := map[string][]byte{
		"text":                   []byte(validLink),
		"empty":                  nil,
		"HTML":                   []byte("<!doctype html><html></html>"),
		"GIF (decoder is known)": gifBuf.Bytes(),
		"PNG signature only":     []byte("\x89PNG\r\n\x1a\n"),
	}
	for name, b := range inputs {
		_, err := DecodeReader(bytes.NewReader(b))
		if err == nil || !strings.HasPrefix(err.Error(), "not a PNG or JPEG image: ") {
			t.Errorf("%s: %v, want a 'not a PNG or JPEG image' error", name, err)
		}
		if errors.Is(err, ErrNoQRCode) {
			t.Errorf("%s: %v is ErrNoQRCode, but there was no image to look in", name, err)
		}
	}
}

// pngHeader is the start of a greyscale PNG declaring w x h pixels and
// holding none of them: the shape of a decompression bomb.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 4+13)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12] = 8 // bit depth; colour type 0 (grey)
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(13))
	b.Write(ihdr)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(ihdr))
	return b.Bytes()
}

func TestDecodeReaderRefusesHugeImagesBeforeDecodingThem(t *testing.T) {
	for _, d := range [][2]uint32{{100000, 100000}, {8193, 10}, {10, 8193}} {
		start := time.Now()
		_, err := DecodeReader(bytes.NewReader(pngHeader(d[0], d[1])))
		if err == nil || !strings.Contains(err.Error(), "want at most 8192x8192") {
			t.Errorf("%dx%d: %v", d[0], d[1], err)
		}
		// Refused from the header alone: a generous bound for a loaded
		// machine, far below what decoding 10^10 pixels would take.
		if took := time.Since(start); took > 30*time.Second {
			t.Errorf("%dx%d: took %v", d[0], d[1], took)
		}
	}
}

func TestDecodeReaderReportsDamagedImages(t *testing.T) {
	b := mustEncodePNG(t, validLink, 256)
	_, err := DecodeReader(bytes.NewReader(b[:len(b)/2]))
	if err == nil || !strings.HasPrefix(err.Error(), "damaged PNG image: ") {
		t.Errorf("truncated PNG: %v", err)
	}
	_, err = DecodeReader(bytes.NewReader(pngHeader(100, 100)))
	if err == nil || !strings.HasPrefix(err.Error(), "damaged PNG image: ") {
		t.Errorf("PNG without pixels: %v", err)
	}
}

func TestDecodeFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("code.png", mustEncodePNG(t, validLink, 256))
	if got, err := DecodeFile(good); err != nil || got != validLink {
		t.Errorf("DecodeFile(%s) = %q, %v", good, got, err)
	}

	var blank bytes.Buffer
	if err := png.Encode(&blank, image.NewGray(image.Rect(0, 0, 64, 64))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, msg string
		noCode          bool
	}{
		{"missing file", filepath.Join(dir, "missing.png"), "no such file", false},
		{"not an image", write("notes.txt", []byte("hello")), "not a PNG or JPEG image", false},
		{"no code in it", write("blank.png", blank.Bytes()), "no QR code found", true},
		{"a directory", dir, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeFile(tt.path)
			if err == nil {
				t.Fatal("DecodeFile succeeded")
			}
			if !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not name %s and say %q", err, tt.path, tt.msg)
			}
			if errors.Is(err, ErrNoQRCode) != tt.noCode {
				t.Errorf("errors.Is(%v, ErrNoQRCode) = %v", err, !tt.noCode)
			}
		})
	}
}

func TestTerminalDrawsASquareCodeOfHalfBlocks(t *testing.T) {
	for name, text := range qrTexts(t) {
		out, err := Terminal(text)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.HasSuffix(out, "\n") {
			t.Errorf("%s: output does not end with a newline", name)
		}
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		width := utf8.RuneCountInString(lines[0])
		// Modules per side: 21 + 4 per version, plus the quiet zone; two
		// rows of modules per line of text.
		if modules := width - 2*quietZone; modules < 21 || (modules-21)%4 != 0 {
			t.Errorf("%s: width %d is not a QR code plus a quiet zone", name, width)
		}
		if len(lines) != (width+1)/2 {
			t.Errorf("%s: %d lines for width %d, want %d", name, len(lines), width, (width+1)/2)
		}
		for i, line := range lines {
			if n := utf8.RuneCountInString(line); n != width {
				t.Errorf("%s: line %d has %d characters, want %d", name, i, n, width)
			}
			if strings.Trim(line, "▀▄█ ") != "" {
				t.Errorf("%s: line %d has other characters: %q", name, i, line)
			}
		}
		// The quiet zone is light: full blocks at the top (two lines, four
		// module rows), half blocks under the last row of modules.
		for _, i := range []int{0, 1} {
			if lines[i] != strings.Repeat("█", width) {
				t.Errorf("%s: line %d is not all quiet zone: %q", name, i, lines[i])
			}
		}
		if last := lines[len(lines)-1]; last != strings.Repeat("▀", width) {
			t.Errorf("%s: last line is %q", name, last)
		}
		// What a camera would see: blocks light, blanks dark.
		got, err := Decode(renderTerminal(lines, width, 4))
		if err != nil || got != text {
			t.Errorf("%s: reading the terminal output back gave %q, %v", name, got, err)
		}
	}
}

// renderTerminal paints terminal output as a light-on-dark terminal shows
// it, scale pixels per module.
func renderTerminal(lines []string, width, scale int) image.Image {
	img := image.NewGray(image.Rect(0, 0, width*scale, len(lines)*2*scale))
	for row, line := range lines {
		for col, r := range []rune(line) {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			for dy := 0; dy < 2*scale; dy++ {
				lit := top
				if dy >= scale {
					lit = bottom
				}
				if !lit {
					continue
				}
				for dx := 0; dx < scale; dx++ {
					img.SetGray(col*scale+dx, row*2*scale+dy, color.Gray{255})
				}
			}
		}
	}
	return img
}

func TestTerminalRejectsWhatCannotBeEncoded(t *testing.T) {
	if _, err := Terminal(""); err == nil {
		t.Error("Terminal(\"\") succeeded")
	}
	if _, err := Terminal(strings.Repeat("x", 3000)); err == nil || !strings.Contains(err.Error(), "3000 bytes") {
		t.Errorf("Terminal(3000 bytes): %v", err)
	}
}

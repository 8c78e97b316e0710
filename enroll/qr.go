package enroll

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"os"
	"strings"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// ErrNoQRCode is wrapped by the Decode functions when an image holds no QR
// code they can read: none at all, or one too blurred or damaged.
var ErrNoQRCode = errors.New("no QR code found in the image: use a sharper or larger picture, or paste the link instead")

const (
	// Below 128 pixels even a short otpauth URI gets about two pixels per
	// module, and anything scaled for display turns to mush.
	minPNGSize = 128
	maxPNGSize = 4096

	// quietZone is the light border, in modules, that ISO/IEC 18004 asks
	// for; scanners find codes much less reliably without it.
	quietZone = 4

	// Limits on images to decode. A PNG of a few kilobytes can declare
	// 100000x100000 pixels; the dimensions are checked before any pixel is
	// decoded. 8192 per side admits any phone photo or screenshot.
	maxImageSide  = 8192
	maxImageBytes = 64 << 20
)

// encodeQR lays out text as a QR code with error correction level M (15%
// of the code can be lost: a good balance between size and tolerance of a
// smudged screen or a glare) and a quiet zone. The result is at least
// size x size, with a whole number of pixels per module.
func encodeQR(text string, size int) (*gozxing.BitMatrix, error) {
	if text == "" {
		return nil, errors.New("cannot make a QR code of empty text")
	}
	hints := map[gozxing.EncodeHintType]any{
		gozxing.EncodeHintType_ERROR_CORRECTION: decoder.ErrorCorrectionLevel_M,
		gozxing.EncodeHintType_MARGIN:           quietZone,
	}
	// Links are ASCII; only other text needs the UTF-8 ECI marker, which
	// some older scanners display as garbage.
	if !isASCII(text) {
		hints[gozxing.EncodeHintType_CHARACTER_SET] = "UTF-8"
	}
	writer := qrcode.NewQRCodeWriter()
	var first *gozxing.BitMatrix
	// The writer picks the mask with the lowest ISO/IEC 18004 penalty, but
	// in about one code in seventy-five drawn that way some masked data
	// modules pass the finder-pattern search's 1:1:3:1:1 test across and
	// down, and the search takes them for one of the three corners: the
	// grid it then samples is wrong, and the code does not read (zbar's
	// search is not fooled, ZXing-style ones are). Such a code is drawn
	// again with the other masks, which move every data module, until one
	// reads back through the search; the first of them almost always does.
	for mask := -1; mask < 8; mask++ {
		if mask >= 0 {
			hints[gozxing.EncodeHintType_QR_MASK_PATTERN] = mask
		}
		m, err := writer.Encode(text, gozxing.BarcodeFormat_QR_CODE, size, size, hints)
		if err != nil {
			return nil, fmt.Errorf("cannot make a QR code of %d bytes of text (at most about 2300 fit): %w", len(text), err)
		}
		if first == nil {
			first = m
		}
		if findsCode(m, text, size) {
			return m, nil
		}
	}
	// No mask read back (never seen): the first is still a valid code, and
	// Decode reads a saved image of it as a pure barcode.
	return first, nil
}

// findsCode reports whether the finder-pattern search reads text back from
// m drawn black on white, the way a photo or screenshot of it would be
// read. A module-sized matrix (size 0, for the terminal) is checked at four
// pixels per module; one larger than checkSide is checked at a fraction of
// its size, as a camera farther away would see it.
func findsCode(m *gozxing.BitMatrix, text string, size int) (ok bool) {
	const checkSide = 1024
	w, h := m.GetWidth(), m.GetHeight()
	up, down := 1, 1
	if size == 0 {
		up = 4
	} else if w > checkSide {
		down = (w + checkSide - 1) / checkSide
	}
	lw, lh := w*up/down, h*up/down
	lum := make([]byte, lw*lh)
	for y := 0; y < lh; y++ {
		row := lum[y*lw : (y+1)*lw]
		for x := range row {
			if m.Get(x*down/up, y*down/up) {
				row[x] = 0
			} else {
				row[x] = 255
			}
		}
	}
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	src, err := gozxing.NewPlanarYUVLuminanceSource(lum, lw, lh, 0, 0, lw, lh, false)
	if err != nil {
		return false
	}
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	if err != nil {
		return false
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, decodeHints())
	return err == nil && res.GetText() == text
}

// decodeHints are the hints of the finder-pattern search.
func decodeHints() map[gozxing.DecodeHintType]any {
	return map[gozxing.DecodeHintType]any{
		// Photos are not pure barcodes: find the code anywhere, at any
		// angle, and spend the time doing so — a person is waiting once.
		gozxing.DecodeHintType_TRY_HARDER: true,
		// Both link formats are UTF-8; without this, short byte segments
		// may be guessed to be Shift_JIS.
		gozxing.DecodeHintType_CHARACTER_SET: "UTF-8",
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// EncodePNG draws text as a black-on-white QR code in a size x size PNG.
// size must be from 128 to 4096 and large enough for one pixel per module
// (long text needs more); 256 or more displays well.
func EncodePNG(text string, size int) ([]byte, error) {
	if size < minPNGSize || size > maxPNGSize {
		return nil, fmt.Errorf("QR code size is %d pixels: want %d to %d", size, minPNGSize, maxPNGSize)
	}
	m, err := encodeQR(text, size)
	if err != nil {
		return nil, err
	}
	if m.GetWidth() > size || m.GetHeight() > size {
		return nil, fmt.Errorf("QR code of %d bytes of text needs at least %d pixels: got size %d", len(text), m.GetWidth(), size)
	}
	// Two colours make a 1-bit PNG: a few kilobytes instead of a few hundred.
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for y := 0; y < size; y++ {
		row := img.Pix[y*img.Stride:]
		for x := 0; x < size; x++ {
			if m.Get(x, y) {
				row[x] = 1
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("encode QR code as PNG: %w", err)
	}
	return buf.Bytes(), nil
}

// Terminal draws text as a QR code for a terminal, with Unicode half
// blocks: each character is two modules stacked, so the code comes out
// roughly square in a typical 1:2 character cell.
//
// Light modules, quiet zone included, are drawn with block characters and
// dark modules are left blank. In the usual light-on-dark terminal this
// shows dark modules on a light square, as a scanner expects; in a
// dark-on-light terminal the code appears inverted, which phone cameras and
// [Decode] also read. Every line has the same number of characters and ends
// with a newline.
func Terminal(text string) (string, error) {
	m, err := encodeQR(text, 0) // one cell per module
	if err != nil {
		return "", err
	}
	w, h := m.GetWidth(), m.GetHeight()
	light := func(x, y int) bool { return y < h && !m.Get(x, y) }
	var b strings.Builder
	b.Grow((h + 1) / 2 * (w*3 + 1))
	for y := 0; y < h; y += 2 {
		for x := 0; x < w; x++ {
			// Below an odd last row is the terminal background (dark).
			switch top, bottom := light(x, y), light(x, y+1); {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// Decode finds and reads a QR code in img. It returns an error wrapping
// ErrNoQRCode when there is none it can read.
func Decode(img image.Image) (text string, err error) {
	if img == nil {
		return "", fmt.Errorf("no image given: %w", ErrNoQRCode)
	}
	lum, w, h := luminance(img)
	if w == 0 || h == 0 {
		return "", ErrNoQRCode
	}
	// gozxing is a port of Java code that signals trouble with exceptions;
	// a corner it missed on a hostile image must not take the app down.
	defer func() {
		if r := recover(); r != nil {
			text, err = "", fmt.Errorf("%w (the decoder failed: %v)", ErrNoQRCode, r)
		}
	}()
	src, err := gozxing.NewPlanarYUVLuminanceSource(lum, w, h, 0, 0, w, h, false)
	if err != nil {
		return "", fmt.Errorf("%w (%v)", ErrNoQRCode, err)
	}
	hints := decodeHints()
	reader := qrcode.NewQRCodeReader()
	// The inverted image covers light-on-dark codes: dark-mode screens and
	// screenshots of a terminal.
	for _, s := range []gozxing.LuminanceSource{src, src.Invert()} {
		// The hybrid binarizer copes with uneven light in photos; the global
		// one with small, low-contrast codes that the hybrid's blocks miss.
		for _, bin := range []gozxing.Binarizer{gozxing.NewHybridBinarizer(s), gozxing.NewGlobalHistgramBinarizer(s)} {
			bmp, err := gozxing.NewBinaryBitmap(bin)
			if err != nil {
				continue
			}
			if res, err := reader.Decode(bmp, hints); err == nil {
				return res.GetText(), nil
			}
		}
	}
	// The finder-pattern search misses about one code in seventy-five drawn
	// with the lowest-penalty mask, taking data for a finder pattern
	// (encodeQR avoids drawing such codes, other generators do not): an image that is just the code and its quiet
	// zone — a saved PNG, a page's QR image — is read as a pure barcode then.
	// One cheap pass: a screen full of other things fails it at once.
	pure := map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true, gozxing.DecodeHintType_CHARACTER_SET: "UTF-8"}
	if bmp, err := gozxing.NewBinaryBitmap(gozxing.NewGlobalHistgramBinarizer(src)); err == nil {
		if res, err := reader.Decode(bmp, pure); err == nil {
			return res.GetText(), nil
		}
	}
	return "", ErrNoQRCode
}

// luminance returns img as 8-bit grey levels, row by row, with transparent
// pixels shown over white. The common decoder outputs are read directly:
// going through At for a 48-megapixel photo takes seconds. The result may
// share memory with img, so it is only to be read.
func luminance(img image.Image) (lum []byte, w, h int) {
	r := img.Bounds()
	w, h = r.Dx(), r.Dy()
	if w <= 0 || h <= 0 {
		return nil, 0, 0
	}
	// Decoders return planes with no gaps between rows, usually: then the
	// plane itself will do (gozxing only reads it), saving a copy of up to
	// 64 MiB.
	switch m := img.(type) {
	case *image.YCbCr:
		if off := m.YOffset(r.Min.X, r.Min.Y); m.YStride == w && len(m.Y) >= off+w*h {
			return m.Y[off : off+w*h], w, h
		}
	case *image.Gray:
		if off := m.PixOffset(r.Min.X, r.Min.Y); m.Stride == w && len(m.Pix) >= off+w*h {
			return m.Pix[off : off+w*h], w, h
		}
	}
	lum = make([]byte, w*h)
	switch m := img.(type) {
	case *image.YCbCr: // JPEG: the Y plane is the luminance
		for y := 0; y < h; y++ {
			off := m.YOffset(r.Min.X, r.Min.Y+y)
			copy(lum[y*w:(y+1)*w], m.Y[off:off+w])
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			off := m.PixOffset(r.Min.X, r.Min.Y+y)
			copy(lum[y*w:(y+1)*w], m.Pix[off:off+w])
		}
	case *image.Paletted:
		var table [256]byte
		for i, c := range m.Palette {
			table[i] = lum16(c.RGBA())
		}
		for y := 0; y < h; y++ {
			off := m.PixOffset(r.Min.X, r.Min.Y+y)
			for x, p := range m.Pix[off : off+w] {
				lum[y*w+x] = table[p]
			}
		}
	case *image.RGBA: // premultiplied: over white, c + (255 - a)
		for y := 0; y < h; y++ {
			off := m.PixOffset(r.Min.X, r.Min.Y+y)
			px := m.Pix[off : off+4*w]
			for x := 0; x < w; x++ {
				p := px[4*x : 4*x+4]
				bg := 255 - uint32(p[3])
				lum[y*w+x] = byte((uint32(p[0]) + 2*uint32(p[1]) + uint32(p[2]) + 4*bg) / 4)
			}
		}
	case *image.NRGBA: // straight alpha: over white, (c*a + 255*(255-a)) / 255
		for y := 0; y < h; y++ {
			off := m.PixOffset(r.Min.X, r.Min.Y+y)
			px := m.Pix[off : off+4*w]
			for x := 0; x < w; x++ {
				p := px[4*x : 4*x+4]
				a := uint32(p[3])
				l := (uint32(p[0]) + 2*uint32(p[1]) + uint32(p[2])) / 4
				lum[y*w+x] = byte((l*a + 255*(255-a)) / 255)
			}
		}
	default:
		i := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				lum[i] = lum16(img.At(x, y).RGBA())
				i++
			}
		}
	}
	return lum, w, h
}

// lum16 is the grey level of a premultiplied 16-bit colour over white.
func lum16(r, g, b, a uint32) byte {
	bg := 0xffff - a
	return byte((r + 2*g + b + 4*bg) / 4 >> 8)
}

// DecodeReader reads a PNG or JPEG image from r and decodes the QR code in
// it. Other formats are refused even if some other package registered a
// decoder for them: the app promises PNG and JPEG, and fewer decoders mean
// less to attack with a crafted file.
func DecodeReader(r io.Reader) (string, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxImageBytes+1))
	if err != nil {
		return "", fmt.Errorf("read image: %w", err)
	}
	if len(data) > maxImageBytes {
		return "", fmt.Errorf("image is larger than %d MiB: want a smaller picture", maxImageBytes>>20)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return "", fmt.Errorf("not a PNG or JPEG image: %w", err)
	}
	if format != "png" && format != "jpeg" {
		return "", fmt.Errorf("not a PNG or JPEG image: got %s", format)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > maxImageSide || cfg.Height > maxImageSide {
		return "", fmt.Errorf("image is %dx%d pixels: want at most %dx%d", cfg.Width, cfg.Height, maxImageSide, maxImageSide)
	}
	var img image.Image
	if format == "png" {
		img, err = png.Decode(bytes.NewReader(data))
	} else {
		img, err = jpeg.Decode(bytes.NewReader(data))
	}
	if err != nil {
		return "", fmt.Errorf("damaged %s image: %w", strings.ToUpper(format), err)
	}
	return Decode(img)
}

// DecodeFile reads the QR code in the PNG or JPEG file at path.
func DecodeFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read QR code: %w", err) // *PathError names the file
	}
	defer f.Close()
	text, err := DecodeReader(f)
	if err != nil {
		return "", fmt.Errorf("read QR code from %s: %w", path, err)
	}
	return text, nil
}

package enroll

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"reflect"
	"strings"
	"testing"
)

// The parsers read text from QR codes anyone can print. Whatever they are
// given they must not panic, and what they accept must survive String():
// the app stores and shows links through String().

func FuzzParseLink(f *testing.F) {
	for _, s := range []string{
		validLink,
		link("org", "-"),
		link("server", "http://[::1]:8080/x/"),
		link("user", "zo%C3%AB+%2B", "x=1"),
		link("token", strings.Repeat("A", 86)),
		wantLinkValue().String(),
		"assent://enroll?v=2",
		"assent://enroll?v=1&v=1",
		" assent://Enroll/?v=1#",
		"otpauth://totp/a?secret=JBSWY3DPEHPK3PXP",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := ParseLink(s)
		if err != nil {
			checkError(t, err, "enrollment link")
			return
		}
		checkLinkRoundTrip(t, l)
	})
}

func FuzzParseOTPAuth(f *testing.F) {
	for _, s := range []string{
		"otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
		"otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
		"otpauth://totp/Big%20Corporation%3A%20alice%40bigco.com?secret=jbsw%20y3dp%20ehpk%203pxp======",
		"otpauth://hotp/alice?secret=JBSWY3DPEHPK3PXP&counter=18446744073709551615&period=x",
		"otpauth://TOTP/:%20a?secret=JBSWY3DPEHPK3PXP&issuer=I&algorithm=sha512&digits=8&period=3600&image=x",
		"otpauth://totp/a:b:c?secret=JBSWY3DPEHPK3PXPA",
		validLink,
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := ParseOTPAuth(s)
		if err != nil {
			checkError(t, err, "otpauth URI")
			return
		}
		checkOTPAuthRoundTrip(t, o)
	})
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		validLink,
		"otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
		"otpauth-migration://offline?data=x",
		"https://example.com",
		"hello",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := Parse(s)
		if err != nil {
			if v != nil {
				t.Fatalf("Parse returned %v with error %v", v, err)
			}
			return
		}
		switch v := v.(type) {
		case *Link:
			checkLinkRoundTrip(t, v)
		case *OTPAuth:
			checkOTPAuthRoundTrip(t, v)
		default:
			t.Fatalf("Parse returned %T", v)
		}
	})
}

func FuzzDecodeReader(f *testing.F) {
	img := mustDecodePNG(f, mustEncodePNG(f, "otpauth://totp/a?secret=JBSWY3DPEHPK3PXP", 128))
	var small bytes.Buffer
	// A 64 x 64 crop keeps each run fast; the fuzzer mutates the encoding.
	if err := png.Encode(&small, img.(interface {
		SubImage(image.Rectangle) image.Image
	}).SubImage(image.Rect(0, 0, 64, 64))); err != nil {
		f.Fatal(err)
	}
	f.Add(small.Bytes())
	f.Add(mustEncodePNG(f, "x", 128))
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, img, &jpeg.Options{Quality: 50}); err != nil {
		f.Fatal(err)
	}
	f.Add(jpg.Bytes())
	var grey bytes.Buffer
	g := image.NewGray(image.Rect(0, 0, 3, 2))
	g.SetGray(1, 1, color.Gray{255})
	if err := png.Encode(&grey, g); err != nil {
		f.Fatal(err)
	}
	f.Add(grey.Bytes())
	f.Add(pngHeader(10000, 10000))
	f.Add([]byte("GIF89a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		text, err := DecodeReader(bytes.NewReader(b))
		if err != nil && text != "" {
			t.Fatalf("DecodeReader returned %q with error %v", text, err)
		}
	})
}

// checkError checks the promise made about errors: a FieldError has the
// right kind and names a field; no error echoes a long input.
func checkError(t *testing.T, err error, kind string) {
	t.Helper()
	var fe *FieldError
	if errors.As(err, &fe) && (fe.Kind != kind || fe.Field == "" || fe.Problem == "") {
		t.Fatalf("bad FieldError %#v", fe)
	}
}

func checkLinkRoundTrip(t *testing.T, l *Link) {
	t.Helper()
	s := l.String()
	if len(s) > maxURILen {
		t.Fatalf("String() is %d bytes, longer than ParseLink accepts", len(s))
	}
	l2, err := ParseLink(s)
	if err != nil {
		t.Fatalf("ParseLink(%q) of its own String(): %v\nvalue %+v", s, err, l)
	}
	if !reflect.DeepEqual(l, l2) {
		t.Fatalf("round trip changed the link:\n%+v\n%+v", l, l2)
	}
	if s2 := l2.String(); s2 != s {
		t.Fatalf("String() is not stable:\n%s\n%s", s, s2)
	}
}

func checkOTPAuthRoundTrip(t *testing.T, o *OTPAuth) {
	t.Helper()
	s := o.String()
	if len(s) > maxURILen {
		t.Fatalf("String() is %d bytes, longer than ParseOTPAuth accepts", len(s))
	}
	o2, err := ParseOTPAuth(s)
	if err != nil {
		t.Fatalf("ParseOTPAuth(%q) of its own String(): %v\nvalue %+v", s, err, o)
	}
	if !reflect.DeepEqual(o, o2) {
		t.Fatalf("round trip changed the URI:\n%+v\n%+v", o, o2)
	}
	if s2 := o2.String(); s2 != s {
		t.Fatalf("String() is not stable:\n%s\n%s", s, s2)
	}
}

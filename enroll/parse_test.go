package enroll

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseReturnsALinkForAssentLinks(t *testing.T) {
	v, err := Parse("  " + validLink + "\n")
	if err != nil {
		t.Fatal(err)
	}
	l, ok := v.(*Link)
	if !ok {
		t.Fatalf("Parse returned %T, want *Link", v)
	}
	if want := wantLinkValue(); !reflect.DeepEqual(l, want) {
		t.Errorf("got %+v, want %+v", l, want)
	}
}

func TestParseReturnsAnOTPAuthForKeyURIs(t *testing.T) {
	v, err := Parse("\totpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example ")
	if err != nil {
		t.Fatal(err)
	}
	o, ok := v.(*OTPAuth)
	if !ok {
		t.Fatalf("Parse returned %T, want *OTPAuth", v)
	}
	if o.Issuer != "Example" || o.Account != "alice@google.com" {
		t.Errorf("got %+v", o)
	}
}

func TestParsePassesOnFieldErrors(t *testing.T) {
	for in, field := range map[string]string{
		link("token", "short"):                     "token",
		"otpauth://totp/alice?secret=JBSWY3DPEHPK": "secret",
	} {
		_, err := Parse(in)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("Parse(%q): %v, want a FieldError for %q", in, err, field)
		}
	}
}

func TestParseReturnsANilInterfaceOnError(t *testing.T) {
	// A nil *Link in a non-nil interface would pass a "v != nil" check.
	for _, in := range []string{"assent:", link("token", "-"), "otpauth://totp/x", "https://x"} {
		if v, err := Parse(in); err == nil || v != nil {
			t.Errorf("Parse(%q) = %#v, %v; want nil and an error", in, v, err)
		}
	}
}

func TestParseRejectsOtherText(t *testing.T) {
	tests := []struct{ name, in, msg string }{
		{"web page", "https://example.com/login", `unrecognised link: want assent://enroll?... or otpauth://..., got "https"`},
		{"mailto", "mailto:alice@example.com", `got "mailto"`},
		{"Google Authenticator export", "otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8", "Google Authenticator export"},
		{"plain text", "hello world", "got text that is not a link"},
		{"a bare secret", "JBSWY3DPEHPK3PXP", "got text that is not a link"},
		{"empty", "", "got text that is not a link"},
		{"white space", " \n\t ", "got text that is not a link"},
		{"a long scheme is cut short", strings.Repeat("x", 100) + "://", `got "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"...`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want an error", tt.in, v)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

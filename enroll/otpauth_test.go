package enroll

import (
	"encoding/base32"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// helloSecret is what the Google wiki's JBSWY3DPEHPK3PXP decodes to.
var helloSecret = []byte("Hello!\xde\xad\xbe\xef")

func mustB32(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseOTPAuthReadsTheGoogleWikiExamples(t *testing.T) {
	tests := []struct {
		in   string
		want OTPAuth
	}{
		{
			"otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
			OTPAuth{Type: "totp", Issuer: "Example", Account: "alice@google.com", Secret: helloSecret, Algorithm: "SHA1", Digits: 6, Period: 30},
		},
		{
			"otpauth://totp/ACME%20Co:john.doe@email.com?secret=HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30",
			OTPAuth{Type: "totp", Issuer: "ACME Co", Account: "john.doe@email.com", Secret: mustB32(t, "HXDMVJECJJWSRB3HWIZR4IFUGFTMXBOZ"), Algorithm: "SHA1", Digits: 6, Period: 30},
		},
		// The label examples from the wiki.
		{
			"otpauth://totp/Example:alice@gmail.com?secret=JBSWY3DPEHPK3PXP",
			OTPAuth{Type: "totp", Issuer: "Example", Account: "alice@gmail.com", Secret: helloSecret, Algorithm: "SHA1", Digits: 6, Period: 30},
		},
		{
			"otpauth://totp/Provider1:Alice%20Smith?secret=JBSWY3DPEHPK3PXP",
			OTPAuth{Type: "totp", Issuer: "Provider1", Account: "Alice Smith", Secret: helloSecret, Algorithm: "SHA1", Digits: 6, Period: 30},
		},
		{
			"otpauth://totp/Big%20Corporation%3A%20alice%40bigco.com?secret=JBSWY3DPEHPK3PXP",
			OTPAuth{Type: "totp", Issuer: "Big Corporation", Account: "alice@bigco.com", Secret: helloSecret, Algorithm: "SHA1", Digits: 6, Period: 30},
		},
	}
	for _, tt := range tests {
		got, err := ParseOTPAuth(tt.in)
		if err != nil {
			t.Errorf("ParseOTPAuth(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("ParseOTPAuth(%q):\n got %+v\nwant %+v", tt.in, *got, tt.want)
		}
	}
}

func TestParseOTPAuthAccepts(t *testing.T) {
	const base = "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
	// An 11-byte secret needs base32 padding.
	padded := base32.StdEncoding.EncodeToString([]byte("Hello!\xde\xad\xbe\xef!"))
	tests := []struct {
		name string
		in   string
		want func(o *OTPAuth) bool
	}{
		{"surrounding white space", "\t " + base + "\n", nil},
		{"upper-case scheme and type", "OTPAUTH://TOTP/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP", func(o *OTPAuth) bool { return o.Type == "totp" }},
		{"lower-case secret", "otpauth://totp/alice?secret=jbswy3dpehpk3pxp", func(o *OTPAuth) bool { return string(o.Secret) == string(helloSecret) }},
		{"padded secret", "otpauth://totp/alice?secret=" + padded, func(o *OTPAuth) bool { return len(o.Secret) == 11 }},
		{"padded secret with escaped padding", "otpauth://totp/alice?secret=" + strings.ReplaceAll(padded, "=", "%3D"), func(o *OTPAuth) bool { return len(o.Secret) == 11 }},
		{"secret grouped with spaces", "otpauth://totp/alice?secret=JBSW%20Y3DP+EHPK%203PXP", func(o *OTPAuth) bool { return string(o.Secret) == string(helloSecret) }},
		{"secret of 128 bytes", "otpauth://totp/alice?secret=" + strings.Repeat("A", 205), func(o *OTPAuth) bool { return len(o.Secret) == 128 }},
		{"no issuer at all", "otpauth://totp/alice@google.com?secret=JBSWY3DPEHPK3PXP", func(o *OTPAuth) bool { return o.Issuer == "" && o.Account == "alice@google.com" }},
		{"issuer parameter only", "otpauth://totp/alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example", func(o *OTPAuth) bool { return o.Issuer == "Example" && o.Account == "alice@google.com" }},
		{"empty issuer parameter", "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=", func(o *OTPAuth) bool { return o.Issuer == "Example" }},
		{"empty label prefix", "otpauth://totp/:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example", func(o *OTPAuth) bool { return o.Issuer == "Example" && o.Account == "alice" }},
		{"issuer '+' in query, %20 in label", "otpauth://totp/ACME%20Co:john?secret=JBSWY3DPEHPK3PXP&issuer=ACME+Co", func(o *OTPAuth) bool { return o.Issuer == "ACME Co" }},
		{"spaces after the colon", "otpauth://totp/Example:%20%20alice?secret=JBSWY3DPEHPK3PXP", func(o *OTPAuth) bool { return o.Account == "alice" }},
		{"raw space in the label", "otpauth://totp/ACME Co:john?secret=JBSWY3DPEHPK3PXP", func(o *OTPAuth) bool { return o.Issuer == "ACME Co" }},
		{"'+' in the label is literal", "otpauth://totp/john+tag@example.com?secret=JBSWY3DPEHPK3PXP", func(o *OTPAuth) bool { return o.Account == "john+tag@example.com" }},
		{"raw UTF-8 label", "otpauth://totp/Bücher:zoë?secret=JBSWY3DPEHPK3PXP", func(o *OTPAuth) bool { return o.Issuer == "Bücher" && o.Account == "zoë" }},
		{"algorithm in lower case", base + "&algorithm=sha256", func(o *OTPAuth) bool { return o.Algorithm == "SHA256" }},
		{"SHA512", base + "&algorithm=SHA512", func(o *OTPAuth) bool { return o.Algorithm == "SHA512" }},
		{"8 digits", base + "&digits=8", func(o *OTPAuth) bool { return o.Digits == 8 }},
		{"5 digits", base + "&digits=5", func(o *OTPAuth) bool { return o.Digits == 5 && o.Type == "totp" }},
		{"7 digits (Aegis's test vault)", base + "&digits=7", func(o *OTPAuth) bool { return o.Digits == 7 }},
		{"10 digits", base + "&digits=10", func(o *OTPAuth) bool { return o.Digits == 10 }},
		{"HOTP with 7 digits", "otpauth://hotp/Air%20Canada:Benjamin?secret=KUVJJOM753IHTNDSZVCNKL7GII&issuer=Air+Canada&algorithm=SHA256&digits=7&counter=50",
			func(o *OTPAuth) bool {
				return o.Type == "hotp" && o.Digits == 7 && o.Counter == 50 && o.Issuer == "Air Canada"
			}},
		{"Steam as Aegis writes it", "otpauth://steam/Boeing:Sophia?secret=JRZCL47CMXVOQMNPZR2F7J4RGI&issuer=Boeing&algorithm=SHA1&digits=5&period=30",
			func(o *OTPAuth) bool { return o.Type == "steam" && o.Digits == 5 && o.Period == 30 && o.IsTimeBased() }},
		{"Steam with defaults", "otpauth://steam/Steam:gaben?secret=JRZCL47CMXVOQMNPZR2F7J4RGI",
			func(o *OTPAuth) bool {
				return o.Type == "steam" && o.Digits == 5 && o.Period == 30 && o.Algorithm == "SHA1"
			}},
		{"Steam as KeePassXC writes it", "otpauth://totp/Steam:gaben?secret=JRZCL47CMXVOQMNPZR2F7J4RGI&issuer=Steam&encoder=steam",
			func(o *OTPAuth) bool { return o.Type == "steam" && o.Digits == 5 && o.Period == 30 }},
		{"Steam encoder in capitals", base + "&encoder=Steam&digits=5", func(o *OTPAuth) bool { return o.Type == "steam" }},
		{"period 60", base + "&period=60", func(o *OTPAuth) bool { return o.Period == 60 }},
		{"period 1", base + "&period=1", func(o *OTPAuth) bool { return o.Period == 1 }},
		{"period 3600", base + "&period=3600", func(o *OTPAuth) bool { return o.Period == 3600 }},
		{"unknown parameters like image", base + "&image=https%3A%2F%2Fexample.com%2Flogo.png&color=red&x=%zz", nil},
		{"counter on TOTP is ignored", base + "&counter=abc&counter=1", func(o *OTPAuth) bool { return o.Counter == 0 }},
		{"HOTP with counter 0", "otpauth://hotp/Example:alice?secret=JBSWY3DPEHPK3PXP&counter=0", func(o *OTPAuth) bool { return o.Type == "hotp" && o.Counter == 0 && o.Period == 0 }},
		{"HOTP with the largest counter", "otpauth://hotp/alice?secret=JBSWY3DPEHPK3PXP&counter=18446744073709551615", func(o *OTPAuth) bool { return o.Counter == 1<<64-1 }},
		{"period on HOTP is ignored", "otpauth://hotp/alice?secret=JBSWY3DPEHPK3PXP&counter=5&period=abc", func(o *OTPAuth) bool { return o.Counter == 5 && o.Period == 0 }},
		{"spaces before an account without issuer", "otpauth://totp/%20alice?secret=JBSWY3DPEHPK3PXP", func(o *OTPAuth) bool { return o.Account == "alice" }},
		{"slash in the label", "otpauth://totp/Example:a/b?secret=JBSWY3DPEHPK3PXP", func(o *OTPAuth) bool { return o.Account == "a/b" }},
		{"label of 256 bytes", "otpauth://totp/" + strings.Repeat("a", 256) + "?secret=JBSWY3DPEHPK3PXP", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseOTPAuth(tt.in)
			if err != nil {
				t.Fatalf("ParseOTPAuth(%q): %v", tt.in, err)
			}
			if tt.want != nil && !tt.want(o) {
				t.Errorf("ParseOTPAuth(%q) = %+v", tt.in, o)
			}
		})
	}
}

func TestParseOTPAuthRejectsBadFields(t *testing.T) {
	const q = "?secret=JBSWY3DPEHPK3PXP"
	const base = "otpauth://totp/Example:alice" + q
	tests := []struct {
		name, in, field, problem string
	}{
		{"unknown type", "otpauth://xotp/alice" + q, "type", "want totp, hotp or steam"},
		{"no type", "otpauth:///alice" + q, "type", "want totp, hotp or steam"},
		{"type with a port", "otpauth://totp:80/alice" + q, "type", "want totp, hotp or steam"},

		{"no label", "otpauth://totp" + q, "label", "missing"},
		{"empty label", "otpauth://totp/" + q, "label", "missing"},
		{"issuer but no account", "otpauth://totp/Example:" + q, "label", "account name is empty"},
		{"issuer and only spaces", "otpauth://totp/Example:%20%20" + q, "label", "account name is empty"},
		{"bad escape in the label", "otpauth://totp/Example:al%zzice" + q, "label", "percent-encoding"},
		{"label of 257 bytes", "otpauth://totp/" + strings.Repeat("a", 257) + q, "label", "at most 256"},
		{"second colon in the label", "otpauth://totp/Example:alice:bob" + q, "label", "colon"},
		{"control character in the account", "otpauth://totp/Example:alice%0A" + q, "label", "control"},
		{"bidi override in the account", "otpauth://totp/Example:alice%E2%80%AE" + q, "label", "control"},
		{"account not UTF-8", "otpauth://totp/Example:alice%FF" + q, "label", "UTF-8"},
		{"issuer and account too long together", "otpauth://totp/" + strings.Repeat("a", 200) + q + "&issuer=" + strings.Repeat("b", 100), "label", "together"},

		{"no secret", "otpauth://totp/alice?issuer=Example", "secret", "missing"},
		{"empty secret", "otpauth://totp/alice?secret=", "secret", "empty"},
		{"only padding", "otpauth://totp/alice?secret=%3D%3D%3D", "secret", "empty"},
		{"repeated secret", base + "&secret=JBSWY3DPEHPK3PXP", "secret", "exactly once"},
		{"digit 1 in the secret", "otpauth://totp/alice?secret=JBSWY3DPEHPK3PX1", "secret", `"1"`},
		{"base64 secret", "otpauth://totp/alice?secret=SGVsbG8hIQ%2F%2F", "secret", "base32"},
		{"impossible length", "otpauth://totp/alice?secret=JBSWY3DPEHPK3PXPA", "secret", "not a whole number of bytes"},
		{"9-byte secret", "otpauth://totp/alice?secret=JBSWY3DPEHPK3PA", "secret", "decodes to 9 bytes"},
		{"129-byte secret", "otpauth://totp/alice?secret=" + strings.Repeat("A", 207), "secret", "decodes to 129 bytes"},
		{"bad escape in the secret", "otpauth://totp/alice?secret=JBSW%zz", "secret", "percent-encoding"},

		{"issuer disagrees with the label", base + "&issuer=Evil", "issuer", `"Evil" but the label says "Example"`},
		{"issuer differs in case", base + "&issuer=example", "issuer", "same issuer"},
		{"repeated issuer", base + "&issuer=Example&issuer=Example", "issuer", "exactly once"},
		{"issuer with a colon", "otpauth://totp/alice" + q + "&issuer=A%3AB", "issuer", "colon"},
		{"issuer with a control character", "otpauth://totp/alice" + q + "&issuer=A%07B", "issuer", "control"},
		{"issuer of 257 bytes", "otpauth://totp/a" + q + "&issuer=" + strings.Repeat("b", 257), "issuer", "at most 256"},

		{"MD5", base + "&algorithm=MD5", "algorithm", `"MD5": want SHA1, SHA256 or SHA512`},
		{"SHA-256 with a dash", base + "&algorithm=SHA-256", "algorithm", "want SHA1"},
		{"empty algorithm", base + "&algorithm=", "algorithm", "want SHA1"},
		{"repeated algorithm", base + "&algorithm=SHA1&algorithm=SHA256", "algorithm", "exactly once"},

		{"4 digits", base + "&digits=4", "digits", "is 4: want 5 to 10"},
		{"11 digits", base + "&digits=11", "digits", "is 11: want 5 to 10"},
		{"0 digits", base + "&digits=0", "digits", "want 5 to 10"},
		{"6-character Steam code", "otpauth://steam/alice" + q + "&digits=6", "digits", "is 6: want 5 for a Steam account"},
		{"Steam by encoder with 8 digits", base + "&encoder=steam&digits=8", "digits", "want 5 for a Steam account"},
		{"unknown encoder", base + "&encoder=base26", "encoder", `"base26": want steam`},
		{"digits in words", base + "&digits=six", "digits", `"six"`},
		{"signed digits", base + "&digits=%2B6", "digits", "want 5 to 10"},
		{"empty digits", base + "&digits=", "digits", "want 5 to 10"},
		{"huge digits", base + "&digits=99999999999999999999", "digits", "want 5 to 10"},
		{"repeated digits", base + "&digits=6&digits=6", "digits", "exactly once"},

		{"period 0", base + "&period=0", "period", "from 1 to 3600"},
		{"period 3601", base + "&period=3601", "period", "from 1 to 3600"},
		{"negative period", base + "&period=-30", "period", "time step"},
		{"period with a unit", base + "&period=30s", "period", "time step"},
		{"repeated period", base + "&period=30&period=60", "period", "exactly once"},

		{"HOTP without counter", "otpauth://hotp/alice" + q, "counter", "missing"},
		{"HOTP with empty counter", "otpauth://hotp/alice" + q + "&counter=", "counter", "empty"},
		{"negative counter", "otpauth://hotp/alice" + q + "&counter=-1", "counter", "whole number"},
		{"counter past 2^64-1", "otpauth://hotp/alice" + q + "&counter=18446744073709551616", "counter", "whole number"},
		{"repeated counter", "otpauth://hotp/alice" + q + "&counter=1&counter=2", "counter", "exactly once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseOTPAuth(tt.in)
			if err == nil {
				t.Fatalf("ParseOTPAuth(%q) = %+v, want an error about %s", tt.in, o, tt.field)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("ParseOTPAuth(%q): %v (%T), want a *FieldError", tt.in, err, err)
			}
			if fe.Kind != "otpauth URI" || fe.Field != tt.field {
				t.Errorf("got Kind %q Field %q, want %q %q (%v)", fe.Kind, fe.Field, "otpauth URI", tt.field, err)
			}
			if !strings.Contains(fe.Problem, tt.problem) {
				t.Errorf("Problem %q does not mention %q", fe.Problem, tt.problem)
			}
			if prefix := `otpauth URI: field "` + tt.field + `": `; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", err, prefix)
			}
			if !strings.Contains(fe.Problem, "want") {
				t.Errorf("Problem %q does not say what is expected", fe.Problem)
			}
		})
	}
}

func TestParseOTPAuthRejectsOtherLinks(t *testing.T) {
	tests := []struct{ name, in, msg string }{
		{"https URL", "https://example.com/totp", `not an otpauth URI: want otpauth://totp/Issuer:account?secret=... or otpauth://hotp/..., got scheme "https"`},
		{"enrollment link", validLink, `got scheme "assent"`},
		{"plain base32 secret", "JBSWY3DPEHPK3PXP", "got text that is not a link"},
		{"no slashes", "otpauth:totp/alice?secret=JBSWY3DPEHPK3PXP", "no //"},
		{"a fragment", "otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP#x", "fragment"},
		{"over 4096 bytes", "otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP&image=" + strings.Repeat("a", 4096), "at most 4096"},
		{"bad escape in a parameter name", "otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP&%zz=1", "parameter name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOTPAuth(tt.in)
			if err == nil {
				t.Fatalf("ParseOTPAuth(%q) succeeded", tt.in)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestOTPAuthStringIsCanonical(t *testing.T) {
	tests := []struct{ in, want string }{
		{
			"otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
			"otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example&algorithm=SHA1&digits=6&period=30",
		},
		{
			"otpauth://totp/Big%20Corporation%3A%20alice%40bigco.com?secret=jbsw%20y3dp%20ehpk%203pxp&algorithm=sha512&digits=8&period=60&image=x",
			"otpauth://totp/Big%20Corporation:alice@bigco.com?secret=JBSWY3DPEHPK3PXP&issuer=Big%20Corporation&algorithm=SHA512&digits=8&period=60",
		},
		{
			"otpauth://HOTP/alice+tag@example.com?counter=7&secret=JBSWY3DPEHPK3PXP",
			"otpauth://hotp/alice%2Btag@example.com?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&counter=7",
		},
		{
			"otpauth://totp/Steam:gaben?secret=JRZCL47CMXVOQMNPZR2F7J4RGI&issuer=Steam&encoder=steam",
			"otpauth://steam/Steam:gaben?secret=JRZCL47CMXVOQMNPZR2F7J4RGI&issuer=Steam&algorithm=SHA1&digits=5&period=30",
		},
	}
	for _, tt := range tests {
		o, err := ParseOTPAuth(tt.in)
		if err != nil {
			t.Errorf("ParseOTPAuth(%q): %v", tt.in, err)
			continue
		}
		if got := o.String(); got != tt.want {
			t.Errorf("String() of %q\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

func TestOTPAuthStringRoundTrips(t *testing.T) {
	secret := []byte("0123456789abcdefghij")
	values := []*OTPAuth{
		{Type: "totp", Issuer: "ACME Co", Account: "john.doe@email.com", Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30},
		{Type: "totp", Account: "no issuer", Secret: secret, Algorithm: "SHA256", Digits: 8, Period: 3600},
		{Type: "hotp", Issuer: "Bücher & Söhne", Account: "zoë+1@example.com", Secret: secret, Algorithm: "SHA512", Digits: 6, Counter: 1<<64 - 1},
		{Type: "totp", Issuer: "a/b?c#d%e&f=g", Account: "x/y?z#%&=  ", Secret: make([]byte, 128), Algorithm: "SHA1", Digits: 6, Period: 1},
		{Type: "totp", Issuer: strings.Repeat("i", 127), Account: strings.Repeat("ä", 64), Secret: secret[:10], Algorithm: "SHA1", Digits: 6, Period: 30},
		{Type: "totp", Issuer: "SPDX", Account: "James", Secret: secret, Algorithm: "SHA256", Digits: 7, Period: 20},
		{Type: "hotp", Issuer: "Air Canada", Account: "Benjamin", Secret: secret, Algorithm: "SHA256", Digits: 10, Counter: 50},
		{Type: "steam", Issuer: "Boeing", Account: "Sophia", Secret: secret, Algorithm: "SHA1", Digits: 5, Period: 30},
	}
	for _, o := range values {
		s := o.String()
		got, err := ParseOTPAuth(s)
		if err != nil {
			t.Errorf("ParseOTPAuth(%q): %v", s, err)
			continue
		}
		if !reflect.DeepEqual(got, o) {
			t.Errorf("round trip of %q:\n got %+v\nwant %+v", s, got, o)
		}
	}
}

func TestOTPAuthStringFillsDefaults(t *testing.T) {
	o := &OTPAuth{Issuer: "Example", Account: "alice", Secret: helloSecret}
	want := "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&issuer=Example&algorithm=SHA1&digits=6&period=30"
	if got := o.String(); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	steam := &OTPAuth{Type: "steam", Issuer: "Steam", Account: "gaben", Secret: helloSecret}
	want = "otpauth://steam/Steam:gaben?secret=JBSWY3DPEHPK3PXP&issuer=Steam&algorithm=SHA1&digits=5&period=30"
	if got := steam.String(); got != want {
		t.Errorf("Steam: got  %s\nwant %s", got, want)
	}
}

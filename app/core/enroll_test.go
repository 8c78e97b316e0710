package core

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/enroll"
)

func writePNG(t *testing.T, text string) string {
	t.Helper()
	data, err := enroll.EncodePNG(text, 400)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "code.png")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestReadInput(t *testing.T) {
	const link = "assent://enroll?v=1&server=https://idp.example.com&token=abc&user=alice&exp=1&pin=xyz"
	uri := totpURI("Example", "alice")
	notAnImage := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notAnImage, []byte("hello"), 0o600)
	tests := []struct {
		name    string
		input   string
		want    string // "" means an error is wanted
		wantErr string
	}{
		{name: "an enrollment link passes through", input: link, want: link},
		{name: "an otpauth URI passes through", input: uri, want: uri},
		{name: "surrounding space is trimmed", input: "  " + link + "\n", want: link},
		{name: "a QR image is decoded", input: writePNG(t, link), want: link},
		{name: "a QR image of an otpauth URI is decoded", input: writePNG(t, uri), want: uri},
		{name: "a missing file", input: filepath.Join(t.TempDir(), "nope.png"), wantErr: "is neither a link (assent://… or otpauth://…) nor a readable image file"},
		{name: "a file that is not an image", input: notAnImage, wantErr: "not a PNG or JPEG image"},
		{name: "empty", input: "", wantErr: "give an enrollment link, an otpauth:// URI, or a QR image file"},
		{name: "only space", input: " \t\n", wantErr: "give an enrollment link"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadInput(tt.input)
			if tt.want != "" {
				if err != nil || got != tt.want {
					t.Fatalf("ReadInput = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadInput = %q, want an error", got)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ReadInput = %q, want it to say %q", err, tt.wantErr)
			}
		})
	}
}

func TestAddTakesAQRImageOfAnOTPAccount(t *testing.T) {
	c, _ := newHome(t)
	a, err := c.Add(t.Context(), writePNG(t, totpURI("Example", "scanned")))
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != KindTOTP || a.Label() != "Example:scanned" {
		t.Fatalf("Add = %+v", a)
	}
	if _, err := c.Add(t.Context(), "https://example.com/not-a-link"); err == nil {
		t.Fatal("Add took a web address")
	}
	if n := len(c.Accounts()); n != 1 {
		t.Fatalf("%d accounts, want 1", n)
	}
}

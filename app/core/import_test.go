package core

import (
	"errors"
	"image"
	"image/color"
	"image/draw"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-3a5b824e/assent/enroll"
)

func googleExport(t *testing.T, accts ...*enroll.OTPAuth) string {
	t.Helper()
	s, err := enroll.EncodeMigration(accts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var (
	aliceOTP = &enroll.OTPAuth{Type: "totp", Issuer: "Example", Account: "alice", Secret: []byte("0123456789abcdef"), Algorithm: "SHA1", Digits: 6, Period: 30}
	bobOTP   = &enroll.OTPAuth{Type: "hotp", Issuer: "Corp", Account: "bob", Secret: []byte("abcdef0123456789"), Algorithm: "SHA256", Digits: 8, Counter: 5}
)

const aegisExport = `{"version":1,"header":{"slots":null,"params":null},"db":{"version":3,"entries":[
 {"type":"totp","name":"carol","issuer":"Deno","info":{"secret":"4SJHB4GSD43FZBAI7C2HLRJGPQ","algo":"SHA1","digits":6,"period":30}},
 {"type":"steam","name":"dave","issuer":"Valve","info":{"secret":"4SJHB4GSD43FZBAI7C2HLRJGPQ","algo":"SHA1","digits":5,"period":30}}]}}`

func TestParseInputTextTellsLinksFromExports(t *testing.T) {
	export := googleExport(t, aliceOTP)
	tests := []struct {
		in         string
		link       bool
		importFrom string
		err        string
	}{
		{in: "  " + totpURI("Example", "alice") + "\n", link: true},
		{in: export, importFrom: enroll.SourceGoogle},
		{in: aegisExport, importFrom: enroll.SourceAegis},
		{in: totpURI("A", "a") + "\n" + totpURI("B", "b"), importFrom: enroll.SourceURIList},
		{in: "otpauth://totp/x?secret=!!", err: "secret"},
		{in: "https://example.com", err: "not something Assent can add"},
		{in: "   ", err: "empty"},
	}
	for _, tt := range tests {
		in, err := ParseInputText(tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%.40q: got %v, want an error mentioning %q", tt.in, err, tt.err)
			}
		case err != nil:
			t.Errorf("%.40q: %v", tt.in, err)
		case tt.link && in.Link != strings.TrimSpace(tt.in):
			t.Errorf("%.40q: link %q", tt.in, in.Link)
		case !tt.link && (in.Import == nil || in.Import.Source != tt.importFrom):
			t.Errorf("%.40q: got %+v, want an import from %s", tt.in, in, tt.importFrom)
		}
	}
}

func TestParseInputDataReadsQRPicturesAndExportFiles(t *testing.T) {
	png, err := os.ReadFile(writePNG(t, googleExport(t, aliceOTP, bobOTP)))
	if err != nil {
		t.Fatal(err)
	}
	in, err := ParseInputData("export.png", png)
	if err != nil {
		t.Fatal(err)
	}
	if in.Import == nil || len(in.Import.Accounts) != 2 {
		t.Fatalf("QR of a Google export: got %+v", in)
	}
	in, err = ParseInputData("aegis.json", []byte(aegisExport))
	if err != nil || in.Import == nil || len(in.Import.Accounts) != 1 || len(in.Import.Skipped) != 1 {
		t.Fatalf("Aegis export: %v %+v", err, in)
	}
	if _, err := ParseInputData("photo.png", mustPNGWithoutCode(t)); !errors.Is(err, enroll.ErrNoQRCode) {
		t.Fatalf("a picture without a QR code: %v", err)
	}
}

func mustPNGWithoutCode(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "blank.png")
	img := image.NewGray(image.Rect(0, 0, 64, 64))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	writeImage(t, path, img)
	data, _ := os.ReadFile(path)
	return data
}

func TestImportPreviewsThenAddsAllAccountsOnceLeavingDuplicatesOut(t *testing.T) {
	c, home := newHome(t)
	mustAdd(t, c, aliceOTP.String())
	imp, err := ReadImport(googleExport(t, aliceOTP, bobOTP))
	if err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, home)
	plan := c.PreviewImport(imp)
	wantSameFiles(t, before, snapshot(t, home)) // a preview changes nothing
	if len(plan.Accounts) != 1 || plan.Accounts[0].Label() != "Corp:bob" {
		t.Fatalf("preview adds %+v, want Corp:bob only", plan.Accounts)
	}
	if len(plan.Skipped) != 1 || plan.Skipped[0].Label != "Example:alice" || plan.Skipped[0].Reason != "already in Assent" {
		t.Fatalf("preview skips %+v, want Example:alice as already there", plan.Skipped)
	}
	added, err := c.Import(imp)
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 || added[0].Kind != KindHOTP || added[0].Counter != 5 || added[0].Digits != 8 {
		t.Fatalf("added %+v", added)
	}
	if got := labelsOf(mustOpen(t, home).Accounts()); strings.Join(got, ",") != "Example:alice,Corp:bob" {
		t.Fatalf("accounts after import: %v", got)
	}
	// Importing the same export again adds nothing.
	if again, err := c.Import(imp); err != nil || len(again) != 0 {
		t.Fatalf("second import: %v %+v", err, again)
	}
}

func TestAFailedImportAddsNothing(t *testing.T) {
	c, home := newHome(t)
	imp, err := enroll.ParseImport([]byte(aegisExport))
	if err != nil {
		t.Fatal(err)
	}
	mustAdd(t, c, aliceOTP.String())
	failVaultWrites(t)
	before := snapshot(t, home)
	if _, err := c.Import(imp); err == nil {
		t.Fatal("import with a failing disk succeeded")
	}
	wantSameFiles(t, before, snapshot(t, home))
	if got := labelsOf(c.Accounts()); len(got) != 1 {
		t.Fatalf("accounts after a failed import: %v", got)
	}
}

func TestReadImportReadsFilesAndSaysWhenItIsGivenASingleAccount(t *testing.T) {
	dir := t.TempDir()
	aegis := filepath.Join(dir, "aegis.json")
	os.WriteFile(aegis, []byte(aegisExport), 0o600)
	imp, err := ReadImport(aegis)
	if err != nil || imp.Source != enroll.SourceAegis {
		t.Fatalf("Aegis file: %v %+v", err, imp)
	}
	single := writePNG(t, totpURI("Example", "alice"))
	if _, err := ReadImport(single); err == nil || !strings.Contains(err.Error(), "assent add") {
		t.Fatalf("a QR of one account: %v, want a hint to add it", err)
	}
	if _, err := ReadImport(filepath.Join(dir, "missing.json")); err == nil {
		t.Fatal("a missing file was imported")
	}
}

func TestAddOTPAuthChecksAHandMadeAccountLikeAScannedOne(t *testing.T) {
	c, _ := newHome(t)
	a, err := c.AddOTPAuth(&enroll.OTPAuth{Issuer: "Example", Account: "alice", Secret: []byte("0123456789")})
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != KindTOTP || a.Digits != 6 || a.Period != 30 || a.Algorithm != "SHA1" {
		t.Fatalf("defaults not filled in: %+v", a)
	}
	if _, err := c.AddOTPAuth(&enroll.OTPAuth{Issuer: "Example", Account: "bob", Secret: []byte("short")}); err == nil {
		t.Fatal("a five-byte secret was accepted")
	}
	if _, err := c.AddOTPAuth(&enroll.OTPAuth{Issuer: "Example", Account: "", Secret: []byte("0123456789")}); err == nil {
		t.Fatal("an account without a name was accepted")
	}
}

package enroll

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// Exports come from files and QR codes anyone can make. Whatever they hold,
// the importers must not panic, every account they accept must be one
// ParseOTPAuth accepts too (the vault keeps accounts as they are), and the
// names of skipped entries must be safe to show.

func FuzzParseMigration(f *testing.F) {
	f.Add(googleWikiExport)
	secret := []byte("0123456789abcdefghij")
	f.Add(migrationURI(payloadOf(
		otpEntry(secret, "bob@example.com", "ACME", 2, 2, 2, 0),
		otpEntry(secret, "Corp:carol", "", 3, 1, 1, 42),
		otpEntry(secret, "old", "Legacy", 4, 1, 2, 0),
	)))
	f.Add("otpauth-migration://offline?data=CgA%3D")
	f.Add("otpauth-migration://offline?data=")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		imp, err := ParseMigration(s)
		if err != nil {
			if imp != nil {
				t.Fatalf("ParseMigration returned %+v with error %v", imp, err)
			}
			return
		}
		checkImport(t, imp)
		// What was read writes back to the same accounts.
		if enc, err := EncodeMigration(imp.Accounts); err == nil && len(imp.Accounts) > 0 {
			again, err := ParseMigration(enc)
			if err != nil {
				t.Fatalf("ParseMigration of EncodeMigration: %v", err)
			}
			if !reflect.DeepEqual(again.Accounts, imp.Accounts) {
				t.Fatalf("round trip changed the accounts:\n%+v\n%+v", imp.Accounts, again.Accounts)
			}
		}
	})
}

func FuzzParseAegis(f *testing.F) {
	plain, err := os.ReadFile("testdata/aegis-plain.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(plain)
	for _, n := range []string{"aegis_plain.json", "aegis_encrypted.json"} {
		b, err := os.ReadFile("testdata/importers/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"version":1,"header":{"slots":null},"db":{"version":2,"entries":[{"type":"hotp","name":"a:b","issuer":"","info":{"secret":"JBSWY3DPEHPK3PXP","counter":1}}]}}`))
	f.Add([]byte(`{"version":1,"header":{"slots":[{}]},"db":"AAAA"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		imp, err := ParseAegis(b)
		if err != nil {
			if imp != nil {
				t.Fatalf("ParseAegis returned %+v with error %v", imp, err)
			}
			return
		}
		checkImport(t, imp)
	})
}

func checkImport(t *testing.T, imp *Import) {
	t.Helper()
	if len(imp.Accounts)+len(imp.Skipped) == 0 {
		t.Fatal("an import with nothing in it was accepted")
	}
	for _, o := range imp.Accounts {
		checkOTPAuthRoundTrip(t, o)
	}
	for _, s := range imp.Skipped {
		if s.Label == "" || s.Reason == "" || !utf8.ValidString(s.Label) || utf8.RuneCountInString(s.Label) > 81 {
			t.Fatalf("skipped entry %+v is not fit to show", s)
		}
		if strings.IndexFunc(s.Label, isDisplayControl) >= 0 {
			t.Fatalf("skipped entry label %q holds a control character", s.Label)
		}
	}
}

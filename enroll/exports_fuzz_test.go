package enroll

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// The importers of other apps' exports, fuzzed with the real export files
// (testdata/importers) as seeds. Whatever a file holds: no panic, an error
// or an import (never both), accounts that survive a round trip through
// their URI, skipped entries fit to show (checkImport).

func addImporterSeeds(f *testing.F, names ...string) {
	f.Helper()
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join("testdata/importers", n))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func fuzzImporter(f *testing.F, parse func([]byte) (*Import, error)) {
	f.Fuzz(func(t *testing.T, b []byte) {
		imp, err := parse(b)
		if err != nil {
			if imp != nil {
				t.Fatalf("returned %+v with error %v", imp, err)
			}
			return
		}
		checkImport(t, imp)
	})
}

func Fuzz2FAS(f *testing.F) {
	addImporterSeeds(f, "2fas_authenticator.json", "2fas_authenticator_plain.2fas", "2fas_authenticator_plain_v3.2fas",
		"2fas_authenticator_plain_v4.2fas", "2fas_authenticator_encrypted_v4.2fas")
	f.Add([]byte(`{"services":[{"name":"I","secret":"JBSWY3DPEHPK3PXP","otp":{"tokenType":"STEAM","digits":5}}]}`))
	// With the seed file's password, so the fuzzer reaches the decrypted
	// services too.
	fuzzImporter(f, func(b []byte) (*Import, error) { return Parse2FASPassword(b, "test") })
}

func FuzzAndOTP(f *testing.F) {
	addImporterSeeds(f, "andotp_plain.json")
	f.Add([]byte(`[{"secret":"JBSWY3DPEHPK3PXP","issuer":"I","label":"a","type":"HOTP","counter":3,"digits":7}]`))
	f.Add([]byte(`[]`))
	fuzzImporter(f, ParseAndOTP)
}

func FuzzFreeOTPPlus(f *testing.F) {
	addImporterSeeds(f, "freeotp_plus.json")
	f.Add([]byte(`{"tokens":[{"algo":"SHA1","counter":-1,"digits":6,"issuerExt":"I","label":"a","secret":[-1,2,3,4,5,6,7,8,9,10],"type":"HOTP"}]}`))
	fuzzImporter(f, ParseFreeOTPPlus)
}

func FuzzBitwardenJSON(f *testing.F) {
	addImporterSeeds(f, "bitwarden.json")
	f.Add([]byte(`{"encrypted":false,"items":[{"name":"Site","login":{"username":"a","totp":"JBSWY3DPEHPK3PXP"}}]}`))
	fuzzImporter(f, ParseBitwardenJSON)
}

func FuzzBitwardenCSV(f *testing.F) {
	addImporterSeeds(f, "bitwarden.csv")
	f.Add([]byte("name,login_username,login_totp\nSite,a,JBSWY3DPEHPK3PXP\n\"x\ny\",,steam://JRZCL47CMXVOQMNPZR2F7J4RGI\n"))
	fuzzImporter(f, ParseBitwardenCSV)
}

// FuzzAegisEncrypted opens encrypted Aegis vaults with the right password.
// Its own seed uses scrypt N=2^4 so that the fuzzer can run it often; the
// real file (N=2^15) is a seed too.
func FuzzAegisEncrypted(f *testing.F) {
	addImporterSeeds(f, "aegis_encrypted.json")
	db := testDB(goodAegisEntry, damagedAegisEntry,
		`{"type":"steam","name":"Sophia","issuer":"Boeing","info":{"secret":"JRZCL47CMXVOQMNPZR2F7J4RGI","algo":"SHA1","digits":5,"period":30}}`)
	f.Add(sealAegis(f, db, "test", 1<<4, 1, 1))
	fuzzImporter(f, func(b []byte) (*Import, error) {
		imp, err := ParseAegisPassword(b, "test")
		if errors.Is(err, ErrPasswordNeeded) {
			panic("a password was given, yet the error asks for one")
		}
		return imp, err
	})
}

// FuzzParseImport tells the formats apart: every real file is a seed.
func FuzzParseImport(f *testing.F) {
	files, err := filepath.Glob("testdata/importers/*")
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range files {
		if filepath.Ext(n) != ".md" {
			addImporterSeeds(f, filepath.Base(n))
		}
	}
	f.Add([]byte("\xef\xbb\xbf[]"))
	fuzzImporter(f, ParseImport)
}

package enroll

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseAegisReadsAPlainExport(t *testing.T) {
	data, err := os.ReadFile("testdata/aegis-plain.json")
	if err != nil {
		t.Fatal(err)
	}
	imp, err := ParseAegis(data)
	if err != nil {
		t.Fatal(err)
	}
	// 7 digits and Steam, which Assent once refused, are read like the rest.
	want := []*OTPAuth{
		{Type: "totp", Issuer: "Deno", Account: "Mason", Secret: mustB32(t, "4SJHB4GSD43FZBAI7C2HLRJGPQ"), Algorithm: "SHA1", Digits: 6, Period: 30},
		{Type: "totp", Issuer: "SPDX", Account: "James", Secret: mustB32(t, "5OM4WOOGPLQEF6UGN3CPEOOLWU"), Algorithm: "SHA256", Digits: 7, Period: 20},
		{Type: "hotp", Issuer: "Air Canada", Account: "Jeremy", Secret: mustB32(t, "KUVJJOM753IHTNDSZVCNKL7GII"), Algorithm: "SHA512", Digits: 8, Counter: 50},
		{Type: "steam", Issuer: "Boeing", Account: "Sophia", Secret: mustB32(t, "JRZCL47CMXVOQMNPZR2F7J4RGI"), Algorithm: "SHA1", Digits: 5, Period: 30},
		{Type: "totp", Issuer: "Mongo", Account: "Sophie", Secret: mustB32(t, "DATDTWM3LLOO7MQA3QO5WDWXGI"), Algorithm: "SHA512", Digits: 8, Period: 30},
	}
	if imp.Source != SourceAegis || !reflect.DeepEqual(imp.Accounts, want) {
		t.Fatalf("got %s %+v, want %+v", imp.Source, imp.Accounts, want)
	}
	if len(imp.Skipped) != 0 {
		t.Fatalf("skipped %+v, want nothing", imp.Skipped)
	}
}

func TestParseAegisAsksForThePasswordOfAnEncryptedExport(t *testing.T) {
	enc := `{"version":1,"header":{"slots":[{"type":1,"uuid":"x","key":"00","key_params":{}}],"params":{"nonce":"00","tag":"00"}},"db":"c2VjcmV0"}`
	for name, parse := range map[string]func([]byte) (*Import, error){"ParseAegis": ParseAegis, "ParseImport": ParseImport} {
		imp, err := parse([]byte(enc))
		var pe *PasswordError
		if imp != nil || !errors.Is(err, ErrPasswordNeeded) || errors.Is(err, ErrWrongPassword) || !errors.As(err, &pe) || pe.Source != "Aegis" {
			t.Fatalf("%s: got %+v, %v; want a *PasswordError asking for the password", name, imp, err)
		}
		if !strings.Contains(err.Error(), "Aegis export is encrypted") || !strings.Contains(err.Error(), "password") {
			t.Errorf("%s: %q does not say what to do", name, err)
		}
		if !errors.Is(err, ErrEncryptedExport) {
			t.Errorf("%s: the old name ErrEncryptedExport no longer matches", name)
		}
	}
}

func TestParseAegisRefusesWhatIsNotAnAegisExport(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      "{",
		"no version":    `{"db":{"version":2,"entries":[]}}`,
		"other version": `{"version":2,"header":{},"db":{"version":2,"entries":[]}}`,
		"db version":    `{"version":1,"header":{},"db":{"version":9,"entries":[]}}`,
		"no entries":    `{"version":1,"header":{},"db":{"version":2,"entries":[]}}`,
		"damaged db":    `{"version":1,"header":{},"db":{"version":2,"entries":{}}}`,
		"too big":       `{"version":1,"x":"` + strings.Repeat("a", maxAegisBytes) + `"}`,
	} {
		if _, err := ParseAegis([]byte(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseAegisSkipsEntriesWithBadSecrets(t *testing.T) {
	in := `{"version":1,"header":{"slots":null},"db":{"version":2,"entries":[
		{"type":"totp","name":"a","issuer":"I","info":{"secret":"!!","algo":"SHA1","digits":6,"period":30}},
		{"type":"totp","name":"b","issuer":"I","info":{"secret":"JBSWY3DPEHPK3PXP","algo":"MD5","digits":6,"period":30}},
		{"type":"totp","name":"c","issuer":"I","info":{"secret":"JBSWY3DPEHPK3PXP"}}]}}`
	imp, err := ParseAegis([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(imp.Accounts) != 1 || imp.Accounts[0].Label() != "I:c" || imp.Accounts[0].Period != 30 || imp.Accounts[0].Digits != 6 {
		t.Fatalf("want only I:c with defaults, got %+v", imp.Accounts)
	}
	if len(imp.Skipped) != 2 || !strings.Contains(imp.Skipped[0].Reason, "secret") || !strings.Contains(imp.Skipped[1].Reason, "algorithm") {
		t.Fatalf("skipped %+v", imp.Skipped)
	}
}

func TestParseURIListReadsOneURIALine(t *testing.T) {
	in := "# exported\n\notpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP\r\nnot a uri\notpauth://hotp/bob?secret=JBSWY3DPEHPK3PXP&counter=3\n"
	imp, err := ParseImport([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if imp.Source != SourceURIList || len(imp.Accounts) != 2 || imp.Accounts[1].Counter != 3 {
		t.Fatalf("got %+v", imp)
	}
	if len(imp.Skipped) != 1 || imp.Skipped[0].Label != "line 4" {
		t.Fatalf("skipped %+v, want line 4", imp.Skipped)
	}
}

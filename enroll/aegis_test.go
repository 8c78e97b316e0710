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
	want := []*OTPAuth{
		{Type: "totp", Issuer: "Deno", Account: "Mason", Secret: mustB32(t, "4SJHB4GSD43FZBAI7C2HLRJGPQ"), Algorithm: "SHA1", Digits: 6, Period: 30},
		{Type: "hotp", Issuer: "Air Canada", Account: "Jeremy", Secret: mustB32(t, "KUVJJOM753IHTNDSZVCNKL7GII"), Algorithm: "SHA512", Digits: 8, Counter: 50},
		{Type: "totp", Issuer: "Mongo", Account: "Sophie", Secret: mustB32(t, "DATDTWM3LLOO7MQA3QO5WDWXGI"), Algorithm: "SHA512", Digits: 8, Period: 30},
	}
	if imp.Source != SourceAegis || !reflect.DeepEqual(imp.Accounts, want) {
		t.Fatalf("got %s %+v, want %+v", imp.Source, imp.Accounts, want)
	}
	wantSkipped := []Skipped{
		{Label: "SPDX:James", Reason: "digits is 7: want 6 or 8"},
		{Label: "Boeing:Sophia", Reason: "steam codes are not supported"},
	}
	if !reflect.DeepEqual(imp.Skipped, wantSkipped) {
		t.Fatalf("skipped %+v, want %+v", imp.Skipped, wantSkipped)
	}
}

func TestParseAegisRefusesEncryptedExportsWithAWayOut(t *testing.T) {
	enc := `{"version":1,"header":{"slots":[{"type":1,"uuid":"x","key":"00","key_params":{}}],"params":{"nonce":"00","tag":"00"}},"db":"c2VjcmV0"}`
	_, err := ParseAegis([]byte(enc))
	if !errors.Is(err, ErrEncryptedExport) || !strings.Contains(err.Error(), "without encryption") {
		t.Fatalf("got %v, want ErrEncryptedExport telling how to export in plain", err)
	}
	_, err = ParseImport([]byte(enc))
	if !errors.Is(err, ErrEncryptedExport) {
		t.Fatalf("ParseImport: got %v", err)
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

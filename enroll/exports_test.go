package enroll

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/scrypt"
)

// aegisVectors are the accounts every file in testdata/importers was made
// from (Aegis's VaultEntries.java), keyed by label.
func aegisVectors(t testing.TB) map[string]*OTPAuth {
	return map[string]*OTPAuth{
		"Deno:Mason":          {Type: "totp", Issuer: "Deno", Account: "Mason", Secret: mustB32(t, "4SJHB4GSD43FZBAI7C2HLRJGPQ"), Algorithm: "SHA1", Digits: 6, Period: 30},
		"SPDX:James":          {Type: "totp", Issuer: "SPDX", Account: "James", Secret: mustB32(t, "5OM4WOOGPLQEF6UGN3CPEOOLWU"), Algorithm: "SHA256", Digits: 7, Period: 20},
		"Airbnb:Elijah":       {Type: "totp", Issuer: "Airbnb", Account: "Elijah", Secret: mustB32(t, "7ELGJSGXNCCTV3O6LKJWYFV2RA"), Algorithm: "SHA512", Digits: 8, Period: 50},
		"Issuu:James":         {Type: "hotp", Issuer: "Issuu", Account: "James", Secret: mustB32(t, "YOOMIXWS5GN6RTBPUFFWKTW5M4"), Algorithm: "SHA1", Digits: 6, Counter: 1},
		"Air Canada:Benjamin": {Type: "hotp", Issuer: "Air Canada", Account: "Benjamin", Secret: mustB32(t, "KUVJJOM753IHTNDSZVCNKL7GII"), Algorithm: "SHA256", Digits: 7, Counter: 50},
		"WWE:Mason":           {Type: "hotp", Issuer: "WWE", Account: "Mason", Secret: mustB32(t, "5VAML3X35THCEBVRLV24CGBKOY"), Algorithm: "SHA512", Digits: 8, Counter: 10300},
		"Boeing:Sophia":       {Type: "steam", Issuer: "Boeing", Account: "Sophia", Secret: mustB32(t, "JRZCL47CMXVOQMNPZR2F7J4RGI"), Algorithm: "SHA1", Digits: 5, Period: 30},
	}
}

var allSeven = []string{"Deno:Mason", "SPDX:James", "Airbnb:Elijah", "Issuu:James", "Air Canada:Benjamin", "WWE:Mason", "Boeing:Sophia"}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/importers/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Each real export imports completely, with the accounts it was made from.
// Where an app cannot hold a parameter, the vector is changed as that app
// changes it (as Aegis's own importer tests do).
func TestEveryFormatsRealExportImports(t *testing.T) {
	totpDefaults := func(o *OTPAuth) { o.Type, o.Algorithm, o.Digits, o.Period, o.Counter = "totp", "SHA1", 6, 30, 0 }
	asTOTP := func(o *OTPAuth) { // keeps algorithm and digits
		if o.Type == "hotp" {
			o.Type, o.Period, o.Counter = "totp", 30, 0
		}
	}
	tests := []struct {
		file, password, source string
		labels                 []string
		fix                    func(*OTPAuth)
	}{
		{"aegis_plain.json", "", SourceAegis, allSeven, nil},
		{"aegis_encrypted.json", "test", SourceAegis, allSeven, nil},
		{"andotp_plain.json", "", SourceAndOTP, allSeven, nil},
		{"plain.txt", "", SourceURIList, allSeven, nil},
		{"2fas_authenticator.json", "", Source2FAS, allSeven[:6], totpDefaults},
		{"2fas_authenticator_plain.2fas", "", Source2FAS, []string{"Deno:Mason", "Airbnb:Elijah", "Issuu:James", "WWE:Mason"}, asTOTP},
		{"2fas_authenticator_plain_v3.2fas", "", Source2FAS, allSeven[:6], nil},
		{"2fas_authenticator_plain_v4.2fas", "", Source2FAS, []string{"Deno:Mason", "Issuu:James", "Air Canada:Benjamin", "WWE:Mason", "Boeing:Sophia"}, nil},
		{"2fas_authenticator_encrypted_v4.2fas", "test", Source2FAS, []string{"Deno:Mason", "Issuu:James", "Air Canada:Benjamin", "WWE:Mason", "Boeing:Sophia"}, nil},
		{"freeotp_plus.json", "", SourceFreeOTPPlus, []string{"WWE:Mason", "Air Canada:Benjamin", "Issuu:James", "Airbnb:Elijah", "SPDX:James", "Deno:Mason"}, nil},
		{"bitwarden.json", "", SourceBitwarden, []string{"Deno:Mason", "SPDX:James", "Airbnb:Elijah", "Test Steam:Test Steam"}, nil},
		{"bitwarden.csv", "", SourceBitwarden, []string{"Deno:Mason", "SPDX:James", "Airbnb:Elijah", "Test 4:Test 4"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			imp, err := ParseImportPassword(readTestdata(t, tt.file), tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if imp.Source != tt.source || len(imp.Skipped) != 0 {
				t.Fatalf("source %q, skipped %+v; want %q, nothing skipped", imp.Source, imp.Skipped, tt.source)
			}
			vectors := aegisVectors(t)
			var got []string
			for _, o := range imp.Accounts {
				got = append(got, o.Label())
				want, ok := vectors[o.Label()]
				if !ok {
					// Bitwarden's Steam item is named by the item, not by Aegis.
					want = vectors["Boeing:Sophia"]
					want.Issuer, want.Account = o.Issuer, o.Account
				}
				if tt.fix != nil {
					tt.fix(want)
				}
				if !reflect.DeepEqual(o, want) {
					t.Errorf("%s:\n got %+v\nwant %+v", o.Label(), o, want)
				}
			}
			if !reflect.DeepEqual(got, tt.labels) {
				t.Errorf("accounts %q, want %q", got, tt.labels)
			}
		})
	}
}

func TestEncryptedExportsNeedTheRightPassword(t *testing.T) {
	for _, tt := range []struct{ file, source string }{
		{"aegis_encrypted.json", SourceAegis},
		{"2fas_authenticator_encrypted_v4.2fas", Source2FAS},
	} {
		data := readTestdata(t, tt.file)
		imp, err := ParseImport(data)
		var pe *PasswordError
		if imp != nil || !errors.Is(err, ErrPasswordNeeded) || !errors.As(err, &pe) || pe.Source != tt.source || pe.Wrong {
			t.Errorf("%s without a password: %+v, %v; want ErrPasswordNeeded from %s", tt.file, imp, err, tt.source)
		}
		for _, pw := range []string{"Test", "test ", "wrong", "\x00"} {
			imp, err = ParseImportPassword(data, pw)
			if imp != nil || !errors.Is(err, ErrWrongPassword) || errors.Is(err, ErrPasswordNeeded) {
				t.Errorf("%s with password %q: %+v, %v; want ErrWrongPassword", tt.file, pw, imp, err)
			}
			if err != nil && !strings.Contains(err.Error(), "wrong password for this "+tt.source+" export") {
				t.Errorf("%s: %q is not a clear message", tt.file, err)
			}
		}
	}
	// A plain export ignores a password.
	if imp, err := ParseImportPassword(readTestdata(t, "aegis_plain.json"), "anything"); err != nil || len(imp.Accounts) != 7 {
		t.Errorf("plain export with a password: %v", err)
	}
}

// sealAegis encrypts an Aegis db the way docs/vault.md describes, with
// scrypt parameters of the test's choosing: for tests of damaged files and
// for fuzz seeds cheap enough to run thousands of times.
func sealAegis(t testing.TB, db any, password string, n, r, p int) []byte {
	t.Helper()
	plain, err := json.Marshal(db)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(key, msg []byte) (ct, nonce, tag []byte) {
		block, _ := aes.NewCipher(key)
		aead, _ := cipher.NewGCM(block)
		nonce = make([]byte, 12)
		rand.Read(nonce)
		out := aead.Seal(nil, nonce, msg, nil)
		return out[:len(out)-16], nonce, out[len(out)-16:]
	}
	master := make([]byte, 32)
	rand.Read(master)
	salt := make([]byte, 32)
	rand.Read(salt)
	kek, err := scrypt.Key([]byte(password), salt, n, r, p, 32)
	if err != nil {
		t.Fatal(err)
	}
	wrapped, kn, kt := seal(kek, master)
	ct, dn, dt := seal(master, plain)
	f := map[string]any{
		"version": 1,
		"header": map[string]any{
			"slots": []any{
				map[string]any{"type": 2, "uuid": "b", "key": strings.Repeat("00", 32), "key_params": map[string]string{"nonce": strings.Repeat("00", 12), "tag": strings.Repeat("00", 16)}},
				map[string]any{"type": 1, "uuid": "p", "key": hex.EncodeToString(wrapped), "key_params": map[string]string{"nonce": hex.EncodeToString(kn), "tag": hex.EncodeToString(kt)},
					"n": n, "r": r, "p": p, "salt": hex.EncodeToString(salt)},
			},
			"params": map[string]string{"nonce": hex.EncodeToString(dn), "tag": hex.EncodeToString(dt)},
		},
		"db": base64.StdEncoding.EncodeToString(ct),
	}
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testDB(entries ...string) map[string]any {
	raw := make([]json.RawMessage, len(entries))
	for i, e := range entries {
		raw[i] = json.RawMessage(e)
	}
	return map[string]any{"version": 3, "entries": raw, "groups": []any{}}
}

const (
	goodAegisEntry    = `{"type":"totp","name":"alice","issuer":"Example","info":{"secret":"JBSWY3DPEHPK3PXP","algo":"SHA1","digits":6,"period":30}}`
	damagedAegisEntry = `{"type":"totp","name":"bob","issuer":"Example","info":{"secret":"JBSWY3DPEHPK3PXP","digits":"six"}}`
)

func TestAnEncryptedAegisExportWithDamageSaysWhatIsDamaged(t *testing.T) {
	const pw = "correct horse"
	good := sealAegis(t, testDB(goodAegisEntry, damagedAegisEntry, `[1,2]`), pw, 1<<10, 8, 1)
	imp, err := ParseImportPassword(good, pw)
	if err != nil {
		t.Fatal(err)
	}
	if len(imp.Accounts) != 1 || imp.Accounts[0].Label() != "Example:alice" {
		t.Fatalf("accounts %+v", imp.Accounts)
	}
	wantSkipped := []Skipped{
		{Label: "Example:bob", Reason: "the entry is damaged: info.digits is a JSON string, want int"},
		{Label: "entry 3", Reason: "the entry is damaged: it is a JSON array, want an object"},
	}
	if !reflect.DeepEqual(imp.Skipped, wantSkipped) {
		t.Fatalf("skipped %+v\nwant %+v", imp.Skipped, wantSkipped)
	}
	if _, err := ParseImportPassword(good, "wrong"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("wrong password: %v", err)
	}

	var f map[string]any
	mutate := func(change func(h, slot map[string]any)) []byte {
		json.Unmarshal(good, &f)
		h := f["header"].(map[string]any)
		change(h, h["slots"].([]any)[1].(map[string]any))
		b, _ := json.Marshal(f)
		return b
	}
	for name, tt := range map[string]struct {
		data []byte
		want string
	}{
		"db changed": {mutate(func(h, _ map[string]any) {
			db, _ := base64.StdEncoding.DecodeString(f["db"].(string))
			db[0] ^= 1
			f["db"] = base64.StdEncoding.EncodeToString(db)
		}), "do not match their checksum"},
		"db not base64":     {mutate(func(h, _ map[string]any) { f["db"] = "!!" }), "not base64"},
		"tag too short":     {mutate(func(h, _ map[string]any) { h["params"].(map[string]any)["tag"] = "00" }), "tag is not 16 bytes"},
		"no params":         {mutate(func(h, _ map[string]any) { delete(h, "params") }), "encryption parameters are damaged"},
		"salt not hex":      {mutate(func(_, s map[string]any) { s["salt"] = "xyz" }), "slot 2 is damaged: the salt"},
		"huge N":            {mutate(func(_, s map[string]any) { s["n"] = 1 << 30 }), "scrypt parameters N=1073741824"},
		"N not a power":     {mutate(func(_, s map[string]any) { s["n"] = 1000 }), "N a power of two"},
		"huge p":            {mutate(func(_, s map[string]any) { s["p"] = 1 << 20 }), "p at most 4"},
		"zero r":            {mutate(func(_, s map[string]any) { s["r"] = 0 }), "out of range"},
		"huge r":            {mutate(func(_, s map[string]any) { s["r"] = 1 << 30 }), "out of range"},
		"key too short":     {mutate(func(_, s map[string]any) { s["key"] = "00" }), "wrapped key is not 32 bytes"},
		"slots not a list":  {mutate(func(h, _ map[string]any) { h["slots"] = "x" }), "key slots are damaged"},
		"biometric only":    {mutate(func(h, _ map[string]any) { h["slots"] = h["slots"].([]any)[:1] }), "only with biometrics"},
		"db not vault JSON": {sealAegis(t, []int{1}, pw, 1<<10, 8, 1), "the db is damaged"},
	} {
		start := time.Now()
		imp, err := ParseImportPassword(tt.data, pw)
		if err == nil || imp != nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %+v, %v; want an error mentioning %q", name, imp, err, tt.want)
		}
		if d := time.Since(start); d > 30*time.Second {
			t.Errorf("%s: took %v", name, d) // scrypt bounds hold; not a timing assertion on speed
		}
	}
}

func TestDamagedEntriesAreSkippedByNameInEveryFormat(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Skipped
	}{
		{"andOTP", `[{"secret":"JBSWY3DPEHPK3PXP","issuer":"I","label":"a","type":"TOTP"},
			{"secret":"JBSWY3DPEHPK3PXP","issuer":"I","label":"b","type":"MOTP"},
			{"secret":"!!","issuer":"I","label":"c","type":"TOTP"},
			{"secret":"JBSWY3DPEHPK3PXP","issuer":"I","label":"d","digits":11},
			"not an object"]`,
			[]Skipped{
				{"I:b", "motp codes are not supported"},
				{"I:c", `secret contains "!": want the shared key in base32 (A-Z, 2-7)`},
				{"I:d", "digits is 11: want 5 to 10 (usually 6 or 8)"},
				{"entry 5", "the entry is damaged: it is a JSON string, want an object"},
			}},
		{"2FAS", `{"schemaVersion":4,"services":[{"name":"I","secret":"JBSWY3DPEHPK3PXP","otp":{"account":"a"}},
			{"name":"I","secret":"JBSWY3DPEHPK3PXP","otp":{"account":"b","tokenType":"YANDEX"}},
			{"name":"I","secret":"JBSWY3DPEHPK3PXP","otp":{"account":"c","digits":"6"}},
			{"name":"I","secret":"JBSWY3DPEHPK3PXP","otp":{"account":"d","tokenType":"STEAM","digits":6}}]}`,
			[]Skipped{
				{"I:b", "yandex codes are not supported"},
				{"I:c", "the entry is damaged: otp.digits is a JSON string, want int"},
				{"I:d", "digits is 6: want 5 for a Steam account"},
			}},
		{"FreeOTP+", `{"tokens":[{"algo":"SHA1","digits":6,"issuerExt":"I","label":"a","period":30,"secret":[1,2,3,4,5,6,7,8,9,10],"type":"TOTP"},
			{"algo":"MD5","digits":6,"issuerExt":"I","label":"b","period":30,"secret":[1,2,3,4,5,6,7,8,9,10],"type":"TOTP"},
			{"algo":"SHA1","digits":6,"issuerExt":"I","label":"c","secret":[1,2,3,4,5,6,7,8,9,1000],"type":"TOTP"},
			{"algo":"SHA1","digits":6,"issuerExt":"I","label":"d","counter":-2,"secret":[1,2,3,4,5,6,7,8,9,10],"type":"HOTP"},
			{"algo":"SHA1","issuerExt":"I","label":"e","secret":[1,2,3],"type":"TOTP"}]}`,
			[]Skipped{
				{"I:b", `algorithm is "MD5": want SHA1, SHA256 or SHA512`},
				{"I:c", "secret holds 1000: want bytes (-128 to 255)"},
				{"I:d", "counter is -2: want a whole number from -1 (FreeOTP's counter before the first code)"},
				{"I:e", "secret decodes to 3 bytes: want 10 to 128 bytes (80 to 1024 bits)"},
			}},
		{"Bitwarden JSON", `{"encrypted":false,"items":[
			{"name":"Site","type":1,"login":{"username":"a","totp":"JBSWY3DPEHPK3PXP"}},
			{"name":"Password only","type":1,"login":{"username":"a","password":"x","totp":null}},
			{"name":"Note","type":2,"notes":"x"},
			{"name":"Bad","type":1,"login":{"username":"b","totp":"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP&digits=12"}},
			{"name":"Damaged","login":{"totp":42}}]}`,
			[]Skipped{
				{"Bad:b", "digits is 12: want 5 to 10 (usually 6 or 8)"},
				{"Damaged", "the entry is damaged: login.totp is a JSON number, want string"},
			}},
		{"Bitwarden CSV", "folder,favorite,type,name,notes,fields,login_uri,login_username,login_password,login_totp\n" +
			",,login,Site,,,,a,,JBSWY3DPEHPK3PXP\n" +
			",,login,No TOTP,,,,a,pw,\n" +
			",,login,Bad,,,,b,,steam://ABC\n" +
			",,login,,,,,,,\"multi\nline\"\n",
			[]Skipped{
				{"Bad:b", "secret has 3 base32 characters, which is not a whole number of bytes: want the shared key in base32 (A-Z, 2-7)"},
				{"line 5", `secret contains "\n": want the shared key in base32 (A-Z, 2-7)`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			imp, err := ParseImport([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if len(imp.Accounts) != 1 || !strings.HasSuffix(imp.Accounts[0].Label(), ":a") {
				t.Errorf("accounts %+v, want only the good one", imp.Accounts)
			}
			if !reflect.DeepEqual(imp.Skipped, tt.want) {
				t.Errorf("skipped\n got %q\nwant %q", imp.Skipped, tt.want)
			}
		})
	}
}

func TestDamagedFilesAreRefusedWithAReason(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`{"services":{}}`, "2FAS backup: the 2FAS service list is damaged"},
		{`{"services":[]}`, "2FAS export holds no accounts"},
		{`{"servicesEncrypted":"a:b"}`, "password"},
		{`[]`, "andOTP export holds no accounts"},
		{`[1,`, "not an andOTP backup"},
		{`{"tokens":5}`, "FreeOTP+ export: the FreeOTP+ token list is damaged"},
		{`{"encrypted":true,"passwordProtected":true,"data":"x"}`, "Bitwarden export is encrypted"},
		{`{"encrypted":false,"items":[{"name":"no totp","login":{}}]}`, "Bitwarden export has no item with a TOTP key"},
		{"folder,favorite,type,name,login_totp\n\"unclosed", "line 2 is damaged"},
		{`{"something":"else"}`, "JSON file Assent does not recognise"},
		{"name,login_uri\nx,y", "not an export Assent reads"},
		{`{"version":1,"header":{"slots":null},"db":{"version":3,"entries":5}}`, "Aegis export: the Aegis entry list is damaged"},
		{`[` + strings.Repeat(`{},`, maxImportEntries) + `{}]`, "holds 1001 entries"},
	} {
		imp, err := ParseImport([]byte(tt.in))
		if err == nil || imp != nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.50q: got %+v, %v; want an error mentioning %q", tt.in, imp, err, tt.want)
		}
	}
	// A 2FAS backup whose encrypted part is damaged (not a wrong password).
	if _, err := ParseImportPassword([]byte(`{"servicesEncrypted":"a:b"}`), "x"); err == nil || !strings.Contains(err.Error(), "want 3 parts") {
		t.Errorf("damaged 2FAS encryption: %v", err)
	}
	if _, err := ParseImportPassword([]byte(`{"servicesEncrypted":"AAAA:AAAA:AAAA"}`), "x"); err == nil || !strings.Contains(err.Error(), "wrong length") {
		t.Errorf("2FAS nonce of 3 bytes: %v", err)
	}
}

func TestEncodeMigrationRefusesWhatGoogleCannotHold(t *testing.T) {
	v := aegisVectors(t)
	for label, want := range map[string]string{"SPDX:James": "7-digit", "Boeing:Sophia": "Steam"} {
		if _, err := EncodeMigration([]*OTPAuth{v[label]}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error mentioning %q", label, err, want)
		}
	}
	if _, err := EncodeMigration([]*OTPAuth{v["Issuu:James"], v["WWE:Mason"]}); err != nil {
		t.Error(err)
	}
}

func ExampleParseImportPassword() {
	data, _ := os.ReadFile("testdata/importers/aegis_encrypted.json")
	_, err := ParseImport(data)
	if errors.Is(err, ErrPasswordNeeded) {
		// Ask the person for the password, then:
		imp, err := ParseImportPassword(data, "test")
		if err != nil {
			return
		}
		fmt.Println(imp.Source, len(imp.Accounts), "accounts")
	}
	// Output: Aegis 7 accounts
}

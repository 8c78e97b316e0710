package enroll

import (
	"encoding/base64"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// googleWikiExport is the Google wiki's example account as Google
// Authenticator exports it (algorithm and digits left unspecified).
const googleWikiExport = "otpauth-migration://offline?data=CjEKCkhlbGxvId6tvu8SGEV4YW1wbGU6YWxpY2VAZ29vZ2xlLmNvbRoHRXhhbXBsZTAC"

func migrationURI(payload []byte) string {
	return "otpauth-migration://offline?data=" + url.QueryEscape(base64.StdEncoding.EncodeToString(payload))
}

// otpEntry builds one OtpParameters message field by field.
func otpEntry(secret []byte, name, issuer string, alg, digits, typ uint64, counter uint64) []byte {
	var e []byte
	e = protowire.AppendTag(e, migOTPSecret, protowire.BytesType)
	e = protowire.AppendBytes(e, secret)
	e = protowire.AppendTag(e, migOTPName, protowire.BytesType)
	e = protowire.AppendString(e, name)
	if issuer != "" {
		e = protowire.AppendTag(e, migOTPIssuer, protowire.BytesType)
		e = protowire.AppendString(e, issuer)
	}
	for _, f := range []struct {
		n protowire.Number
		v uint64
	}{{migOTPAlgorithm, alg}, {migOTPDigits, digits}, {migOTPType, typ}, {migOTPCounter, counter}} {
		e = protowire.AppendTag(e, f.n, protowire.VarintType)
		e = protowire.AppendVarint(e, f.v)
	}
	return e
}

func payloadOf(entries ...[]byte) []byte {
	var b []byte
	for _, e := range entries {
		b = protowire.AppendTag(b, migPayloadOTP, protowire.BytesType)
		b = protowire.AppendBytes(b, e)
	}
	return b
}

func TestParseMigrationReadsTheGoogleWikiAccount(t *testing.T) {
	imp, err := ParseMigration(googleWikiExport)
	if err != nil {
		t.Fatal(err)
	}
	want := &OTPAuth{Type: "totp", Issuer: "Example", Account: "alice@google.com", Secret: helloSecret, Algorithm: "SHA1", Digits: 6, Period: 30}
	if imp.Source != SourceGoogle || len(imp.Accounts) != 1 || len(imp.Skipped) != 0 {
		t.Fatalf("want one Google account, got %+v", imp)
	}
	if !reflect.DeepEqual(imp.Accounts[0], want) {
		t.Fatalf("got %+v, want %+v", imp.Accounts[0], want)
	}
}

func TestParseMigrationMapsEveryFieldAndSkipsWhatCannotBeUsed(t *testing.T) {
	secret := []byte("0123456789abcdefghij")
	payload := payloadOf(
		otpEntry(secret, "bob@example.com", "ACME", 2, 2, 2, 0),        // SHA256, 8 digits, TOTP
		otpEntry(secret, "Corp:carol", "", 3, 1, 1, 42),                // SHA512, HOTP, issuer from the name
		otpEntry(secret, "old", "Legacy", 4, 1, 2, 0),                  // MD5
		otpEntry([]byte("short"), "tiny", "Tiny", 1, 1, 2, 0),          // secret too short
		otpEntry(secret, "weird", "Odd", 1, 1, 9, 0),                   // unknown type
		otpEntry(secret, "ACME:dave", "ACME", 1, 1, 2, 0),              // name repeats the issuer
		otpEntry(secret, "evil\u202ename", "Bad", 1, 1, 2, 0),          // bidi override
		otpEntry(secret, strings.Repeat("x", 300), "Long", 1, 1, 2, 0), // too long
		otpEntry(secret, "nine", "Nine", 1, 3, 2, 0),                   // unknown digits
		otpEntry(secret, "minus", "Neg", 1, 1, 1, 1<<63),               // negative counter
		otpEntry(secret, "Issuer only", "", 1, 1, 2, 0),                // no issuer at all
		otpEntry(secret, "Other:erin", "Different", 1, 1, 2, 0),        // prefix is not the issuer
		otpEntry(secret, "alg", "Alg", 7, 1, 2, 0),                     // unknown algorithm
		otpEntry(secret, "colon:in:name", "", 1, 1, 2, 0),              // still a colon
		otpEntry(secret, "", "OnlyIssuer", 1, 1, 2, 0),                 // no name
		otpEntry(make([]byte, 129), "huge", "Huge", 1, 1, 2, 0),        // secret too long
		otpEntry(secret, "zero", "Zero", 0, 0, 0, 0),                   // every default
		otpEntry(secret, "eight", "Eight", 1, 2, 1, 18446744073709551), // HOTP with a big counter
	)
	payload = protowire.AppendTag(payload, migPayloadVersion, protowire.VarintType)
	payload = protowire.AppendVarint(payload, 1)
	payload = protowire.AppendTag(payload, 99, protowire.BytesType) // unknown field
	payload = protowire.AppendBytes(payload, []byte("future"))
	imp, err := ParseMigration(migrationURI(payload))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*OTPAuth{}
	for _, o := range imp.Accounts {
		got[o.Label()] = o
	}
	wantAccounts := map[string]OTPAuth{
		"ACME:bob@example.com":  {Type: "totp", Issuer: "ACME", Account: "bob@example.com", Secret: secret, Algorithm: "SHA256", Digits: 8, Period: 30},
		"Corp:carol":            {Type: "hotp", Issuer: "Corp", Account: "carol", Secret: secret, Algorithm: "SHA512", Digits: 6, Counter: 42},
		"ACME:dave":             {Type: "totp", Issuer: "ACME", Account: "dave", Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30},
		"Issuer only":           {Type: "totp", Account: "Issuer only", Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30},
		"OnlyIssuer:OnlyIssuer": {Type: "totp", Issuer: "OnlyIssuer", Account: "OnlyIssuer", Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30},
		"Zero:zero":             {Type: "totp", Issuer: "Zero", Account: "zero", Secret: secret, Algorithm: "SHA1", Digits: 6, Period: 30},
		"Eight:eight":           {Type: "hotp", Issuer: "Eight", Account: "eight", Secret: secret, Algorithm: "SHA1", Digits: 8, Counter: 18446744073709551},
	}
	if len(got) != len(wantAccounts) {
		t.Fatalf("imported %v, want %d accounts", keys(got), len(wantAccounts))
	}
	for label, want := range wantAccounts {
		o := got[label]
		if o == nil {
			t.Fatalf("missing %s; imported %v", label, keys(got))
		}
		if !reflect.DeepEqual(*o, want) {
			t.Errorf("%s: got %+v, want %+v", label, *o, want)
		}
	}
	wantSkipped := map[string]string{
		"Legacy:old":    "MD5",
		"Tiny:tiny":     "secret",
		"Odd:weird":     "unknown code type",
		"Nine:nine":     "digit",
		"Neg:minus":     "negative",
		"Alg:alg":       "unknown algorithm",
		"Huge:huge":     "secret",
		"colon:in:name": "colon",
		// "Other:erin" under issuer "Different" keeps its colon, which an
		// account name may not hold: skipped, not renamed.
		"Different:Other:erin": "colon",
	}
	skipped := map[string]string{}
	for _, s := range imp.Skipped {
		skipped[s.Label] = s.Reason
	}
	for label, why := range wantSkipped {
		if !strings.Contains(skipped[label], why) {
			t.Errorf("skipped %s: reason %q, want it to mention %q (all: %v)", label, skipped[label], why, skipped)
		}
	}
	// The bidi and overlong names are skipped and named without the
	// control character, cut short.
	for _, s := range imp.Skipped {
		if strings.ContainsRune(s.Label, '\u202e') || len([]rune(s.Label)) > 81 {
			t.Errorf("skipped entry shown as %q", s.Label)
		}
	}
	if n := len(imp.Accounts) + len(imp.Skipped); n != 18 {
		t.Errorf("accounted for %d of 18 entries", n)
	}
}

func keys(m map[string]*OTPAuth) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestParseMigrationAcceptsTheBase64VariantsToolsWrite(t *testing.T) {
	payload := payloadOf(otpEntry(helloSecret, "alice", "Example", 1, 1, 2, 0))
	std := base64.StdEncoding.EncodeToString(payload)
	for name, data := range map[string]string{
		"escaped":        url.QueryEscape(std),
		"unescaped plus": std,
		"unpadded":       strings.TrimRight(std, "="),
		"url alphabet":   base64.URLEncoding.EncodeToString(payload),
	} {
		imp, err := ParseMigration("  otpauth-migration://offline?data=" + data + "\n")
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if len(imp.Accounts) != 1 || imp.Accounts[0].Label() != "Example:alice" {
			t.Errorf("%s: got %+v", name, imp.Accounts)
		}
	}
}

func TestParseMigrationReadsBatchNumbers(t *testing.T) {
	payload := payloadOf(otpEntry(helloSecret, "alice", "Example", 1, 1, 2, 0))
	for _, f := range []struct {
		n protowire.Number
		v uint64
	}{{migPayloadVersion, 1}, {migPayloadBatchSize, 3}, {migPayloadBatchIndex, 2}, {migPayloadBatchID, 77}} {
		payload = protowire.AppendTag(payload, f.n, protowire.VarintType)
		payload = protowire.AppendVarint(payload, f.v)
	}
	imp, err := ParseMigration(migrationURI(payload))
	if err != nil {
		t.Fatal(err)
	}
	if imp.BatchIndex != 2 || imp.BatchSize != 3 {
		t.Fatalf("batch %d of %d, want index 2 of 3", imp.BatchIndex, imp.BatchSize)
	}
}

func TestParseMigrationRefusesMalformedLinks(t *testing.T) {
	good := payloadOf(otpEntry(helloSecret, "alice", "Example", 1, 1, 2, 0))
	truncated := good[:len(good)-3]
	badBatch := protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), good...), migPayloadBatchIndex, protowire.VarintType), 5)
	newer := protowire.AppendVarint(protowire.AppendTag(append([]byte(nil), good...), migPayloadVersion, protowire.VarintType), 2)
	tests := map[string]struct{ in, want string }{
		"other scheme":       {"otpauth://totp/a?secret=JBSWY3DPEHPK3PXP", "not a Google Authenticator export"},
		"not offline":        {"otpauth-migration://online?data=AA", "offline"},
		"no data":            {"otpauth-migration://offline?x=1", "missing"},
		"data twice":         {"otpauth-migration://offline?data=AA&data=AA", "appears 2 times"},
		"bad escape":         {"otpauth-migration://offline?data=%zz", "percent-encoding"},
		"not base64":         {"otpauth-migration://offline?data=***", "not base64"},
		"truncated":          {migrationURI(truncated), "damaged"},
		"empty payload":      {migrationURI(nil), "no accounts"},
		"batch out of range": {migrationURI(badBatch), "batch"},
		"newer version":      {migrationURI(newer), "version 2"},
		"too long":           {"otpauth-migration://offline?data=" + strings.Repeat("A", maxMigrationURILen), "bytes long"},
	}
	for name, tt := range tests {
		_, err := ParseMigration(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", name, err, tt.want)
		}
	}
}

func TestEncodeMigrationRoundTrips(t *testing.T) {
	in := []*OTPAuth{
		{Type: "totp", Issuer: "Example", Account: "alice", Secret: helloSecret, Algorithm: "SHA1", Digits: 6, Period: 30},
		{Type: "hotp", Issuer: "", Account: "bob", Secret: []byte("0123456789"), Algorithm: "SHA512", Digits: 8, Counter: 7},
	}
	s, err := EncodeMigration(in)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := ParseMigration(s)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(imp.Accounts, in) {
		t.Fatalf("round trip: got %+v, want %+v", imp.Accounts, in)
	}
	if _, err := EncodeMigration([]*OTPAuth{{Type: "totp", Account: "x", Secret: helloSecret, Period: 60}}); err == nil {
		t.Fatal("a 60-second period was written to a format without periods")
	}
}

func TestParseRefersAMigrationLinkToImport(t *testing.T) {
	_, err := Parse(googleWikiExport)
	if err == nil || !strings.Contains(err.Error(), "imported") {
		t.Fatalf("got %v, want a hint to import", err)
	}
	imp, err := ParseImport([]byte("\n" + googleWikiExport + "\n"))
	if err != nil || len(imp.Accounts) != 1 {
		t.Fatalf("ParseImport: %v, %+v", err, imp)
	}
}

func TestParseImportRefusesUnknownInput(t *testing.T) {
	for _, in := range []string{"", "   ", "hello", "assent://enroll?v=1"} {
		if _, err := ParseImport([]byte(in)); err == nil {
			t.Errorf("%q: imported", in)
		}
	}
	var fe *FieldError
	if _, err := ParseImport([]byte("hello")); errors.As(err, &fe) {
		t.Errorf("a FieldError for text that is no export: %v", err)
	}
}

func TestParseMigrationNamesADamagedOrUnprintableEntryByItsPlace(t *testing.T) {
	secret := []byte("0123456789abcdefghij")
	damaged := protowire.AppendTag(nil, migOTPSecret, protowire.BytesType)
	damaged = protowire.AppendBytes(damaged, secret)
	damaged = protowire.AppendTag(damaged, 5, protowire.EndGroupType) // an end marker with no group
	payload := payloadOf(
		otpEntry(secret, "bob@example.com", "ACME", 1, 1, 2, 0),
		damaged,
		otpEntry(secret, "\u202e\x07", "", 4, 1, 2, 0), // MD5, and nothing printable in its name
		otpEntry(secret, "dana", "ACME", 4, 1, 2, 0),   // MD5, named
	)
	imp, err := ParseMigration(migrationURI(payload))
	if err != nil {
		t.Fatal(err)
	}
	checkImport(t, imp)
	var got []string
	for _, s := range imp.Skipped {
		got = append(got, s.Label)
	}
	if want := []string{"entry 2", "entry 3", "ACME:dana"}; !slices.Equal(got, want) {
		t.Fatalf("skipped %q, want %q", got, want)
	}
	// What the fuzzer found: one damaged entry, read from a link in odd
	// case.
	imp, err = ParseMigration("otpAuth-migrAtion://offline?data=CjU10000000000000A00ChQ00000000000000000000000000BIBA000000000000000000000000000")
	if err != nil {
		t.Fatal(err)
	}
	checkImport(t, imp)
	if len(imp.Skipped) != 1 || imp.Skipped[0].Label != "entry 1" || !strings.Contains(imp.Skipped[0].Reason, "damaged entry") {
		t.Fatalf("skipped %+v, want entry 1 as damaged", imp.Skipped)
	}
}

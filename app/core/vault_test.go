package core

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/internal/fakeclock"
)

// rfcSecret is the key of the RFC 4226 and RFC 6238 test vectors.
const rfcSecret = "12345678901234567890"

var rfcSecretB32 = base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString([]byte(rfcSecret))

// rfc4226Codes are the HOTP values of RFC 4226 appendix D, counters 0 to 9.
var rfc4226Codes = []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}

func TestAddOTPTakesTOTPAndHOTPURIs(t *testing.T) {
	tests := []struct {
		name string
		uri  string
		want Account
	}{
		{"TOTP with defaults", "otpauth://totp/Example:alice@example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
			Account{Kind: KindTOTP, Issuer: "Example", Name: "alice@example.com", Algorithm: "SHA1", Digits: 6, Period: 30}},
		{"TOTP with every parameter", "otpauth://totp/Big%20Bank:bob?secret=" + rfcSecretB32 + "&algorithm=SHA256&digits=8&period=60",
			Account{Kind: KindTOTP, Issuer: "Big Bank", Name: "bob", Algorithm: "SHA256", Digits: 8, Period: 60}},
		{"TOTP without an issuer", "otpauth://totp/carol?secret=JBSWY3DPEHPK3PXP",
			Account{Kind: KindTOTP, Name: "carol", Algorithm: "SHA1", Digits: 6, Period: 30}},
		{"HOTP", "otpauth://hotp/ACME:dave?secret=" + rfcSecretB32 + "&issuer=ACME&counter=0",
			Account{Kind: KindHOTP, Issuer: "ACME", Name: "dave", Algorithm: "SHA1", Digits: 6}},
		{"HOTP with a counter", "otpauth://hotp/ACME:erin?secret=" + rfcSecretB32 + "&counter=41&digits=8",
			Account{Kind: KindHOTP, Issuer: "ACME", Name: "erin", Algorithm: "SHA1", Digits: 8, Counter: 41}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := fakeclock.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			c, home := newHome(t, withClock(clk))
			a, err := c.AddOTP(tt.uri)
			if err != nil {
				t.Fatalf("AddOTP: %v", err)
			}
			if !strings.HasPrefix(a.ID, "acc_") || len(a.Secret) < 10 || !a.AddedAt.Equal(clk.Now()) {
				t.Fatalf("account = %+v", a)
			}
			got := a
			got.ID, got.Secret, got.AddedAt = "", nil, time.Time{}
			if encode(t, []Account{got}) != encode(t, []Account{tt.want}) {
				t.Fatalf("account = %+v\nwant      %+v", got, tt.want)
			}
			re := mustOpen(t, home).Accounts()
			if len(re) != 1 || encode(t, re) != encode(t, []Account{a}) {
				t.Fatalf("reopened: %+v, want %+v", re, a)
			}
		})
	}
}

func TestAddOTPRefusesWhatIsNotAnOTPURI(t *testing.T) {
	c, home := newHome(t)
	before := snapshot(t, home)
	for _, uri := range []string{
		"",
		"https://example.com",
		"otpauth://totp/Example:alice", // no secret
		"otpauth://hotp/Example:alice?secret=JBSWY3DPEHPK3PXP",           // no counter
		"otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&digits=11", // digits
	} {
		if a, err := c.AddOTP(uri); err == nil {
			t.Errorf("AddOTP(%q) = %+v, want an error", uri, a)
		}
	}
	wantSameFiles(t, before, snapshot(t, home))
}

func TestTOTPCodeMatchesCryptoAndCountsDownToTheStepBoundary(t *testing.T) {
	// 1_800_000_000 is a multiple of 30 and 60: the start of a step.
	step0 := time.Unix(1_800_000_000, 0)
	tests := []struct {
		name          string
		period        string
		at            time.Time
		wantRemaining time.Duration
	}{
		{"at the start of a step the whole period remains", "30", step0, 30 * time.Second},
		{"half way", "30", step0.Add(15 * time.Second), 15 * time.Second},
		{"one second before the next step", "30", step0.Add(29 * time.Second), time.Second},
		{"half a second before the next step", "30", step0.Add(29*time.Second + 500*time.Millisecond), 500 * time.Millisecond},
		{"one nanosecond before the next step", "30", step0.Add(30*time.Second - 1), 1},
		{"at the next step the whole period again", "30", step0.Add(30 * time.Second), 30 * time.Second},
		{"a 60 s period, just begun", "60", step0.Add(time.Second), 59 * time.Second},
		{"a 60 s period, about to end", "60", step0.Add(59 * time.Second), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := fakeclock.New(tt.at)
			c, _ := newHome(t, withClock(clk))
			a := mustAdd(t, c, "otpauth://totp/Example:alice?secret=JBSWY3DPEHPK3PXP&period="+tt.period)
			got, err := c.Code(a.ID)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := crypto.TOTP(a.OTPParams(), tt.at)
			if got.Code != want || got.Remaining != tt.wantRemaining || got.Account.ID != a.ID {
				t.Fatalf("Code = %q with %v remaining, want %q with %v", got.Code, got.Remaining, want, tt.wantRemaining)
			}
		})
	}
}

func TestTOTPCodeFollowsTheClockAndRFC6238(t *testing.T) {
	clk := fakeclock.New(time.Unix(59, 0))
	c, _ := newHome(t, withClock(clk))
	mustAdd(t, c, "otpauth://totp/RFC:6238?secret="+rfcSecretB32+"&digits=8")
	// RFC 6238 appendix B, SHA1.
	for _, v := range []struct {
		unix int64
		code string
	}{{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"}, {1234567890, "89005924"}, {2000000000, "69279037"}} {
		clk.Set(time.Unix(v.unix, 0))
		got, err := c.Code("RFC:6238")
		if err != nil || got.Code != v.code {
			t.Errorf("at %d: Code = %q, %v; want %s", v.unix, got.Code, err, v.code)
		}
	}
}

func TestHOTPCodeAdvancesAndSavesTheCounter(t *testing.T) {
	c, home := newHome(t)
	a := mustAdd(t, c, "otpauth://hotp/ACME:dave?secret="+rfcSecretB32+"&counter=0")
	first, err := c.Code(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.Code("dave")
	if err != nil {
		t.Fatal(err)
	}
	if first.Code != rfc4226Codes[0] || second.Code != rfc4226Codes[1] {
		t.Fatalf("codes = %s, %s; want RFC 4226's %s, %s", first.Code, second.Code, rfc4226Codes[0], rfc4226Codes[1])
	}
	if first.Remaining != 0 || second.Account.Counter != 2 {
		t.Fatalf("second code: remaining %v, counter %d; want 0 and 2", second.Remaining, second.Account.Counter)
	}
	// Another process (a reopened home) continues from the saved counter.
	c2 := mustOpen(t, home)
	if got := c2.Accounts()[0].Counter; got != 2 {
		t.Fatalf("saved counter = %d, want 2", got)
	}
	for i := 2; i < len(rfc4226Codes); i++ {
		cd, err := c2.Code(a.ID)
		if err != nil || cd.Code != rfc4226Codes[i] {
			t.Fatalf("code %d = %q, %v; want %s", i, cd.Code, err, rfc4226Codes[i])
		}
	}
	// And the first process sees what the second did.
	if cd, _ := c.Code(a.ID); cd.Code == rfc4226Codes[2] {
		t.Fatal("the first process showed a code the second had shown")
	}
}

// fourAccounts makes a home with a, b, c (TOTP) and an HOTP account.
func fourAccounts(t *testing.T) (*Core, string, []Account) {
	t.Helper()
	c, home := newHome(t)
	var accts []Account
	for _, uri := range []string{
		totpURI("Example", "alice"),
		totpURI("Example", "bob"),
		totpURI("Other", "alice"),
		"otpauth://hotp/ACME:counter?secret=" + rfcSecretB32 + "&counter=0",
	} {
		accts = append(accts, mustAdd(t, c, uri))
	}
	return c, home, accts
}

func TestFind(t *testing.T) {
	c, _, accts := fourAccounts(t)
	tests := []struct {
		name    string
		query   string
		want    string // account label, when found
		wantErr []string
	}{
		{name: "by id", query: accts[2].ID, want: "Other:alice"},
		{name: "by a unique part of the label", query: "bob", want: "Example:bob"},
		{name: "by the whole label", query: "Example:alice", want: "Example:alice"},
		{name: "in any case", query: "OTHER:ALI", want: "Other:alice"},
		{name: "by the issuer when only one account has it", query: "acme", want: "ACME:counter"},
		{name: "ambiguous names every match", query: "alice",
			wantErr: []string{`"alice" matches 2 accounts`, "Example:alice", "Other:alice", "say which by id"}},
		{name: "none lists the accounts", query: "zed",
			wantErr: []string{`no account matches "zed"`, "Example:alice, Example:bob, Other:alice, ACME:counter"}},
		{name: "empty among several asks which", query: "",
			wantErr: []string{"4 accounts: say which"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := c.Find(tt.query)
			if tt.wantErr == nil {
				if err != nil || a.Label() != tt.want {
					t.Fatalf("Find(%q) = %s, %v; want %s", tt.query, a.Label(), err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Find(%q) = %s, want an error", tt.query, a.Label())
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("Find(%q) = %q, want it to say %q", tt.query, err, w)
				}
			}
		})
	}
}

func TestFindWithAnEmptyQuery(t *testing.T) {
	c, _ := newHome(t)
	if _, err := c.Find(""); err == nil || !strings.Contains(err.Error(), "no accounts yet") {
		t.Fatalf("Find(\"\") in an empty home = %v", err)
	}
	a := mustAdd(t, c, totpURI("Example", "alice"))
	if got, err := c.Find(""); err != nil || got.ID != a.ID {
		t.Fatalf("Find(\"\") with one account = %+v, %v; want that account", got, err)
	}
}

func TestRename(t *testing.T) {
	c, home, accts := fourAccounts(t)
	if err := c.Rename(accts[1].ID, "New Co", "robert"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(accts[0].ID, "", "just alice"); err != nil {
		t.Fatal(err)
	}
	want := []string{"just alice", "New Co:robert", "Other:alice", "ACME:counter"}
	for _, got := range [][]Account{c.Accounts(), mustOpen(t, home).Accounts()} {
		if !slices.Equal(labelsOf(got), want) {
			t.Fatalf("after rename: %v, want %v", labelsOf(got), want)
		}
	}
	if got := c.Accounts()[1]; string(got.Secret) != string(accts[1].Secret) || got.ID != accts[1].ID {
		t.Fatal("rename changed more than the names")
	}
	for _, tt := range []struct{ id, name, wantErr string }{
		{accts[2].ID, "", "the name may not be empty"},
		{"acc_nope", "x", `rename: no account "acc_nope"`},
	} {
		if err := c.Rename(tt.id, "I", tt.name); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("Rename(%s, %q) = %v, want %q", tt.id, tt.name, err, tt.wantErr)
		}
	}
	if !slices.Equal(labelsOf(c.Accounts()), want) {
		t.Fatal("a refused rename changed the list")
	}
}

func TestMove(t *testing.T) {
	// Accounts are A, B, C, D (fourAccounts' order).
	tests := []struct {
		name string
		move int // index of the account moved
		to   int
		want string
	}{
		{"last to the front", 3, 0, "DABC"},
		{"first to the end", 0, 3, "BCDA"},
		{"one step down", 1, 2, "ACBD"},
		{"one step up", 2, 1, "ACBD"},
		{"to where it is", 2, 2, "ABCD"},
		{"past the end clamps to the end", 0, 99, "BCDA"},
		{"before the front clamps to the front", 2, -5, "CABD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, home, accts := fourAccounts(t)
			letter := map[string]byte{}
			for i, a := range accts {
				letter[a.ID] = "ABCD"[i]
			}
			order := func(list []Account) string {
				var b []byte
				for _, a := range list {
					b = append(b, letter[a.ID])
				}
				return string(b)
			}
			if err := c.Move(accts[tt.move].ID, tt.to); err != nil {
				t.Fatal(err)
			}
			if got := order(c.Accounts()); got != tt.want {
				t.Fatalf("order = %s, want %s", got, tt.want)
			}
			if got := order(mustOpen(t, home).Accounts()); got != tt.want {
				t.Fatalf("reopened order = %s, want %s", got, tt.want)
			}
		})
	}
	c, _, _ := fourAccounts(t)
	if err := c.Move("acc_nope", 0); err == nil || !strings.Contains(err.Error(), `no account "acc_nope"`) {
		t.Fatalf("Move(unknown) = %v", err)
	}
}

func TestRemoveAnOTPAccount(t *testing.T) {
	c, home, accts := fourAccounts(t)
	if err := c.Remove(t.Context(), "Example:bob", false); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(t.Context(), accts[3].ID, false); err != nil {
		t.Fatal(err)
	}
	want := []string{"Example:alice", "Other:alice"}
	for _, got := range [][]Account{c.Accounts(), mustOpen(t, home).Accounts()} {
		if !slices.Equal(labelsOf(got), want) {
			t.Fatalf("after remove: %v, want %v", labelsOf(got), want)
		}
	}
	for _, q := range []string{"nobody", "alice", accts[1].ID} {
		if err := c.Remove(t.Context(), q, true); err == nil {
			t.Errorf("Remove(%q) succeeded", q)
		}
	}
	if !slices.Equal(labelsOf(c.Accounts()), want) {
		t.Fatal("a refused remove changed the list")
	}
}

// failVaultWrites makes every vault write fail as on a full disk.
func failVaultWrites(t *testing.T) {
	t.Helper()
	saved := writeFile
	writeFile = func(path string, _ []byte, _ os.FileMode) error {
		return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
	}
	t.Cleanup(func() { writeFile = saved })
}

func TestAFailedVaultWriteChangesNothing(t *testing.T) {
	tests := []struct {
		name string
		op   func(c *Core, accts []Account) error
	}{
		{"AddOTP", func(c *Core, _ []Account) error { _, err := c.AddOTP(totpURI("New", "one")); return err }},
		{"Rename", func(c *Core, a []Account) error { return c.Rename(a[0].ID, "X", "renamed") }},
		{"Move", func(c *Core, a []Account) error { return c.Move(a[3].ID, 0) }},
		{"Remove", func(c *Core, a []Account) error { return c.Remove(t.Context(), a[1].ID, false) }},
		{"HOTP Code", func(c *Core, a []Account) error {
			cd, err := c.Code(a[3].ID)
			if err != nil && cd.Code != "" {
				t.Errorf("a code whose counter was not saved was shown: %q", cd.Code)
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, home, accts := fourAccounts(t)
			before, files := encode(t, c.Accounts()), snapshot(t, home)
			failVaultWrites(t)
			err := tt.op(c, accts)
			if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("%s = %v, want the disk error and that nothing was changed", tt.name, err)
			}
			if got := encode(t, c.Accounts()); got != before {
				t.Fatalf("Accounts() changed:\n%s\nwant\n%s", got, before)
			}
			wantSameFiles(t, files, snapshot(t, home))
			if got := encode(t, mustOpen(t, home).Accounts()); got != before {
				t.Fatalf("the reopened home changed:\n%s\nwant\n%s", got, before)
			}
			// Once the disk has room again the same change goes through.
			writeFile = writeFileAtomic
			if err := tt.op(c, accts); err != nil {
				t.Fatalf("%s after the disk recovered: %v", tt.name, err)
			}
			if encode(t, mustOpen(t, home).Accounts()) == before {
				t.Fatalf("%s after the disk recovered changed nothing", tt.name)
			}
		})
	}
}

func TestVaultOnDiskHoldsNoPlaintext(t *testing.T) {
	c, home := newHome(t)
	a := mustAdd(t, c, "otpauth://totp/PlainIssuerZ:plain.name@example.org?secret="+rfcSecretB32+"&issuer=PlainIssuerZ")
	h := mustAdd(t, c, "otpauth://hotp/CounterCorp:hotp-user?secret=JBSWY3DPEHPK3PXP&counter=7")
	secrets := [][]byte{a.Secret, h.Secret}
	words := []string{"PlainIssuerZ", "plain.name", "CounterCorp", "hotp-user", a.ID, h.ID, "accounts", "secret", "totp", "hotp"}
	for _, s := range secrets {
		words = append(words, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(s), base64.StdEncoding.EncodeToString(s))
	}
	for _, name := range []string{vaultFile, configFile, keyStoreFile} {
		data, err := os.ReadFile(filepath.Join(home, name))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range secrets {
			if bytes.Contains(data, s) {
				t.Errorf("%s holds a secret's bytes", name)
			}
		}
		for _, w := range words {
			if bytes.Contains(bytes.ToLower(data), bytes.ToLower([]byte(w))) {
				t.Errorf("%s holds %q", name, w)
			}
		}
	}
	if st, _ := os.Stat(filepath.Join(home, vaultFile)); st.Mode().Perm() != 0o600 {
		t.Errorf("vault mode = %v, want 0600", st.Mode().Perm())
	}
}

func TestVaultSealedForOneHomeDoesNotOpenInAnother(t *testing.T) {
	// Same passphrase, different homes: different vault keys and namespaces.
	c1, home1 := newHome(t)
	mustAdd(t, c1, totpURI("Example", "alice"))
	_, home2 := newHome(t)
	vault1, _ := os.ReadFile(filepath.Join(home1, vaultFile))
	if err := os.WriteFile(filepath.Join(home2, vaultFile), vault1, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openHome(home2); err == nil || !strings.Contains(err.Error(), "does not open with the key") {
		t.Fatalf("Open with another home's vault = %v", err)
	}
}

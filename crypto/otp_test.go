package crypto

import (
	"encoding/base32"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	rfcSeedSHA1   = []byte("12345678901234567890")
	rfcSeedSHA256 = []byte("12345678901234567890123456789012")
	rfcSeedSHA512 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

// RFC 4226 Appendix D: the truncated values for counters 0–9; the 6-digit
// HOTP values are their last six digits.
var rfc4226Truncated = []uint64{
	1284755224, 1094287082, 137359152, 1726969429, 1640338314,
	868254676, 1918287922, 82162583, 673399871, 645520489,
}

var rfc4226HOTP = []string{
	"755224", "287082", "359152", "969429", "338314",
	"254676", "287922", "162583", "399871", "520489",
}

func TestHOTPMatchesRFC4226AppendixD(t *testing.T) {
	p6 := OTPParams{Secret: rfcSeedSHA1, Algorithm: "SHA1", Digits: 6}
	p8 := OTPParams{Secret: rfcSeedSHA1, Algorithm: "SHA1", Digits: 8}
	for counter, want := range rfc4226HOTP {
		got, err := HOTP(p6, uint64(counter))
		if err != nil || got != want {
			t.Errorf("HOTP 6 digits, counter %d = %q, %v; want %q", counter, got, err, want)
		}
		want8 := fmt.Sprintf("%08d", rfc4226Truncated[counter]%100000000)
		got8, err := HOTP(p8, uint64(counter))
		if err != nil || got8 != want8 {
			t.Errorf("HOTP 8 digits, counter %d = %q, %v; want %q", counter, got8, err, want8)
		}
	}
}

// RFC 6238 Appendix B, all eighteen rows.
var rfc6238Vectors = []struct {
	unix int64
	alg  string
	code string
}{
	{59, "SHA1", "94287082"},
	{59, "SHA256", "46119246"},
	{59, "SHA512", "90693936"},
	{1111111109, "SHA1", "07081804"},
	{1111111109, "SHA256", "68084774"},
	{1111111109, "SHA512", "25091201"},
	{1111111111, "SHA1", "14050471"},
	{1111111111, "SHA256", "67062674"},
	{1111111111, "SHA512", "99943326"},
	{1234567890, "SHA1", "89005924"},
	{1234567890, "SHA256", "91819424"},
	{1234567890, "SHA512", "93441116"},
	{2000000000, "SHA1", "69279037"},
	{2000000000, "SHA256", "90698825"},
	{2000000000, "SHA512", "38618901"},
	{20000000000, "SHA1", "65353130"},
	{20000000000, "SHA256", "77737706"},
	{20000000000, "SHA512", "47863826"},
}

func rfc6238Params(alg string, digits int) OTPParams {
	seed := map[string][]byte{"SHA1": rfcSeedSHA1, "SHA256": rfcSeedSHA256, "SHA512": rfcSeedSHA512}[alg]
	return OTPParams{Secret: seed, Algorithm: alg, Digits: digits, Period: 30}
}

func TestTOTPMatchesRFC6238AppendixB(t *testing.T) {
	for _, v := range rfc6238Vectors {
		at := time.Unix(v.unix, 0).UTC()
		got, err := TOTP(rfc6238Params(v.alg, 8), at)
		if err != nil || got != v.code {
			t.Errorf("TOTP %s at %d = %q, %v; want %q", v.alg, v.unix, got, err, v.code)
		}
		// Six digits are the last six of eight: both are the same value
		// modulo a power of ten.
		// So are five and seven (Aegis's test vault has 7-digit SHA256
		// accounts).
		for d := 5; d <= 7; d++ {
			gotD, err := TOTP(rfc6238Params(v.alg, d), at)
			if want := v.code[8-d:]; err != nil || gotD != want {
				t.Errorf("TOTP %s %d digits at %d = %q, %v; want %q", v.alg, d, v.unix, gotD, err, want)
			}
		}
		step, ok, err := VerifyTOTP(rfc6238Params(v.alg, 8), v.code, at, 0)
		if err != nil || !ok || step != v.unix/30 {
			t.Errorf("VerifyTOTP %s at %d = %d, %v, %v; want %d, true", v.alg, v.unix, step, ok, err, v.unix/30)
		}
	}
}

func TestTOTPWithSixtySecondPeriod(t *testing.T) {
	p := OTPParams{Secret: rfcSeedSHA1, Algorithm: "SHA1", Digits: 8, Period: 60}
	// Step 0 covers 0..59 and step 1 covers 60..119; the codes are the RFC
	// 4226 values for counters 0 and 1.
	for _, c := range []struct {
		unix int64
		step int64
		code string
	}{
		{0, 0, "84755224"},
		{59, 0, "84755224"},
		{60, 1, "94287082"},
		{119, 1, "94287082"},
		{120, 2, "37359152"},
	} {
		at := time.Unix(c.unix, 0)
		if s := TOTPStep(p, at); s != c.step {
			t.Errorf("TOTPStep(60 s, %d) = %d, want %d", c.unix, s, c.step)
		}
		if got, err := TOTP(p, at); err != nil || got != c.code {
			t.Errorf("TOTP(60 s, %d) = %q, %v; want %q", c.unix, got, err, c.code)
		}
	}
	// The RFC 6238 time 1111111109 is step 18518518 at 60 s.
	at := time.Unix(1111111109, 0)
	want, _ := HOTP(p, 18518518)
	if got, _ := TOTP(p, at); got != want {
		t.Errorf("TOTP(60 s, 1111111109) = %q, want HOTP(18518518) = %q", got, want)
	}
	if s, ok, err := VerifyTOTP(p, want, at.Add(60*time.Second), 1); err != nil || !ok || s != 18518518 {
		t.Errorf("VerifyTOTP one 60 s step later = %d, %v, %v", s, ok, err)
	}
}

func TestTOTPStepFloorsBefore1970(t *testing.T) {
	p := OTPParams{Period: 30}
	for unix, want := range map[int64]int64{-1: -1, -30: -1, -31: -2, 0: 0, 29: 0, 30: 1} {
		if got := TOTPStep(p, time.Unix(unix, 0)); got != want {
			t.Errorf("TOTPStep(%d) = %d, want %d", unix, got, want)
		}
	}
	if _, err := TOTP(rfc6238Params("SHA1", 6), time.Unix(-1, 0)); err == nil {
		t.Error("TOTP before 1970 gave no error")
	}
}

func TestVerifyTOTPAcceptsOnlyWithinSkew(t *testing.T) {
	p := rfc6238Params("SHA1", 8)
	at := time.Unix(1111111109, 0)
	const code, step = "07081804", 1111111109 / 30
	for _, c := range []struct {
		offset time.Duration
		skew   int
		ok     bool
	}{
		{0, 0, true},
		{30 * time.Second, 0, false},
		{30 * time.Second, 1, true},
		{-30 * time.Second, 1, true},
		{60 * time.Second, 1, false},
		{-60 * time.Second, 1, false},
		{60 * time.Second, 2, true},
		{-90 * time.Second, 2, false},
	} {
		got, ok, err := VerifyTOTP(p, code, at.Add(c.offset), c.skew)
		if err != nil {
			t.Fatal(err)
		}
		if ok != c.ok {
			t.Errorf("offset %v skew %d: ok = %v, want %v", c.offset, c.skew, ok, c.ok)
		}
		if ok && got != step {
			t.Errorf("offset %v skew %d: step %d, want %d", c.offset, c.skew, got, step)
		}
		if !ok && got != 0 {
			t.Errorf("offset %v skew %d: step %d returned with ok false", c.offset, c.skew, got)
		}
	}
	// Near the epoch the window is cut at step 0 rather than going negative.
	if s, ok, err := VerifyTOTP(p, "84755224", time.Unix(10, 0), 3); err != nil || !ok || s != 0 {
		t.Errorf("VerifyTOTP at step 0 with skew 3 = %d, %v, %v", s, ok, err)
	}
}

func TestVerifyOTPRefusesMalformedCodes(t *testing.T) {
	p := rfc6238Params("SHA1", 8)
	at := time.Unix(1111111109, 0)
	for _, code := range []string{
		"", "7081804", "070818040", "0708180a", " 7081804", "07081804 ", "+7081804",
		"-7081804", "0708 1804", "０7081804", "0x081804", "07081804\n",
	} {
		if _, ok, err := VerifyTOTP(p, code, at, 1); ok || err != nil {
			t.Errorf("VerifyTOTP(%q) = %v, %v; want not ok, no error", code, ok, err)
		}
		if _, ok, err := VerifyHOTP(p, code, 37037036, 2); ok || err != nil {
			t.Errorf("VerifyHOTP(%q) = %v, %v; want not ok, no error", code, ok, err)
		}
	}
	if _, ok, _ := VerifyTOTP(p, "07081805", at, 1); ok {
		t.Error("a wrong code verified")
	}
}

func TestVerifyHOTPFindsCounterInWindow(t *testing.T) {
	p := OTPParams{Secret: rfcSeedSHA1, Algorithm: "SHA1", Digits: 6}
	for start := uint64(0); start < 10; start++ {
		for window := 0; window < 4; window++ {
			for c, code := range rfc4226HOTP {
				got, ok, err := VerifyHOTP(p, code, start, window)
				if err != nil {
					t.Fatal(err)
				}
				want := uint64(c) >= start && uint64(c) <= start+uint64(window)
				if ok != want || (ok && got != uint64(c)) {
					t.Errorf("VerifyHOTP(code for %d, from %d, window %d) = %d, %v; want ok %v",
						c, start, window, got, ok, want)
				}
			}
		}
	}
	// A window running past the last counter stops there instead of wrapping.
	last := uint64(1<<64 - 1)
	code, _ := HOTP(p, last)
	if got, ok, err := VerifyHOTP(p, code, last-1, 5); err != nil || !ok || got != last {
		t.Errorf("VerifyHOTP at the top of the counter = %d, %v, %v", got, ok, err)
	}
	zero, _ := HOTP(p, 0)
	if _, ok, _ := VerifyHOTP(p, zero, last, 5); ok && zero != code {
		t.Error("the window wrapped around to counter 0")
	}
}

func TestOTPParamsCheckNamesTheProblem(t *testing.T) {
	good := OTPParams{Secret: []byte("s"), Algorithm: "SHA1", Digits: 6, Period: 30}
	if err := good.Check(); err != nil {
		t.Fatalf("good params: %v", err)
	}
	for _, c := range []struct {
		name   string
		mutate func(*OTPParams)
		want   string
	}{
		{"empty secret", func(p *OTPParams) { p.Secret = nil }, "empty secret"},
		{"md5", func(p *OTPParams) { p.Algorithm = "MD5" }, `algorithm "MD5"`},
		{"lower case", func(p *OTPParams) { p.Algorithm = "sha1" }, `algorithm "sha1"`},
		{"no algorithm", func(p *OTPParams) { p.Algorithm = "" }, `algorithm ""`},
		{"4 digits", func(p *OTPParams) { p.Digits = 4 }, "4 digits"},
		{"11 digits", func(p *OTPParams) { p.Digits = 11 }, "11 digits"},
		{"0 digits", func(p *OTPParams) { p.Digits = 0 }, "0 digits"},
		{"6-character steam", func(p *OTPParams) { p.Encoding = EncodingSteam }, "Steam"},
		{"unknown encoding", func(p *OTPParams) { p.Encoding = "base26" }, `encoding "base26"`},
		{"zero period", func(p *OTPParams) { p.Period = 0 }, "period"},
		{"negative period", func(p *OTPParams) { p.Period = -30 }, "period"},
	} {
		p := good
		c.mutate(&p)
		err := p.Check()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check() = %v, want an error mentioning %q", c.name, err, c.want)
			continue
		}
		if _, err := TOTP(p, time.Now()); err == nil {
			t.Errorf("%s: TOTP gave no error", c.name)
		}
		if _, _, err := VerifyTOTP(p, "123456", time.Now(), 1); err == nil {
			t.Errorf("%s: VerifyTOTP gave no error", c.name)
		}
	}
	// HOTP has no period.
	h := good
	h.Period = 0
	if _, err := HOTP(h, 1); err != nil {
		t.Errorf("HOTP without a period: %v", err)
	}
	h.Digits = 11
	if _, err := HOTP(h, 1); err == nil {
		t.Error("HOTP with 11 digits gave no error")
	}
	if _, _, err := VerifyHOTP(h, "12345678901", 1, 1); err == nil {
		t.Error("VerifyHOTP with 11 digits gave no error")
	}
	if _, _, err := VerifyTOTP(good, "123456", time.Now(), -1); err == nil {
		t.Error("VerifyTOTP with negative skew gave no error")
	}
	if _, _, err := VerifyHOTP(good, "123456", 0, -1); err == nil {
		t.Error("VerifyHOTP with negative window gave no error")
	}
}

func TestNewOTPSecretIs160RandomBits(t *testing.T) {
	a, b := NewOTPSecret(), NewOTPSecret()
	if len(a) != 20 || len(b) != 20 {
		t.Fatalf("secret lengths %d, %d; want 20", len(a), len(b))
	}
	if string(a) == string(b) {
		t.Fatal("two secrets are equal")
	}
	if _, err := TOTP(OTPParams{Secret: a, Algorithm: "SHA1", Digits: 6, Period: 30}, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// Every length real exports carry: the code is the last d digits of the
// RFC 4226 truncated value, zero-padded.
func TestHOTPFromFiveToTenDigitsMatchesRFC4226Truncation(t *testing.T) {
	for d := MinDigits; d <= MaxDigits; d++ {
		p := OTPParams{Secret: rfcSeedSHA1, Algorithm: "SHA1", Digits: d}
		mod := uint64(1)
		for range d {
			mod *= 10
		}
		for counter, v := range rfc4226Truncated {
			want := fmt.Sprintf("%0*d", d, v%mod)
			got, err := HOTP(p, uint64(counter))
			if err != nil || got != want {
				t.Errorf("HOTP %d digits, counter %d = %q, %v; want %q", d, counter, got, err, want)
			}
			// The earliest counter with this code (short codes may repeat).
			m, ok, err := VerifyHOTP(p, want, 0, 9)
			if again, _ := HOTP(p, m); err != nil || !ok || m > uint64(counter) || again != want {
				t.Errorf("VerifyHOTP %d digits, counter %d = %d, %v, %v", d, counter, m, ok, err)
			}
		}
	}
}

// KeePassXC's Steam test vector (tests/TestTotp.cpp), also used by
// Authenticator Pro: Steam Guard is TOTP (SHA1, 30 s) with the truncated
// value written in base 26 over SteamAlphabet, least significant first.
func TestSteamCodesMatchAKnownVector(t *testing.T) {
	secret, err := base32.StdEncoding.DecodeString("63BEDWCQZKTQWPESARIERL5DTTQFCJTK")
	if err != nil {
		t.Fatal(err)
	}
	p := OTPParams{Secret: secret, Algorithm: "SHA1", Digits: SteamDigits, Period: 30, Encoding: EncodingSteam}
	for _, v := range []struct {
		unix int64
		code string
	}{{1511200518, "FR8RV"}, {1511200714, "9P3VP"}} {
		got, err := TOTP(p, time.Unix(v.unix, 0))
		if err != nil || got != v.code {
			t.Errorf("Steam code at %d = %q, %v; want %q", v.unix, got, err, v.code)
		}
		if _, ok, err := VerifyTOTP(p, v.code, time.Unix(v.unix, 0), 0); !ok || err != nil {
			t.Errorf("VerifyTOTP(%q) = %v, %v", v.code, ok, err)
		}
	}
	// The same truncated value, worked by hand from the decimal code: the
	// library's 10-digit code is the whole 31-bit value.
	dec := p
	dec.Encoding, dec.Digits = EncodingDecimal, MaxDigits
	s, _ := TOTP(dec, time.Unix(1511200518, 0))
	v, _ := strconv.ParseUint(s, 10, 64)
	var b strings.Builder
	for range SteamDigits {
		b.WriteByte(SteamAlphabet[v%26])
		v /= 26
	}
	if b.String() != "FR8RV" {
		t.Errorf("base-26 of the decimal value = %q, want FR8RV", b.String())
	}
	for _, code := range []string{"fr8rv", "FR8R", "FR8RVV", "FR8RA", "FR0RV", "FR1RV", " FR8R"} {
		if _, ok, err := VerifyTOTP(p, code, time.Unix(1511200518, 0), 1); ok || err != nil {
			t.Errorf("VerifyTOTP(%q) = %v, %v; want not ok, no error", code, ok, err)
		}
	}
}

package crypto

import (
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
)

// OTPParams describe an HOTP (RFC 4226) or TOTP (RFC 6238) credential.
type OTPParams struct {
	Secret    []byte
	Algorithm string // "SHA1", "SHA256", "SHA512"
	Digits    int    // code length: MinDigits to MaxDigits (6 or 8 nearly everywhere); 5 for Steam
	Period    int    // seconds, TOTP only (any positive period, e.g. 30 or 60)
	// Encoding is how the RFC 4226 truncated value is written: "" (or
	// EncodingDecimal) for the usual decimal digits, EncodingSteam for Steam
	// Guard's five characters from SteamAlphabet.
	Encoding string
}

// Code lengths accepted. Real exports carry 5 to 10 digits (Aegis, andOTP
// and FreeOTP+ take them all); RFC 4226 truncates to 31 bits, so more than
// ten digits would only add leading zeros.
const (
	MinDigits = 5
	MaxDigits = 10
)

// Encodings of a code.
const (
	EncodingDecimal = ""
	EncodingSteam   = "steam"
)

// SteamDigits is the length of a Steam Guard code; SteamAlphabet its
// characters (digits and consonants that cannot be misread).
const (
	SteamDigits   = 5
	SteamAlphabet = "23456789BCDFGHJKMNPQRTVWXY"
)

// Check validates p for TOTP use. HOTP ignores Period and checks the rest.
func (p OTPParams) Check() error {
	if err := p.checkHOTP(); err != nil {
		return err
	}
	if p.Period <= 0 {
		return fmt.Errorf("otp: period must be a positive number of seconds, got %d", p.Period)
	}
	return nil
}

func (p OTPParams) checkHOTP() error {
	if len(p.Secret) == 0 {
		return errors.New("otp: empty secret")
	}
	if _, err := p.algorithm(); err != nil {
		return err
	}
	switch p.Encoding {
	case EncodingDecimal:
		if p.Digits < MinDigits || p.Digits > MaxDigits {
			return fmt.Errorf("otp: %d digits not supported (want %d to %d, usually 6 or 8)", p.Digits, MinDigits, MaxDigits)
		}
	case EncodingSteam:
		if p.Digits != SteamDigits {
			return fmt.Errorf("otp: %d digits not supported for Steam codes (want %d)", p.Digits, SteamDigits)
		}
	default:
		return fmt.Errorf("otp: encoding %q not supported (want decimal or steam)", p.Encoding)
	}
	return nil
}

func (p OTPParams) algorithm() (otp.Algorithm, error) {
	switch p.Algorithm {
	case "SHA1":
		return otp.AlgorithmSHA1, nil
	case "SHA256":
		return otp.AlgorithmSHA256, nil
	case "SHA512":
		return otp.AlgorithmSHA512, nil
	}
	return 0, fmt.Errorf("otp: algorithm %q not supported (want SHA1, SHA256 or SHA512)", p.Algorithm)
}

// hotpCode computes one code; p must have passed checkHOTP.
func hotpCode(p OTPParams, alg otp.Algorithm, counter uint64) (string, error) {
	// pquerna/otp takes the secret in base32, the form otpauth:// links use.
	secret := base32.StdEncoding.EncodeToString(p.Secret)
	enc := otp.EncoderDefault
	if p.Encoding == EncodingSteam {
		enc = otp.EncoderSteam
	}
	code, err := hotp.GenerateCodeCustom(secret, counter, hotp.ValidateOpts{
		Digits:    otp.Digits(p.Digits),
		Algorithm: alg,
		Encoder:   enc,
	})
	if err != nil {
		return "", fmt.Errorf("otp: %w", err)
	}
	return code, nil
}

// HOTP is the RFC 4226 code for counter.
func HOTP(p OTPParams, counter uint64) (string, error) {
	if err := p.checkHOTP(); err != nil {
		return "", err
	}
	alg, _ := p.algorithm()
	return hotpCode(p, alg, counter)
}

// TOTP is the RFC 6238 code for the time step holding t (T0 = 0).
func TOTP(p OTPParams, t time.Time) (string, error) {
	if err := p.Check(); err != nil {
		return "", err
	}
	step := TOTPStep(p, t)
	if step < 0 {
		return "", fmt.Errorf("otp: time %v is before 1970", t)
	}
	alg, _ := p.algorithm()
	return hotpCode(p, alg, uint64(step))
}

// TOTPStep is floor(unix(t)/period), the TOTP counter for t. It is 0 when
// p.Period is not positive (Check reports that).
func TOTPStep(p OTPParams, t time.Time) int64 {
	if p.Period <= 0 {
		return 0
	}
	period := int64(p.Period)
	u := t.Unix()
	step := u / period
	if u%period != 0 && u < 0 {
		step-- // floor, not truncation, before 1970
	}
	return step
}

// wellFormedCode says whether code has the right length and only ASCII
// digits (or, for Steam, characters of SteamAlphabet). It looks at the
// code's shape only, never at its value.
func wellFormedCode(code string, p OTPParams) bool {
	if len(code) != p.Digits {
		return false
	}
	for i := 0; i < len(code); i++ {
		c := code[i]
		if p.Encoding == EncodingSteam {
			if strings.IndexByte(SteamAlphabet, c) < 0 {
				return false
			}
		} else if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// VerifyTOTP checks code against the steps from TOTPStep(t)-skew to +skew
// and returns the matched step (the earliest, should two match).
// Comparison is constant-time (crypto/subtle) and every candidate step is
// compared (no early exit on match). A code of the wrong length or with
// non-digits is simply not ok (no error); err only for bad params.
func VerifyTOTP(p OTPParams, code string, t time.Time, skew int) (step int64, ok bool, err error) {
	if err := p.Check(); err != nil {
		return 0, false, err
	}
	if skew < 0 {
		return 0, false, fmt.Errorf("otp: negative skew %d", skew)
	}
	if !wellFormedCode(code, p) {
		return 0, false, nil
	}
	alg, _ := p.algorithm()
	now := TOTPStep(p, t)
	var found int
	for i := -int64(skew); i <= int64(skew); i++ {
		s := now + i
		if s < 0 {
			continue // before 1970: no such step
		}
		want, err := hotpCode(p, alg, uint64(s))
		if err != nil {
			return 0, false, err
		}
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(code))
		first := eq &^ found
		step = selectInt64(first, s, step)
		found |= eq
	}
	return step, found == 1, nil
}

// VerifyHOTP checks counter..counter+window and returns the matched counter
// (the lowest, should two match), with the same constant-time rules as
// VerifyTOTP. Counters past 2^64-1 are not tried.
func VerifyHOTP(p OTPParams, code string, counter uint64, window int) (matched uint64, ok bool, err error) {
	if err := p.checkHOTP(); err != nil {
		return 0, false, err
	}
	if window < 0 {
		return 0, false, fmt.Errorf("otp: negative window %d", window)
	}
	if !wellFormedCode(code, p) {
		return 0, false, nil
	}
	alg, _ := p.algorithm()
	var found int
	for i := uint64(0); i <= uint64(window); i++ {
		if counter > math.MaxUint64-i {
			break
		}
		c := counter + i
		want, err := hotpCode(p, alg, c)
		if err != nil {
			return 0, false, err
		}
		eq := subtle.ConstantTimeCompare([]byte(want), []byte(code))
		first := eq &^ found
		matched = uint64(selectInt64(first, int64(c), int64(matched)))
		found |= eq
	}
	return matched, found == 1, nil
}

// selectInt64 is a if v == 1 and b if v == 0, without a branch.
func selectInt64(v int, a, b int64) int64 {
	mask := -int64(v)
	return (a & mask) | (b &^ mask)
}

// NewOTPSecret is a fresh 160-bit secret, the size RFC 4226 recommends.
func NewOTPSecret() []byte {
	return RandomBytes(20)
}

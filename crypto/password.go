package crypto

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are Argon2id costs. Memory is in KiB.
type Argon2Params struct {
	Time    uint32
	Memory  uint32
	Threads uint8
}

// DefaultArgon2 follows OWASP's password storage guidance for Argon2id
// (19 MiB, two passes, one lane).
var DefaultArgon2 = Argon2Params{Time: 2, Memory: 19 * 1024, Threads: 1}

// Upper bounds on Argon2id costs read from stored data (PHC strings, the file
// key store's header). Stored data must not be able to make a verification
// allocate gigabytes or run for minutes; nothing Assent writes comes close.
const (
	MaxArgon2Time   = 16
	MaxArgon2Memory = 1 << 20 // KiB, i.e. 1 GiB
)

// argon2Limits bound the costs a PHC string may ask for. Fuzzing uses
// smaller ones so that it exercises the parser, not the memory allocator.
type argon2Limits struct {
	maxTime   uint32
	maxMemory uint32
}

var storedArgon2Limits = argon2Limits{maxTime: MaxArgon2Time, maxMemory: MaxArgon2Memory}

// Validate says whether p can be used and read back: at least one pass and
// one lane, at least 8 KiB of memory per lane (Argon2's minimum), and no
// more than MaxArgon2Time passes and MaxArgon2Memory KiB.
func (p Argon2Params) Validate() error {
	return p.validate(storedArgon2Limits)
}

func (p Argon2Params) validate(l argon2Limits) error {
	switch {
	case p.Time < 1 || p.Time > l.maxTime:
		return fmt.Errorf("argon2id: time cost %d outside 1..%d", p.Time, l.maxTime)
	case p.Threads < 1:
		return errors.New("argon2id: parallelism must be at least 1")
	case p.Memory < 8*uint32(p.Threads) || p.Memory > l.maxMemory:
		return fmt.Errorf("argon2id: memory %d KiB outside %d..%d KiB", p.Memory, 8*uint32(p.Threads), l.maxMemory)
	}
	return nil
}

// HashPassword returns an Argon2id hash in the PHC string format
// ($argon2id$v=19$m=…,t=…,p=…$salt$hash). The zero Argon2Params means
// DefaultArgon2. Params that fail Validate are a programming error (the
// hash could never be verified) and panic.
func HashPassword(password string, p Argon2Params) string {
	if p == (Argon2Params{}) {
		p = DefaultArgon2
	}
	if err := p.Validate(); err != nil {
		panic("HashPassword: " + err.Error())
	}
	salt := RandomBytes(16)
	sum := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, 32)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(sum))
}

// ErrBadHash says a stored password hash cannot be read.
var ErrBadHash = errors.New("stored password hash is not a valid argon2id PHC string")

// VerifyPassword compares password with a PHC hash in constant time. A hash
// that is malformed or asks for costs beyond MaxArgon2Time/MaxArgon2Memory
// gives ErrBadHash.
func VerifyPassword(password, encoded string) (bool, error) {
	return verifyPassword(password, encoded, storedArgon2Limits)
}

func verifyPassword(password, encoded string, l argon2Limits) (bool, error) {
	p, salt, want, err := parsePHC(encoded, l)
	if err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parsePHC reads exactly what HashPassword writes; anything else (extra
// fields, signs, spaces, trailing bytes, other versions) is ErrBadHash.
func parsePHC(encoded string, l argon2Limits) (p Argon2Params, salt, hash []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" ||
		parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, ErrBadHash
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, ErrBadHash
	}
	m, okM := phcUint(params[0], "m=", 32)
	t, okT := phcUint(params[1], "t=", 32)
	th, okP := phcUint(params[2], "p=", 8)
	if !okM || !okT || !okP {
		return p, nil, nil, ErrBadHash
	}
	p = Argon2Params{Time: uint32(t), Memory: uint32(m), Threads: uint8(th)}
	if p.validate(l) != nil {
		return p, nil, nil, ErrBadHash
	}
	salt, err = base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, ErrBadHash
	}
	hash, err = base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(hash) < 16 || len(hash) > 64 {
		return p, nil, nil, ErrBadHash
	}
	return p, salt, hash, nil
}

// phcUint parses "<prefix><decimal>" with plain ASCII digits only.
func phcUint(s, prefix string, bits int) (uint64, bool) {
	num, ok := strings.CutPrefix(s, prefix)
	if !ok || num == "" || len(num) > 10 {
		return 0, false
	}
	for i := 0; i < len(num); i++ {
		if num[i] < '0' || num[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(num, 10, bits)
	return v, err == nil
}

package crypto

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// cheapArgon2 keeps tests fast under -race; real costs are DefaultArgon2.
var cheapArgon2 = Argon2Params{Time: 1, Memory: 64, Threads: 1}

func TestPasswordHashVerifies(t *testing.T) {
	h := HashPassword("correct horse", cheapArgon2)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", h)
	}
	ok, err := VerifyPassword("correct horse", h)
	if err != nil || !ok {
		t.Fatalf("VerifyPassword = %v, %v", ok, err)
	}
	for _, wrong := range []string{"", "correct hors", "correct horse ", "Correct horse"} {
		if ok, err := VerifyPassword(wrong, h); ok || err != nil {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false, nil", wrong, ok, err)
		}
	}
	if h == HashPassword("correct horse", cheapArgon2) {
		t.Fatal("two hashes of one password are equal: salt reused")
	}
}

func TestHashPasswordZeroParamsMeansDefault(t *testing.T) {
	h := HashPassword("pw", Argon2Params{})
	want := fmt.Sprintf("$m=%d,t=%d,p=%d$", DefaultArgon2.Memory, DefaultArgon2.Time, DefaultArgon2.Threads)
	if !strings.Contains(h, want) {
		t.Fatalf("hash %q does not use DefaultArgon2", h)
	}
	if ok, err := VerifyPassword("pw", h); !ok || err != nil {
		t.Fatalf("VerifyPassword = %v, %v", ok, err)
	}
}

func TestHashPasswordPanicsOnUnverifiableParams(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
	}()
	HashPassword("pw", Argon2Params{Time: MaxArgon2Time + 1, Memory: 64, Threads: 1})
}

func TestArgon2ParamsValidate(t *testing.T) {
	for _, p := range []Argon2Params{DefaultArgon2, DefaultFileKDF, cheapArgon2,
		{Time: MaxArgon2Time, Memory: MaxArgon2Memory, Threads: 255}} {
		if err := p.Validate(); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	for _, p := range []Argon2Params{
		{},
		{Time: 0, Memory: 64, Threads: 1},
		{Time: 1, Memory: 64, Threads: 0},
		{Time: 1, Memory: 7, Threads: 1},
		{Time: 1, Memory: 64, Threads: 9},
		{Time: MaxArgon2Time + 1, Memory: 64, Threads: 1},
		{Time: 1, Memory: MaxArgon2Memory + 1, Threads: 1},
	} {
		if err := p.Validate(); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}

func TestVerifyPasswordRefusesMalformedHashes(t *testing.T) {
	good := HashPassword("pw", cheapArgon2)
	parts := strings.Split(good, "$")
	salt, sum := parts[4], parts[5]
	with := func(params string) string { return "$argon2id$v=19$" + params + "$" + salt + "$" + sum }
	for _, enc := range []string{
		"",
		"$",
		"$argon2id$",
		"argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum,
		"x$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum,
		"$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + sum,
		"$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + sum,
		"$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + sum,
		"$argon2id$v=19x$m=64,t=1,p=1$" + salt + "$" + sum,
		"$argon2id$m=64,t=1,p=1$" + salt + "$" + sum,
		good + "$",
		good + "$extra",
		with("m=64,t=1"),
		with("m=64,t=1,p=1,k=2"),
		with("t=1,m=64,p=1"),
		with("m=64,t=1,p=1junk"),
		with("m=abc,t=1,p=1"),
		with("m=,t=1,p=1"),
		with("m=+64,t=1,p=1"),
		with("m=-64,t=1,p=1"),
		with("m= 64,t=1,p=1"),
		with("m=64,t=0,p=1"),
		with("m=64,t=17,p=1"),
		with("m=64,t=4294967296,p=1"),
		with("m=64,t=1,p=0"),
		with("m=64,t=1,p=256"),
		with("m=7,t=1,p=1"),
		with("m=1048577,t=1,p=1"),
		with("m=4194304,t=1,p=1"),
		with("m=99999999999999999999,t=1,p=1"),
		"$argon2id$v=19$m=64,t=1,p=1$$" + sum,
		"$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + sum, // 4-byte salt
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum + "==",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 200),
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "!$" + sum,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + sum[:len(sum)-1] + "_",
	} {
		ok, err := VerifyPassword("pw", enc)
		if ok || !errors.Is(err, ErrBadHash) {
			t.Errorf("VerifyPassword(%q) = %v, %v; want ErrBadHash", enc, ok, err)
		}
	}
}

// fuzzArgon2Limits keep each fuzz input to at most 256 KiB and two passes,
// so that the fuzzer spends its time in the parser.
var fuzzArgon2Limits = argon2Limits{maxTime: 2, maxMemory: 256}

// FuzzVerifyPassword: no stored string makes verification panic or return
// anything but (bool, nil) or ErrBadHash. The production limits are checked
// by parsing only; the Argon2 run uses fuzzArgon2Limits.
func FuzzVerifyPassword(f *testing.F) {
	f.Add("pw", HashPassword("pw", cheapArgon2))
	f.Add("pw", "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
	f.Add("", "$argon2id$v=19$m=1048577,t=17,p=0$$")
	f.Add("x", "")
	f.Fuzz(func(t *testing.T, password, encoded string) {
		if _, _, _, err := parsePHC(encoded, storedArgon2Limits); err != nil && err != ErrBadHash {
			t.Fatalf("parsePHC error %v", err)
		}
		ok, err := verifyPassword(password, encoded, fuzzArgon2Limits)
		if err != nil && (ok || err != ErrBadHash) {
			t.Fatalf("verifyPassword = %v, %v", ok, err)
		}
	})
}

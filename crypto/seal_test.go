package crypto

import (
	"bytes"
	"errors"
	"testing"
)

func mustSealer(t testing.TB) *Sealer {
	t.Helper()
	s, err := NewSealer(RandomBytes(SealKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSealerRoundTrip(t *testing.T) {
	s := mustSealer(t)
	for _, plain := range [][]byte{nil, {}, []byte("x"), RandomBytes(1000)} {
		sealed := s.Seal(plain, []byte("row 1"))
		got, err := s.Open(sealed, []byte("row 1"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("opened %x, sealed %x", got, plain)
		}
	}
	a, b := s.Seal([]byte("same"), nil), s.Seal([]byte("same"), nil)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal: nonce reused")
	}
}

func TestSealerRefusesWrongAADKeyOrDamage(t *testing.T) {
	s := mustSealer(t)
	sealed := s.Seal([]byte("secret"), []byte("row 1"))
	if _, err := s.Open(sealed, []byte("row 2")); !errors.Is(err, ErrOpen) {
		t.Errorf("wrong aad: %v", err)
	}
	if _, err := s.Open(sealed, nil); !errors.Is(err, ErrOpen) {
		t.Errorf("missing aad: %v", err)
	}
	if _, err := mustSealer(t).Open(sealed, []byte("row 1")); !errors.Is(err, ErrOpen) {
		t.Errorf("wrong key: %v", err)
	}
	for i := range sealed {
		bad := bytes.Clone(sealed)
		bad[i] ^= 0x80
		if _, err := s.Open(bad, []byte("row 1")); !errors.Is(err, ErrOpen) {
			t.Errorf("byte %d flipped: %v", i, err)
		}
	}
	for n := 0; n < len(sealed); n++ {
		if _, err := s.Open(sealed[:n], []byte("row 1")); !errors.Is(err, ErrOpen) {
			t.Errorf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := s.Open(append(bytes.Clone(sealed), 0), []byte("row 1")); !errors.Is(err, ErrOpen) {
		t.Error("extended sealed data opened")
	}
}

func TestNewSealerWantsA32ByteKey(t *testing.T) {
	for _, n := range []int{0, 16, 24, 31, 33} {
		if _, err := NewSealer(make([]byte, n)); err == nil {
			t.Errorf("%d-byte key accepted", n)
		}
	}
}

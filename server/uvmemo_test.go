package server

import (
	"fmt"
	"hash/maphash"
	"sync"
	"testing"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
)

func signedChallenge(t testing.TB, id, uv string) string {
	t.Helper()
	k, err := crypto.NewDeviceKey()
	if err != nil {
		t.Fatal(err)
	}
	jws, err := crypto.SignJWS(k, push.TypChallenge, push.ChallengeClaims{ID: id, UserVerification: uv}, crypto.SignOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return jws
}

// The memo answers what the JWS says, whether the challenge was noted when
// signed or first read; a JWS that cannot be read requires verification.
func TestUVMemoAnswersWhatTheChallengeSays(t *testing.T) {
	var m uvMemo
	req, pref := signedChallenge(t, "chl_a", push.UVRequired), signedChallenge(t, "chl_b", push.UVPreferred)
	for range 2 { // read, then remembered
		if !m.required(req) || m.required(pref) {
			t.Fatalf("required %v, preferred %v: want true, false", m.required(req), m.required(pref))
		}
	}
	if !m.required("not.a.jws") {
		t.Fatal("an unreadable challenge must ask for user verification")
	}
	var n uvMemo
	n.note(req, true)
	n.note(pref, false)
	if !n.required(req) || n.required(pref) {
		t.Fatal("noted requirements read back wrong")
	}
}

// A slot that another challenge took is a miss, never the other
// challenge's answer: even a challenge noted (wrongly) as required tells
// nothing about another one in its slot.
func TestUVMemoSlotTakenByAnotherChallengeIsAMiss(t *testing.T) {
	var m uvMemo
	pref := signedChallenge(t, "chl_pref", push.UVNone)
	want := maphash.String(uvSeed, pref) % uvSlots
	var req string
	for i := 0; ; i++ {
		j := signedChallenge(t, fmt.Sprintf("chl_%d", i), push.UVRequired)
		if maphash.String(uvSeed, j)%uvSlots == want {
			req = j
			break
		}
	}
	m.note(req, true)
	if m.required(pref) {
		t.Fatal("a challenge that does not require user verification was answered from another's slot")
	}
	m.note(pref, false)
	if !m.required(req) {
		t.Fatal("a challenge that requires user verification was answered from another's slot")
	}
}

// Fifty goroutines noting and reading challenges that share slots always
// get each challenge's own requirement (run with -race).
func TestUVMemoFiftyParallelReaders(t *testing.T) {
	var m uvMemo
	jws := make([]string, 8)
	for i := range jws {
		uv := push.UVPreferred
		if i%2 == 0 {
			uv = push.UVRequired
		}
		jws[i] = signedChallenge(t, fmt.Sprintf("chl_%d", i), uv)
	}
	var wg sync.WaitGroup
	for g := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := (g + i) % len(jws)
				if g%5 == 0 {
					m.note(jws[k], k%2 == 0)
				}
				if m.required(jws[k]) != (k%2 == 0) {
					t.Errorf("challenge %d: wrong requirement", k)
					return
				}
			}
		}()
	}
	wg.Wait()
}

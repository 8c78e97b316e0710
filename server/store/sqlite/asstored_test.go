package sqlite

import (
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/storetest"
)

// AsStored gives a challenge as the store reads it back once written, for
// every shape of its fields (the sole node keeps settled ones in that
// form), and shares nothing with what it was given.
func TestAsStoredIsWhatAReadGivesBack(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "a.db"))
	defer closeStore(t, s)
	d := storetest.EnrollDevice(t, s, "usr_1", "dev_1")
	berlin := time.FixedZone("CET", 3600)
	now := time.Now().In(berlin) // nanoseconds, a monotonic reading, not UTC
	for i, c := range []store.Challenge{
		{Numbers: []int{12, 47, 85}, Correct: 47, Context: []byte(`{"app":"wiki"}`), Status: store.ChallengeApproved, AnsweredAt: now.Add(time.Second)},
		{Numbers: []int{}, Context: []byte{}, Status: store.ChallengeDenied, UV: true},
		{Status: store.ChallengeExpired, Reason: "expired"},
	} {
		c.ID, c.TxID, c.DeviceID, c.UserID, c.Kind, c.Nonce, c.JWS = fmt.Sprint("chl_", i), "tx_1", d.ID, d.UserID, "signin", "n", "jws"
		c.CreatedAt, c.ExpiresAt = now, now.Add(time.Minute)
		if err := s.CreateChallenge(t.Context(), c); err != nil {
			t.Fatal(err)
		}
		read, err := s.GetChallenge(t.Context(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		kept := s.AsStored(c)
		if !reflect.DeepEqual(kept, read) {
			t.Errorf("challenge %d:\nAsStored %+v\nread     %+v", i, kept, read)
		}
		if len(c.Numbers) > 0 {
			kept.Numbers[0] = 99
			kept.Context[0] = 'x'
			if c.Numbers[0] == 99 || c.Context[0] == 'x' {
				t.Errorf("challenge %d: AsStored shares its lists with its argument", i)
			}
		}
	}
}

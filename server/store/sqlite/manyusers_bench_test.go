package sqlite

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/storetest"
)

// BenchmarkSettledPushesManyUsers writes settled pushes as the sole node's
// group commit does (created and settled together, with push.sent and the
// outcome), eight to a transaction, for 2,000 users with a device each,
// after 20,000 earlier pushes: at that spread every index a challenge or
// an event enters costs a page of its own at the commit and at the
// checkpoint. "ordered" names challenges as the server does (time first,
// then random); "random" with random IDs only. wchar-B/push is what the
// process wrote per push (WAL and checkpoints), read from /proc/self/io.
func BenchmarkSettledPushesManyUsers(b *testing.B) {
	for _, ordered := range []bool{true, false} {
		name := map[bool]string{true: "ordered", false: "random"}[ordered]
		b.Run(name, func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "a.db"))
			defer s.Close()
			ctx := context.Background()
			var ds []store.Device
			for i := range 2000 {
				ds = append(ds, storetest.EnrollDevice(b, s, "usr_"+crypto.RandomToken(16), fmt.Sprint("dev_", i, crypto.RandomToken(16))))
			}
			k := 0
			push := func() store.ChallengeWrite {
				k++
				d := ds[k*7919%len(ds)]
				now := time.Now()
				id := "chl_" + crypto.RandomToken(16)
				if ordered {
					id = fmt.Sprintf("chl_%012x%s", now.UnixMilli(), crypto.RandomToken(16))
				}
				c := store.Challenge{ID: id, TxID: "tx_" + crypto.RandomToken(16), DeviceID: d.ID, UserID: d.UserID, Kind: "signin",
					Nonce: crypto.RandomToken(16), Numbers: []int{12, 47, 85}, Correct: 47,
					Context: []byte(`{"app":"wiki","ip":"192.0.2.7","ua":"Firefox/140"}`), JWS: strings.Repeat("x", 600),
					Status: store.ChallengeApproved, CreatedAt: now, ExpiresAt: now.Add(time.Minute), AnsweredAt: now}
				return store.ChallengeWrite{Challenge: c, Audit: storetest.SettledPushAudits(c)}
			}
			ws := make([]store.ChallengeWrite, 8)
			write := func() {
				for j := range ws {
					ws[j] = push()
				}
				if err := s.CreateChallenges(ctx, ws); err != nil {
					b.Fatal(err)
				}
			}
			for range 2500 {
				write()
			}
			w0 := wchar()
			b.ResetTimer()
			for b.Loop() {
				write()
			}
			b.StopTimer()
			n := float64(b.N * len(ws))
			b.ReportMetric(float64(b.Elapsed().Microseconds())/n, "µs/push")
			if w0 >= 0 {
				b.ReportMetric(float64(wchar()-w0)/n, "wchar-B/push")
			}
		})
	}
}

// wchar is the bytes this process has written (/proc/self/io), -1 where
// that cannot be read.
func wchar() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for line := range bytes.Lines(b) {
		if v, ok := bytes.CutPrefix(line, []byte("wchar: ")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

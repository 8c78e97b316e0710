package radius

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
)

// BenchmarkHeldRequests sends 1,000 Access-Requests (password right, a
// push to approve) and measures how fast they come to wait on their
// pushes — held requests a second, the password check (cheap Argon2 here)
// and the push included — and what the server holds for each while it
// waits: heap and goroutine stacks after a collection, divided by 1,000.
// Each request polls the engine every second, as in production. The
// fake clock then passes the pushes' expiry and every request is
// answered (Access-Reject) before the next round.
//
//	go test -run XXX -bench HeldRequests -benchtime 3x ./server/radius/
func BenchmarkHeldRequests(b *testing.B) {
	const held, users = 1000, 100
	e := newEnv(b, envOpts{clients: vpn, opts: Options{PollInterval: time.Second, RatePerMinute: 1 << 20}, policy: plainPushPolicy + `
push: {expiry: 5m, maxUnanswered: 1000, window: 15m}
`})
	for i := range users {
		e.enrolled(fmt.Sprintf("user%03d", i))
	}
	n := e.nas(e.nodes[0], secret)
	answers := make(chan radius.Code, held)
	go func() {
		buf := make([]byte, 4096)
		for {
			k, _, err := n.conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			if p, err := radius.Parse(buf[:k], n.secret); err == nil {
				answers <- p.Code
			}
		}
	}()
	reqs := make([][]byte, held)
	var perSec, perHeld float64
	b.ResetTimer()
	for round := range b.N {
		b.StopTimer()
		for i := range reqs {
			p := n.accessRequest(fmt.Sprintf("user%03d", i%users), password, func(p *radius.Packet) {
				_ = rfc2865.UserPassword_SetString(p, password)
				// Each from an address of its own, as people are.
				_ = rfc2865.CallingStationID_SetString(p, fmt.Sprintf("10.%d.%d.%d", round%250, i/250, i%250+1))
			})
			reqs[i] = n.encode(p)
		}
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		start := time.Now()
		for _, r := range reqs {
			n.send(r)
		}
		eventually(b, "1,000 requests held", func() bool { return e.r().Stats().Waiting == held })
		elapsed := time.Since(start)
		b.StopTimer()
		runtime.GC()
		var during runtime.MemStats
		runtime.ReadMemStats(&during)
		perSec += held / elapsed.Seconds()
		perHeld += (float64(during.HeapInuse+during.StackInuse) - float64(before.HeapInuse+before.StackInuse)) / held
		e.clock.Advance(6 * time.Minute)
		for range held {
			select {
			case c := <-answers:
				if c != radius.CodeAccessReject {
					b.Fatalf("an expired push was answered %v", c)
				}
			case <-time.After(time.Minute):
				b.Fatalf("not every held request was answered; %+v", e.r().Stats())
			}
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(perSec/float64(b.N), "held/s")
	b.ReportMetric(perHeld/float64(b.N), "B/held")
	b.ReportMetric(0, "ns/op")
}

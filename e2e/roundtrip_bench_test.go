package e2e

import (
	"crypto/ecdsa"
	"encoding/json"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// The benchmarks in this file are the groundwork of issue 14: a push round
// trip and a device (re)connect, in process, on a real SQLite file and real
// loopback sockets, reported with their allocations and next to the ES256
// cost measured in the same run, so that the figure reads as a ratio.
//
//	go test ./e2e -run '^$' -bench 'RoundTrip|Reconnect' -benchtime 2000x
//
// Allocations are the whole process's: the server's and the simulated
// device's (its verification of the challenge, its signed answer, its
// WebSocket frames). The device's share is reported apart (device-allocs/op)
// so the server's can be read as the difference.

// roundTripDevice is one enrolled device with its socket open and welcomed.
type roundTripDevice struct {
	user store.User
	cl   *push.Client
	ws   *websocket.Conn
}

// BenchmarkPushRoundTripAllocs is one push from the server's side to a
// connected device and back, with 1 and with 20 devices connected (the
// pushes go round them in turn): SendPush signs and stores the challenge and
// sends it on the socket; the device verifies it, answers with the number
// and its signature over the same socket; the server verifies, settles and
// stores the answer and acknowledges it. An op ends with the device holding
// the acknowledgement that its approval is stored.
//
// Besides ns/op, B/op and allocs/op it reports:
//   - es256-ns: one ES256 JWS signature plus one verification (the server's
//     cryptography per round trip: it signs the challenge and verifies the
//     answer), measured alongside the loop (es256Meter);
//   - x-es256: ns/op ÷ es256-ns. The device's own signature and
//     verification run in the same process, so 2.0 is the floor here;
//   - device-allocs/op: what the simulated device's side (verify, sign,
//     the JSON of its frame) allocates, measured apart.
func BenchmarkPushRoundTripAllocs(b *testing.B) {
	for _, n := range []int{1, 20} {
		b.Run("devices="+strconv.Itoa(n), func(b *testing.B) {
			e := newEnv(b, func(o *server.Options) { o.Limits.SourceRate = -1 })
			devs := make([]roundTripDevice, n)
			for i := range devs {
				u, d, a := e.enrolled("bench" + strconv.Itoa(i))
				ws := dialDevice(b, e, d, a)
				expectType(b, ws, push.MsgWelcome)
				cl, err := d.Client(a)
				if err != nil {
					b.Fatal(err)
				}
				devs[i] = roundTripDevice{user: u, cl: cl, ws: ws}
			}
			// One round trip outside the measurement, so that the
			// statements and the pools are warm.
			pushRoundTrip(b, e, devs[0])
			es := newES256Meter(b)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				es.sometimes(i)
				pushRoundTrip(b, e, devs[i%n])
				i++
			}
			es.report(i)
			b.ReportMetric(deviceSideAllocs(b, e, devs[0]), "device-allocs/op")
		})
	}
}

// pushRoundTrip is one op: push, receive, verify, answer, acknowledged.
func pushRoundTrip(b *testing.B, e *env, d roundTripDevice) {
	res, err := e.srv.SendPush(e.ctx, server.PushRequest{User: d.user, Kind: push.KindSignIn, NumberChallenge: true})
	if err != nil {
		b.Fatal(err)
	}
	m := expectType(b, d.ws, push.MsgChallenge)
	ch, err := d.cl.VerifyChallenge(m.JWS)
	if err != nil {
		b.Fatal(err)
	}
	if len(res.ChallengeIDs) != 1 || ch.ID != res.ChallengeIDs[0] {
		b.Fatalf("the device got challenge %q, the push made %q", ch.ID, res.ChallengeIDs)
	}
	tok, err := d.cl.SignResponse(ch, push.Answer{Consent: push.ConsentApproved, Number: res.Number})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.ws.WriteJSON(push.Message{Type: push.MsgResponse, JWS: tok}); err != nil {
		b.Fatal(err)
	}
	for {
		m = readMsg(b, d.ws)
		if m.Type == push.MsgAck {
			break
		}
	}
	if m.Outcome != push.OutcomeApproved {
		b.Fatalf("outcome %q, want %q", m.Outcome, push.OutcomeApproved)
	}
}

// BenchmarkReconnect is one device (re)connect: a fresh single-use device
// token, the WebSocket upgrade that checks it (signature, enrollment, the
// replay check), and the welcome on the socket; then the device hangs up.
// It reports es256-ns and x-es256 as BenchmarkPushRoundTripAllocs does (a
// connect costs the device one signature and the server one verification).
func BenchmarkReconnect(b *testing.B) {
	e := newEnv(b, func(o *server.Options) { o.Limits.SourceRate = -1 })
	_, d, a := e.enrolled("bench")
	// Connections are closed by the device as soon as the welcome is
	// read; the server's side of each ends in its own time.
	es := newES256Meter(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		es.sometimes(i)
		ws := dialDevice(b, e, d, a)
		expectType(b, ws, push.MsgWelcome)
		ws.Close()
		i++
	}
	es.report(i)
}

// es256Meter times one ES256 JWS signature plus one verification (with
// parsing and claim decoding: what crypto.BenchmarkSignJWS and
// crypto.BenchmarkVerifyJWS measure) alongside a benchmark's loop: a short
// batch every so many ops, with the benchmark's timer (and its allocation
// count) stopped, so that both figures come from the same minutes of a
// shared machine.
type es256Meter struct {
	b       *testing.B
	key     *ecdsa.PrivateKey
	batches []float64 // ns per sign+verify, one per batch
}

type es256Claims struct {
	Issuer  string `json:"iss"`
	ID      string `json:"jti"`
	Nonce   string `json:"nonce"`
	Consent string `json:"consent"`
	Number  int    `json:"number"`
}

func newES256Meter(b *testing.B) *es256Meter {
	k, err := crypto.NewDeviceKey()
	if err != nil {
		b.Fatal(err)
	}
	m := &es256Meter{b: b, key: k}
	m.batch() // warm
	m.batches = nil
	return m
}

// sometimes measures a batch before op i, every 50th op.
func (m *es256Meter) sometimes(i int) {
	if i%50 != 0 {
		return
	}
	m.b.StopTimer()
	m.batch()
	m.b.StartTimer()
}

func (m *es256Meter) batch() {
	const per = 4
	in := es256Claims{Issuer: "dev_0123456789abcdef", ID: "chl_0123456789abcdef", Nonce: "n0123456789abcdef", Consent: "approved", Number: 42}
	start := time.Now()
	for range per {
		tok, err := crypto.SignJWS(m.key, "assent-response+jwt", in, crypto.SignOptions{})
		if err != nil {
			m.b.Fatal(err)
		}
		var out es256Claims
		if err := crypto.VerifyJWS(tok, &m.key.PublicKey, "assent-response+jwt", &out); err != nil {
			m.b.Fatal(err)
		}
	}
	m.batches = append(m.batches, float64(time.Since(start).Nanoseconds())/per)
}

// report adds es256-ns (the median batch: the machine is shared) and
// x-es256 (the benchmark's ns/op over it) to the results of ops ops.
func (m *es256Meter) report(ops int) {
	if ops == 0 || len(m.batches) == 0 {
		return
	}
	slices.Sort(m.batches)
	es := m.batches[len(m.batches)/2]
	perOp := float64(m.b.Elapsed().Nanoseconds()) / float64(ops)
	m.b.ReportMetric(es, "es256-ns")
	m.b.ReportMetric(perOp/es, "x-es256")
}

// deviceSideAllocs is what the simulated device allocates for one round
// trip on its own: the challenge's verification, the signed answer and the
// JSON of the frame it would write. It reuses one real challenge (the
// server is not involved), so it is read with the process otherwise idle.
func deviceSideAllocs(b *testing.B, e *env, d roundTripDevice) float64 {
	res, err := e.srv.SendPush(e.ctx, server.PushRequest{User: d.user, Kind: push.KindSignIn, NumberChallenge: true})
	if err != nil {
		b.Fatal(err)
	}
	m := expectType(b, d.ws, push.MsgChallenge)
	e.srv.WaitBackground()
	const runs = 50
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for range runs {
		ch, err := d.cl.VerifyChallenge(m.JWS)
		if err != nil {
			b.Fatal(err)
		}
		tok, err := d.cl.SignResponse(ch, push.Answer{Consent: push.ConsentApproved, Number: res.Number})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(push.Message{Type: push.MsgResponse, JWS: tok}); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	return float64(after.Mallocs-before.Mallocs) / runs
}

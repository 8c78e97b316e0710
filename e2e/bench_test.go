package e2e

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/sdk"
	"github.com/seed-3a5b824e/assent/server"
)

// BenchmarkPushRoundTrip measures one push from the server's side to a
// device on a real socket and back: challenge signed and stored, delivered,
// verified by the device, answered with a signed response over the socket,
// verified and stored by the server, acknowledged. Compare with
// crypto.BenchmarkECDSAVerifyP256 from the same run.
func BenchmarkPushRoundTrip(b *testing.B) {
	e := newEnv(b)
	u, d, a := e.enrolled("bench")
	ws := dialDevice(b, e, d, a)
	expectType(b, ws, push.MsgWelcome)
	cl, err := d.Client(a)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := e.srv.SendPush(e.ctx, server.PushRequest{TxID: "", User: u, Kind: push.KindSignIn, NumberChallenge: true})
		if err != nil {
			b.Fatal(err)
		}
		m := expectType(b, ws, push.MsgChallenge)
		ch, err := cl.VerifyChallenge(m.JWS)
		if err != nil {
			b.Fatal(err)
		}
		tok, err := cl.SignResponse(ch, push.Answer{Consent: push.ConsentApproved, Number: res.Number})
		if err != nil {
			b.Fatal(err)
		}
		if err := ws.WriteJSON(push.Message{Type: push.MsgResponse, JWS: tok}); err != nil {
			b.Fatal(err)
		}
		for {
			m = readMsg(b, ws)
			if m.Type == push.MsgAck {
				break
			}
		}
		if m.Outcome != push.OutcomeApproved {
			b.Fatalf("outcome %q", m.Outcome)
		}
	}
}

// BenchmarkKnownAndUnknownLogins times what an outsider can time before
// any factor — identify, a wrong password, a recovery, and choosing a push
// in it — for a real user with a device (known) and for a login that names
// nobody (unknown), one after the other. It reports, for each step, the
// median time of a known login over that of an unknown one: 1.00 is
// indistinguishable. The throttles are set out of the way so that every
// password is checked; the answer floor stays as assentd runs it.
func BenchmarkKnownAndUnknownLogins(b *testing.B) {
	const users = 100
	e := newEnv(b, func(o *server.Options) {
		o.Limits = server.Limits{SourceRate: -1, FreeFailures: 1 << 30, SourceFreeFailures: 1 << 30}
	})
	for i := range users {
		e.enrolled("known" + strconv.Itoa(i))
	}
	steps := []string{"identify", "password", "recovery", "push"}
	took := map[string]map[string][]time.Duration{"known": {}, "unknown": {}}
	i := 0
	for b.Loop() {
		for _, who := range []string{"known", "unknown"} {
			login := who + strconv.Itoa(i%users)
			tx, err := e.api().Interact(e.ctx, "intranet")
			if err != nil {
				b.Fatal(err)
			}
			rec, err := e.api().Interact(e.ctx, "intranet")
			if err != nil {
				b.Fatal(err)
			}
			for _, step := range steps {
				start := time.Now()
				switch step {
				case "identify":
					_, err = tx.Do(e.ctx, sdk.RemIdentify, sdk.Request{Login: login})
				case "password":
					_, err = tx.Do(e.ctx, sdk.RemChallengeAuth, sdk.Request{Authenticator: sdk.AuthPassword, Passcode: "wrong password"})
					if errCode(err) == "invalid_credentials" {
						err = nil
					}
				case "recovery":
					_, err = rec.Do(e.ctx, sdk.RemIdentifyRecovery, sdk.Request{Login: login})
				case "push":
					_, err = rec.Do(e.ctx, sdk.RemSelectAuth, sdk.Request{Authenticator: sdk.AuthPush})
				}
				took[who][step] = append(took[who][step], time.Since(start))
				if err != nil {
					b.Fatalf("%s %s: %v", who, step, err)
				}
			}
			e.srv.WaitBackground()
		}
		i++
	}
	median := func(ds []time.Duration) float64 {
		slices.Sort(ds)
		return float64(ds[len(ds)/2])
	}
	for _, step := range steps {
		b.ReportMetric(median(took["known"][step])/median(took["unknown"][step]), step+"-known/unknown")
	}
}

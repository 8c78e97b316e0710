package e2e

import (
	"testing"

	"github.com/seed-3a5b824e/assent/push"
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

package e2e

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server"
)

// writeCounter is a listener whose connections count the server's
// writes to them.
type writeCounter struct {
	net.Listener
	mu    sync.Mutex
	conns []*countedConn
}

type countedConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countedConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func (l *writeCounter) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	cc := &countedConn{Conn: c}
	l.mu.Lock()
	l.conns = append(l.conns, cc)
	l.mu.Unlock()
	return cc, nil
}

// last is the connection accepted last.
func (l *writeCounter) last(t *testing.T) *countedConn {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) == 0 {
		t.Fatal("no connection accepted")
	}
	return l.conns[len(l.conns)-1]
}

// A device that brings its token in the upgrade request gets the
// handshake's answer and its welcome in one write of the server's (a
// system call, and one segment the device reads, fewer per connect); a
// pending push follows in a write of its own. A socket that says hello
// instead gets the answer first, as it must before it can say anything,
// and its welcome after the hello.
func TestConnectAnswersAndWelcomesInOneWrite(t *testing.T) {
	e := newEnv(t, func(o *server.Options) { o.Limits.SourceRate = -1 })
	u, d, a := e.enrolled("ann")
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &writeCounter{Listener: raw}
	hs := &http.Server{Handler: e.srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	wsURL := "ws://" + raw.Addr().String() + push.PathPush
	cl, err := d.Client(a)
	if err != nil {
		t.Fatal(err)
	}

	tok, _ := cl.Token()
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {push.AuthScheme + " " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	expectType(t, ws, push.MsgWelcome)
	if n := ln.last(t).writes.Load(); n != 1 {
		t.Fatalf("the server wrote %d times up to the welcome, want 1 (the handshake's answer with the welcome)", n)
	}
	ws.Close()

	// A push waiting for the device when it connects comes after the
	// welcome, and every frame arrives whole.
	res, err := e.srv.SendPush(e.ctx, server.PushRequest{User: u, Kind: push.KindSignIn, NumberChallenge: true})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ = cl.Token()
	ws, _, err = websocket.DefaultDialer.Dial(wsURL, http.Header{"Authorization": {push.AuthScheme + " " + tok}})
	if err != nil {
		t.Fatal(err)
	}
	expectType(t, ws, push.MsgWelcome)
	m := expectType(t, ws, push.MsgChallenge)
	if ch, err := cl.VerifyChallenge(m.JWS); err != nil || ch.ID != res.ChallengeIDs[0] {
		t.Fatalf("the pending push after the welcome: %v, %v", ch.ID, err)
	}
	ws.Close()

	// Hello: the dial itself returns only once the answer has come.
	ws, _, err = websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if n := ln.last(t).writes.Load(); n != 1 {
		t.Fatalf("the server wrote %d times before the hello, want 1 (the handshake's answer)", n)
	}
	tok, _ = cl.Token()
	if err := ws.WriteJSON(push.Message{Type: push.MsgHello, Token: tok}); err != nil {
		t.Fatal(err)
	}
	expectType(t, ws, push.MsgWelcome)
}

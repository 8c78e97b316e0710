package e2e

import (
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server"
)

// TestIdleSocketStack holds that an idle push socket costs its reader
// goroutine the smallest stack the runtime gives (2 KB), after everything
// a connected device sends: pongs, a hello, a frame the server cannot use
// and an answer it refuses. The reader parks in the WebSocket read for as
// long as the device is connected, and a stack that grew past 2 KB is never
// shrunk while it is parked there, so every frame on that chain counts
// (DESIGN.md, "Idle sockets"). The node is served as assentd serves it:
// its own HTTP server and the listener that caps connections per address.
//
// Not parallel: it reads the whole process's stack memory, so no other
// test may run beside it.
func TestIdleSocketStack(t *testing.T) {
	const n = 400
	e := newEnv(t, func(o *server.Options) {
		o.Sockets.PerDevice = n
		o.HTTP.MaxConnsPerAddress = n + 10
		o.PingInterval = time.Hour // the test sends the pongs
		o.Limits.SourceRate = -1
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := e.srv.HTTPServer()
	go hs.Serve(e.srv.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	_, d, a := e.enrolled("idle")
	cl, err := d.Client(a)
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + ln.Addr().String() + push.PathPush

	before := stackInUse()
	socks := make([]*websocket.Conn, n)
	for i := range socks {
		tok, err := cl.Token()
		if err != nil {
			t.Fatal(err)
		}
		ws, _, err := websocket.DefaultDialer.Dial(url, http.Header{"Authorization": {push.AuthScheme + " " + tok}})
		if err != nil {
			t.Fatalf("socket %d: %v", i, err)
		}
		t.Cleanup(func() { ws.Close() })
		expectType(t, ws, push.MsgWelcome)
		socks[i] = ws
	}
	// What a connected device sends, socket after socket: the reader
	// handles each. The test's sockets have no reader of their own (the
	// test reads the answers), so the only goroutine per socket is the
	// server's. (One socket at a time: the goroutines that handle a frame
	// and write the answer end before the next socket's start, as they
	// would on a node whose devices do not all speak at once. A burst of
	// them leaves stack spans partly used, which the measure below would
	// count as the readers'.)
	for i, ws := range socks {
		for _, f := range []struct {
			typ  int
			data string
		}{
			{websocket.PongMessage, ""},
			{websocket.PingMessage, "are you there"},
			{websocket.TextMessage, `{"type":"hello"}`},
			{websocket.TextMessage, `{"type":"gossip"}`},
			{websocket.TextMessage, `{"type":"response","jws":"not.a.jws"}`},
			{websocket.PongMessage, ""},
		} {
			var err error
			if f.typ == websocket.TextMessage {
				err = ws.WriteMessage(f.typ, []byte(f.data))
			} else {
				err = ws.WriteControl(f.typ, []byte(f.data), time.Now().Add(5*time.Second))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		pong := make(chan string, 1)
		ws.SetPongHandler(func(data string) error { pong <- data; return nil })
		if m := expectType(t, ws, push.MsgError); m.Error != "bad_message" {
			t.Fatalf("socket %d: the unknown frame was answered %+v, want bad_message", i, m)
		}
		if m := expectType(t, ws, push.MsgError); m.Error == "" || m.Error == "bad_message" {
			t.Fatalf("socket %d: the forged answer was answered %+v, want its refusal", i, m)
		}
		if got := <-pong; got != "are you there" {
			t.Fatalf("socket %d: the device's ping was answered with %q", i, got)
		}
	}
	// The last pongs were sent before the refusal was read, on the
	// same socket, but the reader may still be on them: give it a moment.
	time.Sleep(100 * time.Millisecond)
	if got := e.srv.ConnectedDevices(); got != n {
		t.Fatalf("%d sockets connected, want %d", got, n)
	}
	per := float64(stackInUse()-before) / n
	ref := byteReaderStack(t, n)
	t.Logf("stack in use per idle socket: %.0f B; per goroutine waiting for a byte: %.0f B", per, ref)
	// The reference is the least a goroutine that waits on a socket
	// costs in this build: 2 KB (4 KB with the race detector, whose
	// frames are larger). A reader one size up holds twice as much; the
	// rest is other goroutines coming and going.
	if per > 1.4*ref {
		t.Errorf("each idle push socket holds %.0f B of goroutine stack, a goroutine that only waits for a byte %.0f B: "+
			"the reader's parked chain grew past the smallest stack (see readLoop)", per, ref)
	}
}

// byteReaderStack is the stack in use per socket of n TCP connections,
// each waited on by a goroutine parked in a one-byte read: the least a
// socket read by a goroutine of its own can cost.
func byteReaderStack(t *testing.T, n int) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				var b [1]byte
				for {
					if _, err := c.Read(b[:]); err != nil {
						return
					}
				}
			}()
		}
	}()
	before := stackInUse()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte{1}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	return float64(stackInUse()-before) / float64(n)
}

// stackInUse is the process's goroutine stack memory after two garbage
// collections (a stack is shrunk when a collection finds it mostly unused).
func stackInUse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.StackInuse)
}

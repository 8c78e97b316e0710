package loadgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/push"
)

// A worker holds the sockets of a shard of devices. It runs in a process
// of its own (a process may hold only so many open files) and talks to the
// coordinator in lines:
//
//	coordinator → worker: "connect K" (have K sockets open), "answer ID NUMBER"
//	worker → coordinator: "connected K FAILED", "ack ID OUTCOME UNIXNANO", "err TEXT"
type worker struct {
	server   string
	node     string // where sockets go: the base URL of one node
	devices  []Device
	sourceIP string
	out      *bufio.Writer
	outMu    sync.Mutex

	mu      sync.Mutex
	conns   []*devConn
	pending map[string]*pendingAnswer
}

type devConn struct {
	dev *Device
	cl  *push.Client
	ws  *websocket.Conn
	wmu sync.Mutex
}

// pendingAnswer meets a challenge (from the socket) and its number (from
// the coordinator, who read it off the "sign-in page"), in either order.
// It is filed under "id:<challenge>" and "login:<user>": pushes are
// answered by challenge id, sign-ins (whose challenge id the page never
// sees) by login.
type pendingAnswer struct {
	conn   *devConn
	ch     *push.Challenge
	number int
	known  bool
}

// RunWorker serves one shard until in closes.
func RunWorker(ctx context.Context, server, node, sourceIP string, devices []Device, in io.Reader, out io.Writer) error {
	w := &worker{server: server, node: node, devices: devices, sourceIP: sourceIP, out: bufio.NewWriter(out), pending: map[string]*pendingAnswer{}}
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "connect" && len(f) == 2:
			k, _ := strconv.Atoi(f[1])
			failed := w.connect(ctx, min(k, len(devices)))
			w.say("connected %d %d", len(w.conns), failed)
		case (f[0] == "answer" || f[0] == "answer-login") && len(f) == 3:
			n, _ := strconv.Atoi(f[2])
			key := "id:" + f[1]
			if f[0] == "answer-login" {
				key = "login:" + f[1]
			}
			w.numberArrived(key, n)
		default:
			w.say("err unknown command %q", sc.Text())
		}
	}
	w.mu.Lock()
	for _, c := range w.conns {
		c.ws.Close()
	}
	w.mu.Unlock()
	return sc.Err()
}

func (w *worker) say(format string, args ...any) {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	fmt.Fprintf(w.out, format+"\n", args...)
	w.out.Flush()
}

// connect opens sockets until k are open, 64 dials at a time.
func (w *worker) connect(ctx context.Context, k int) (failed int) {
	var mu sync.Mutex
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := len(w.conns); i < k; i++ {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := w.dial(ctx, &w.devices[i])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if failed <= 3 {
					w.say("err connect %s: %v", w.devices[i].Login, err)
				}
				return
			}
			w.mu.Lock()
			w.conns = append(w.conns, c)
			w.mu.Unlock()
		})
	}
	wg.Wait()
	return failed
}

func (w *worker) dial(ctx context.Context, d *Device) (*devConn, error) {
	cl, err := d.client(w.server, nil)
	if err != nil {
		return nil, err
	}
	tok, err := cl.Token()
	if err != nil {
		return nil, err
	}
	nd := &net.Dialer{Timeout: 30 * time.Second}
	if w.sourceIP != "" {
		nd.LocalAddr = &net.TCPAddr{IP: net.ParseIP(w.sourceIP)}
	}
	dialer := websocket.Dialer{NetDialContext: nd.DialContext, HandshakeTimeout: 30 * time.Second, ReadBufferSize: 512, WriteBufferSize: 512}
	ws, _, err := dialer.DialContext(ctx, w.pushURL(d), http.Header{"Authorization": {push.AuthScheme + " " + tok}})
	if err != nil {
		return nil, err
	}
	c := &devConn{dev: d, cl: cl, ws: ws}
	// Wait for the welcome so that "connected" means registered.
	var m push.Message
	_ = ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	if err := ws.ReadJSON(&m); err != nil || m.Type != push.MsgWelcome {
		ws.Close()
		return nil, fmt.Errorf("no welcome: %v", err)
	}
	_ = ws.SetReadDeadline(time.Time{})
	go w.read(c)
	return c, nil
}

func (w *worker) read(c *devConn) {
	for {
		var m push.Message
		if err := c.ws.ReadJSON(&m); err != nil {
			return
		}
		switch m.Type {
		case push.MsgChallenge:
			ch, err := c.cl.VerifyChallenge(m.JWS)
			if err != nil {
				w.say("err %s refused a challenge: %v", c.dev.Login, err)
				continue
			}
			w.challengeArrived(c, ch)
		case push.MsgAck:
			w.say("ack %s %s %d", m.ID, m.Outcome, time.Now().UnixNano())
		case push.MsgError:
			w.say("err %s: %s %s", c.dev.Login, m.Error, m.Message)
		}
	}
}

func (w *worker) challengeArrived(c *devConn, ch *push.Challenge) {
	w.mu.Lock()
	for _, k := range []string{"id:" + ch.ID, "login:" + c.dev.Login} {
		if p := w.pending[k]; p != nil && p.known {
			delete(w.pending, k)
			w.mu.Unlock()
			w.answer(c, ch, p.number)
			return
		}
	}
	p := &pendingAnswer{conn: c, ch: ch}
	w.pending["id:"+ch.ID], w.pending["login:"+c.dev.Login] = p, p
	w.mu.Unlock()
}

func (w *worker) numberArrived(key string, n int) {
	w.mu.Lock()
	if p := w.pending[key]; p != nil && p.ch != nil {
		delete(w.pending, "id:"+p.ch.ID)
		delete(w.pending, "login:"+p.conn.dev.Login)
		w.mu.Unlock()
		w.answer(p.conn, p.ch, n)
		return
	}
	w.pending[key] = &pendingAnswer{number: n, known: true}
	w.mu.Unlock()
}

// answer approves a challenge with the number over the device's socket.
func (w *worker) answer(c *devConn, ch *push.Challenge, number int) {
	tok, err := c.cl.SignResponse(ch, push.Answer{Consent: push.ConsentApproved, Number: number})
	if err != nil {
		w.say("err sign: %v", err)
		return
	}
	c.wmu.Lock()
	err = c.ws.WriteJSON(push.Message{Type: push.MsgResponse, JWS: tok})
	c.wmu.Unlock()
	if err != nil {
		w.say("err send answer: %v", err)
	}
}

// pushURL is the device's push URL on the worker's node: the same path,
// the node's own address, as behind a load balancer.
func (w *worker) pushURL(d *Device) string {
	if w.node == "" || w.node == w.server {
		return d.PushURL
	}
	u, err := url.Parse(d.PushURL)
	if err != nil {
		return d.PushURL
	}
	n, err := url.Parse(w.node)
	if err != nil {
		return d.PushURL
	}
	u.Host = n.Host
	return u.String()
}

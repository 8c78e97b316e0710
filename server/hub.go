package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/seed-3a5b824e/assent/push"
)

// Broker carries messages for devices to the node that holds their socket.
// The in-process broker serves one node; a NATS broker serves several.
type Broker interface {
	// Publish sends msg towards every connection of deviceID on any node.
	Publish(ctx context.Context, deviceID string, msg push.Message) error
	// Subscribe registers the node's delivery function; called once.
	Subscribe(deliver func(deviceID string, msg push.Message)) error
	// Ready says whether messages can flow (for /readyz).
	Ready() error
	Close() error
}

// LocalBroker delivers within the process.
type LocalBroker struct {
	mu      sync.RWMutex
	deliver func(string, push.Message)
}

// NewLocalBroker returns the in-process broker.
func NewLocalBroker() *LocalBroker { return &LocalBroker{} }

func (b *LocalBroker) Publish(_ context.Context, deviceID string, msg push.Message) error {
	b.mu.RLock()
	d := b.deliver
	b.mu.RUnlock()
	if d != nil {
		d(deviceID, msg)
	}
	return nil
}

func (b *LocalBroker) Subscribe(deliver func(string, push.Message)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deliver != nil {
		return errors.New("local broker: already subscribed")
	}
	b.deliver = deliver
	return nil
}

func (b *LocalBroker) Ready() error { return nil }

func (b *LocalBroker) Close() error { return nil }

// Socket limits (DESIGN.md, wire protocol 3); the ping pace is in Options.
const (
	writeTimeout = 10 * time.Second
	// sendQueue messages may wait for a slow device; past that the
	// connection is dropped rather than holding up anyone else. The device
	// catches up through the pending list when it reconnects.
	sendQueue = 32
)

// conn is one device WebSocket. An idle connection costs its reader
// goroutine and a few hundred bytes: messages wait in a queue, and a writer
// goroutine runs only while there is something to write, so that there is
// never more than one writer.
type conn struct {
	deviceID string
	ws       *websocket.Conn

	mu      sync.Mutex
	queue   []*push.Message // nil entries are pings
	writing bool
	closing bool // close once the queue is written
	closed  bool
}

func newConn(deviceID string, ws *websocket.Conn) *conn {
	return &conn{deviceID: deviceID, ws: ws}
}

// enqueue hands msg to the writer without blocking; a full queue drops
// the connection.
func (c *conn) enqueue(msg *push.Message) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closing {
		return false
	}
	if len(c.queue) >= sendQueue {
		c.shutLocked()
		return false
	}
	c.queue = append(c.queue, msg)
	if !c.writing {
		c.writing = true
		go c.write()
	}
	return true
}

// write is the connection's one writer while it runs.
func (c *conn) write() {
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.writing, c.queue = false, nil
			if c.closing {
				c.shutLocked()
			}
			c.mu.Unlock()
			return
		}
		msg := c.queue[0]
		c.queue = c.queue[1:]
		c.mu.Unlock()
		var err error
		if msg == nil {
			err = c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout))
		} else {
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			err = c.ws.WriteJSON(msg)
		}
		if err != nil {
			c.mu.Lock()
			c.shutLocked()
			c.mu.Unlock()
		}
	}
}

// close says goodbye once what is queued (an error that explains the
// close, say) is written.
func (c *conn) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.closing {
		return
	}
	c.closing = true
	if !c.writing {
		c.shutLocked()
	}
}

func (c *conn) shutLocked() {
	if c.closed {
		return
	}
	c.closed = true
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseGoingAway, "server closing"), time.Now().Add(time.Second))
	c.ws.Close()
}

// hub knows this node's open device connections and pings them.
type hub struct {
	mu    sync.RWMutex
	conns map[string]map[*conn]struct{}
	n     int
	stop  chan struct{}
}

func newHub(ping time.Duration) *hub {
	h := &hub{conns: map[string]map[*conn]struct{}{}, stop: make(chan struct{})}
	go h.pinger(ping)
	return h
}

// pinger pings every connection every interval, from one goroutine for
// the whole node rather than a ticker per connection.
func (h *hub) pinger(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		h.mu.RLock()
		for _, set := range h.conns {
			for c := range set {
				c.enqueue(nil)
			}
		}
		h.mu.RUnlock()
	}
}

func (h *hub) add(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.conns[c.deviceID]
	if set == nil {
		set = map[*conn]struct{}{}
		h.conns[c.deviceID] = set
	}
	set[c] = struct{}{}
	h.n++
}

func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.conns[c.deviceID]
	if _, ok := set[c]; !ok {
		return
	}
	delete(set, c)
	h.n--
	if len(set) == 0 {
		delete(h.conns, c.deviceID)
	}
}

// deliver queues msg on every connection of a device on this node.
func (h *hub) deliver(deviceID string, msg push.Message) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.conns[deviceID] {
		c.enqueue(&msg)
	}
}

// disconnect closes every connection of a device (revoked).
func (h *hub) disconnect(deviceID string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for c := range h.conns[deviceID] {
		c.close()
	}
}

func (h *hub) closeAll() {
	close(h.stop)
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, set := range h.conns {
		for c := range set {
			c.close()
		}
	}
}

func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.n
}

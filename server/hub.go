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

// conn is one device WebSocket. Only its writer goroutine writes to ws.
type conn struct {
	deviceID string
	ws       *websocket.Conn
	ping     time.Duration
	send     chan push.Message
	done     chan struct{}
	once     sync.Once
}

func newConn(deviceID string, ws *websocket.Conn, ping time.Duration) *conn {
	return &conn{deviceID: deviceID, ws: ws, ping: ping, send: make(chan push.Message, sendQueue), done: make(chan struct{})}
}

// enqueue hands msg to the writer without blocking; a full queue closes the
// connection.
func (c *conn) enqueue(msg push.Message) bool {
	select {
	case <-c.done:
		return false
	default:
	}
	select {
	case c.send <- msg:
		return true
	default:
		c.close()
		return false
	}
}

func (c *conn) close() {
	c.once.Do(func() { close(c.done) })
}

// writeLoop is the connection's only writer: queued messages and pings.
func (c *conn) writeLoop() {
	ping := time.NewTicker(c.ping)
	defer func() {
		ping.Stop()
		c.ws.Close()
	}()
	for {
		select {
		case <-c.done:
			// Flush what is queued (an error that explains the close, say)
			// before saying goodbye.
			_ = c.ws.SetWriteDeadline(time.Now().Add(time.Second))
			for drained := false; !drained; {
				select {
				case msg := <-c.send:
					if c.ws.WriteJSON(msg) != nil {
						drained = true
					}
				default:
					drained = true
				}
			}
			_ = c.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseGoingAway, "server closing"), time.Now().Add(time.Second))
			return
		case msg := <-c.send:
			_ = c.ws.SetWriteDeadline(time.Now().Add(writeTimeout))
			if err := c.ws.WriteJSON(msg); err != nil {
				c.close()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeTimeout)); err != nil {
				c.close()
				return
			}
		}
	}
}

// hub knows this node's open device connections.
type hub struct {
	mu    sync.RWMutex
	conns map[string]map[*conn]struct{}
	n     int
}

func newHub() *hub { return &hub{conns: map[string]map[*conn]struct{}{}} }

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
		c.enqueue(msg)
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

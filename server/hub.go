package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gobwas/ws"

	"github.com/seed-3a5b824e/assent/push"
)

// Broker carries messages for devices to the node that holds their socket.
// The in-process broker serves one node; a NATS broker serves several.
type Broker interface {
	// Publish sends msg towards every connection of deviceID on any node.
	// It fails with ErrBrokerDown when the other nodes cannot be reached
	// now (the message is dropped, never sent late).
	Publish(ctx context.Context, deviceID string, msg push.Message) error
	// Subscribe registers the node's delivery function; called once.
	Subscribe(deliver func(deviceID string, msg push.Message)) error
	// Ready says whether messages can flow (for /readyz).
	Ready() error
	Close() error
}

// ErrBrokerDown means a message could not go to the other nodes: the
// broker is unreachable from this node.
var ErrBrokerDown = errors.New("the message broker is unreachable")

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

// SocketLimits bound the push sockets of a node. Zero fields take the
// defaults.
type SocketLimits struct {
	// PerDevice sockets of one device may be open on a node (default 4); a
	// newer one closes the oldest, which is told why (error "replaced").
	// A device needs one; a phone that changed networks may reconnect
	// before the node notices that its old socket died (up to a minute of
	// silence), and an app and the CLI may listen at once. Past four the
	// oldest is all but certainly dead, and one device key cannot pile up
	// sockets on a node.
	PerDevice int
	// Unauthenticated sockets (upgraded, waiting for their hello, for at
	// most 10 s) may be open on a node (default 1024), and
	// UnauthenticatedPerAddress from one client address, an IPv6 /64
	// (default 32). Past them the upgrade is refused: 503 for the node,
	// 429 for the address. Such a socket costs a goroutine and its
	// buffers before anyone knows who opened it: 1024 of them are some
	// 20 MiB at most. A real device sends its hello in the first round trip
	// (and the app sends its token in the upgrade request instead), so
	// thousands a second still get through; a NAT of many devices
	// reconnecting together spreads them over a second or more of jitter.
	Unauthenticated           int
	UnauthenticatedPerAddress int
}

func (l SocketLimits) withDefaults() SocketLimits {
	if l.PerDevice <= 0 {
		l.PerDevice = 4
	}
	if l.Unauthenticated <= 0 {
		l.Unauthenticated = 1024
	}
	if l.UnauthenticatedPerAddress <= 0 {
		l.UnauthenticatedPerAddress = 32
	}
	return l
}

// hub knows this node's open device connections and pings them.
type hub struct {
	limits SocketLimits
	idle   time.Duration // silence that closes a socket

	mu sync.RWMutex
	// conns are each device's sockets, oldest first.
	conns map[string][]*conn
	n     int
	stop  chan struct{}

	// Sockets waiting for their hello, on the node and by address.
	helloMu     sync.Mutex
	hellos      int
	helloByAddr map[string]int
}

func newHub(ping, idle time.Duration, limits SocketLimits) *hub {
	h := &hub{limits: limits.withDefaults(), idle: idle, conns: map[string][]*conn{}, helloByAddr: map[string]int{}, stop: make(chan struct{})}
	go h.pinger(ping)
	return h
}

// pinger pings every connection every interval, from one goroutine for
// the whole node rather than a ticker per connection, and closes those
// silent for longer than the idle timeout (neither a frame nor a pong).
func (h *hub) pinger(every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case <-t.C:
		}
		now := time.Now()
		h.mu.RLock()
		for _, set := range h.conns {
			for _, c := range set {
				if c.silentFor(now) > h.idle {
					c.close() // its reader ends and removes it
				} else {
					c.push(outFrame{control: ws.OpPing})
				}
			}
		}
		h.mu.RUnlock()
	}
}

// msgReplaced is what a socket that a newer one of its device displaced
// is told before it closes.
func msgReplaced(limit int) *push.Message {
	return &push.Message{Type: push.MsgError, Error: push.ErrReplaced,
		Message: fmt.Sprintf("a newer connection of this device took this one's place: a device keeps at most %d sockets on a node, "+
			"the oldest goes first; close the device's other connections if this one should stay", limit)}
}

// add registers a socket. A device with PerDevice sockets open on this
// node loses its oldest, which is told why and closed; add says how many
// it closed.
func (h *hub) add(c *conn) (replaced int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.conns[c.deviceID]
	for len(set) >= h.limits.PerDevice {
		old := set[0]
		set[0] = nil
		set = set[1:]
		h.n--
		old.enqueue(msgReplaced(h.limits.PerDevice))
		old.close()
		replaced++
	}
	h.conns[c.deviceID] = append(set, c)
	h.n++
	return replaced
}

func (h *hub) remove(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	set := h.conns[c.deviceID]
	i := slices.Index(set, c)
	if i < 0 {
		return // replaced already
	}
	set = slices.Delete(set, i, i+1)
	h.n--
	if len(set) == 0 {
		delete(h.conns, c.deviceID)
	} else {
		h.conns[c.deviceID] = set
	}
}

// Refusals of sockets past the caps on unauthenticated ones.
var (
	errHelloNodeCap = &apiError{Status: http.StatusServiceUnavailable, Code: "busy", RetryAfter: 10,
		Message: "this node has too many push sockets waiting for their hello; try again in a few seconds, or send the device token in the Authorization header of the upgrade request"}
	errHelloAddressCap = &apiError{Status: http.StatusTooManyRequests, Code: "too_many_sockets", RetryAfter: 10,
		Message: "too many push sockets from your address are waiting for their hello; send each socket's hello at once, or the device token in the Authorization header of the upgrade request"}
)

// admitHello takes a place for a socket that will authenticate with a
// hello, if the node and the address have one.
func (h *hub) admitHello(addr string) error {
	h.helloMu.Lock()
	defer h.helloMu.Unlock()
	if h.hellos >= h.limits.Unauthenticated {
		return errHelloNodeCap
	}
	if h.helloByAddr[addr] >= h.limits.UnauthenticatedPerAddress {
		return errHelloAddressCap
	}
	h.hellos++
	h.helloByAddr[addr]++
	return nil
}

// helloDone gives back the place admitHello took.
func (h *hub) helloDone(addr string) {
	h.helloMu.Lock()
	defer h.helloMu.Unlock()
	h.hellos--
	if h.helloByAddr[addr]--; h.helloByAddr[addr] <= 0 {
		delete(h.helloByAddr, addr)
	}
}

// deliver queues msg on every connection of a device on this node.
func (h *hub) deliver(deviceID string, msg push.Message) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.conns[deviceID] {
		c.enqueue(&msg)
	}
}

// holds says whether this node has a connection of the device.
func (h *hub) holds(deviceID string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns[deviceID]) > 0
}

// disconnect closes every connection of a device (revoked).
func (h *hub) disconnect(deviceID string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, c := range h.conns[deviceID] {
		c.close()
	}
}

func (h *hub) closeAll() {
	close(h.stop)
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, set := range h.conns {
		for _, c := range set {
			c.close()
		}
	}
}

func (h *hub) count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.n
}

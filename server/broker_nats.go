package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/seed-3a5b824e/assent/push"
)

// NATSBroker carries messages for devices between assentd nodes over NATS:
// a message for a device is published on <prefix>.device.<id>, and every
// node delivers what it receives to the sockets it holds.
type NATSBroker struct {
	nc     *nats.Conn
	prefix string
	log    *slog.Logger

	mu  sync.Mutex
	sub *nats.Subscription
	// interest, when set, says whether this node wants a message of a
	// type for a device (SetInterest).
	interest atomic.Pointer[func(deviceID, msgType string) bool]
}

// typeHeader names a message's type (push.Message.Type) outside its JSON,
// so that a node can pass over what it has no use for without decoding
// it. Messages from a node that sends no header are decoded as before.
const typeHeader = "Assent-Type"

// SetInterest makes the broker drop, undecoded, the messages f says this
// node has no use for: every node receives every device's messages, and
// only the one holding the device's socket (or, for a push that ended, one
// holding a poll that waits for it) does anything with them.
func (b *NATSBroker) SetInterest(f func(deviceID, msgType string) bool) { b.interest.Store(&f) }

// DialNATS connects to NATS at url. Subjects start with prefix ("assent"
// when empty), so that several Assent installations can share a NATS.
func DialNATS(url, prefix string, log *slog.Logger) (*NATSBroker, error) {
	if prefix == "" {
		prefix = "assent"
	}
	if log == nil {
		log = slog.Default()
	}
	nc, err := nats.Connect(url,
		nats.Name("assentd"),
		nats.Timeout(10*time.Second),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		// Nothing is kept to send after a reconnect: a push that cannot go
		// now is reported to its caller, not delivered seconds late.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats: reconnected", "server", c.ConnectedUrlRedacted()) }),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redactURL(url), err)
	}
	return &NATSBroker{nc: nc, prefix: prefix, log: log}, nil
}

func (b *NATSBroker) subject(deviceID string) string { return b.prefix + ".device." + deviceID }

// Publish sends msg to every node; the one holding the device's socket
// delivers it.
func (b *NATSBroker) Publish(_ context.Context, deviceID string, msg push.Message) error {
	if strings.ContainsAny(deviceID, ".*> \t") || deviceID == "" {
		return fmt.Errorf("nats: device id %q cannot be a subject token", deviceID)
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("%w (nats: %s)", ErrBrokerDown, b.nc.Status())
	}
	m := &nats.Msg{Subject: b.subject(deviceID), Data: data}
	if b.nc.HeadersSupported() {
		m.Header = nats.Header{typeHeader: []string{msg.Type}}
	}
	if err := b.nc.PublishMsg(m); err != nil {
		if errors.Is(err, nats.ErrReconnectBufExceeded) || errors.Is(err, nats.ErrConnectionClosed) {
			return fmt.Errorf("%w (%v)", ErrBrokerDown, err)
		}
		return err
	}
	return nil
}

// Subscribe delivers messages for any device to this node's hub.
func (b *NATSBroker) Subscribe(deliver func(deviceID string, msg push.Message)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sub != nil {
		return errors.New("nats broker: already subscribed")
	}
	prefix := b.prefix + ".device."
	sub, err := b.nc.Subscribe(prefix+"*", func(m *nats.Msg) {
		if f := b.interest.Load(); f != nil {
			if t := m.Header.Get(typeHeader); t != "" && !(*f)(strings.TrimPrefix(m.Subject, prefix), t) {
				return
			}
		}
		var msg push.Message
		if err := json.Unmarshal(m.Data, &msg); err != nil {
			b.log.Warn("nats: dropped a message that is not JSON", "subject", m.Subject)
			return
		}
		deliver(strings.TrimPrefix(m.Subject, prefix), msg)
	})
	if err != nil {
		return fmt.Errorf("nats: subscribe: %w", err)
	}
	// Pushes come in bursts; let the subscription queue grow rather than
	// drop messages while the hub catches up.
	_ = sub.SetPendingLimits(1<<20, 256<<20)
	if err := b.nc.Flush(); err != nil {
		return fmt.Errorf("nats: subscribe: %w", err)
	}
	b.sub = sub
	return nil
}

// Ready reports whether NATS is connected.
func (b *NATSBroker) Ready() error {
	if !b.nc.IsConnected() {
		return fmt.Errorf("nats: %s", b.nc.Status())
	}
	return nil
}

// Close drains the subscription and the connection.
func (b *NATSBroker) Close() error {
	if b.nc.IsClosed() {
		return nil
	}
	return b.nc.Drain()
}

// redactURL drops a password from a URL for messages.
func redactURL(u string) string {
	if at := strings.LastIndex(u, "@"); at >= 0 {
		if scheme := strings.Index(u, "://"); scheme >= 0 && scheme < at {
			return u[:scheme+3] + "…@" + u[at+1:]
		}
	}
	return u
}

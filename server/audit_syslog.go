package server

import (
	"encoding/json"
	"fmt"
	"log/syslog"
	"net"
	"strings"
	"sync/atomic"

	"github.com/seed-3a5b824e/assent/server/store"
)

// The audit log can be copied, as it is written, to syslog
// (--audit-syslog): the local daemon ("local": /dev/log, which journald
// reads on a systemd machine) or a remote one over UDP or TCP. Each event
// is one message, facility authpriv, severity info, tag assentd: the
// event's JSON record (store.AuditRecord) with its chain hashes, so that
// a copy kept elsewhere both holds what happened and anchors the chain
// (a rewrite of the database no longer matches the hashes sent).
//
// Sending never holds up the audit writer: events queue (auditSinkQueue)
// for a goroutine of the sink's own, and when the queue is full they are
// dropped and counted in the node's log — the database stays the record.

// auditSinkQueue is how many events wait for syslog before new ones are
// dropped.
const auditSinkQueue = 4096

// ParseAuditSyslog checks an --audit-syslog value and returns the network
// and address for syslog.Dial: "" and "" for "local" (the local daemon),
// "udp" or "tcp" and host:port for udp://host:port, tcp://host:port or a
// bare host:port (UDP, syslog's usual).
func ParseAuditSyslog(v string) (network, addr string, err error) {
	if v == "local" {
		return "", "", nil
	}
	network, addr = "udp", v
	if n, a, ok := strings.Cut(v, "://"); ok {
		network, addr = n, a
	}
	if network != "udp" && network != "tcp" {
		return "", "", fmt.Errorf("audit-syslog %q: want local, udp://host:port, tcp://host:port or host:port", v)
	}
	if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
		return "", "", fmt.Errorf("audit-syslog %q: want local, udp://host:port, tcp://host:port or host:port", v)
	}
	return network, addr, nil
}

// AttachAuditSyslog connects to syslog as v (see ParseAuditSyslog) and
// sends every audit event this node writes from now on there as well.
// The connection is closed when the server closes.
func (s *Server) AttachAuditSyslog(v string) error {
	network, addr, err := ParseAuditSyslog(v)
	if err != nil {
		return err
	}
	w, err := syslog.Dial(network, addr, syslog.LOG_AUTHPRIV|syslog.LOG_INFO, "assentd")
	if err != nil {
		return fmt.Errorf("audit-syslog %s: %w", v, err)
	}
	k := &auditSink{s: s, w: w, name: v, q: make(chan store.AuditEvent, auditSinkQueue)}
	if !s.sinks.p.CompareAndSwap(nil, k) {
		w.Close()
		return fmt.Errorf("audit-syslog %s: a sink is attached already", v)
	}
	go k.run()
	return nil
}

// auditSinks holds the node's sink, if any; the audit writer reads it.
type auditSinks struct{ p atomic.Pointer[auditSink] }

// ship queues events (as stored, with their hashes) for the sink.
func (ss *auditSinks) ship(es []store.AuditEvent) {
	k := ss.p.Load()
	if k == nil {
		return
	}
	for _, e := range es {
		select {
		case k.q <- e:
		default:
			if n := k.dropped.Add(1); n == 1 || n%1000 == 0 {
				k.s.log.Warn("audit-syslog is not keeping up: events dropped from the syslog copy (the database keeps them)", "dropped", n, "syslog", k.name)
			}
		}
	}
}

type auditSink struct {
	s       *Server
	w       *syslog.Writer
	name    string
	q       chan store.AuditEvent
	dropped atomic.Int64
}

// run sends queued events until the server closes, then what is queued
// at that moment, and closes the connection.
func (k *auditSink) run() {
	defer k.w.Close()
	failed := false
	send := func(e store.AuditEvent) {
		b, err := json.Marshal(store.NewAuditRecord(e))
		if err == nil {
			err = k.w.Info(string(b))
		}
		switch {
		case err != nil && !failed:
			failed = true
			k.s.log.Warn("audit-syslog send failed; retrying with the next event", "syslog", k.name, "err", err)
		case err == nil && failed:
			failed = false
			k.s.log.Info("audit-syslog sends again", "syslog", k.name)
		}
	}
	for {
		select {
		case e := <-k.q:
			send(e)
		case <-k.s.done:
			for {
				select {
				case e := <-k.q:
					send(e)
				default:
					return
				}
			}
		}
	}
}

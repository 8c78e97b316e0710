// Package radius is Assent's RADIUS server: VPN servers, firewalls, switches
// and Wi-Fi controllers ask it, over RADIUS (RFC 2865), whether a person
// may connect, and it answers after the engine has checked the password
// and the person has approved a push on their Assent device (or typed a
// code). layeh.com/radius reads and writes the packets; this package reads
// the socket, checks the Message-Authenticator (RFC 3579) and drives the
// engine's embedded API in process (server.Do), so the app's sign-on
// rule, the limits, the lockouts and the audit log apply as they do to
// every sign-in.
//
// Clients are apps of type radius in the engine's registry (clients.go);
// the engine knows nothing of RADIUS: this package uses only what
// server/front.go offers.
//
// Why not radius.PacketServer: it does not hand the handler the packet's
// bytes (the Message-Authenticator is an HMAC over them), it starts a
// goroutine for every datagram before any check, it writes every bad
// packet to the standard logger (a flood fills it), and it spots a
// retransmission only while the first copy is being worked on. The loop
// here is a socket read and a bounded queue; parsing and encoding are
// layeh's.
package radius

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"layeh.com/radius"

	"github.com/seed-3a5b824e/assent/server"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Options tune the RADIUS server; zero fields take the defaults.
type Options struct {
	// Listen is the UDP address to serve (assentd's --radius-listen, e.g.
	// 0.0.0.0:1812); empty serves nothing (the app type is registered all
	// the same).
	Listen string
	// PollInterval is how often a request waiting on a push asks the
	// engine whether it was answered (1 s).
	PollInterval time.Duration
	// StateTTL is how long an Access-Challenge's State may be answered
	// (3 minutes): long enough to pick up the phone, approve and press
	// Enter, or to type a code.
	StateTTL time.Duration
	// AnswerTTL is how long an answer is kept for retransmissions of its
	// request (2 minutes), counted from the answer: a client that gave up
	// waiting and asks again gets the result instead of a second push.
	AnswerTTL time.Duration
	// RatePerMinute bounds the new requests each client may send in a
	// minute (1200); the rest are dropped, and the client retransmits.
	RatePerMinute int
	// MaxHeld bounds the requests of one client in progress at once
	// (5000), most of them waiting on a person.
	MaxHeld int
	// Workers check datagrams in parallel (16); Queue datagrams wait for
	// them (4096) before new ones are dropped.
	Workers, Queue int
	// RefreshInterval is how often the registered clients are read again
	// (10 s): a removed client stops being answered within it. A request
	// from an address no client covers reads them at once (at most once a
	// second), so a new client works straight away.
	RefreshInterval time.Duration
}

func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(n *int, v int) {
		if *n <= 0 {
			*n = v
		}
	}
	def(&o.PollInterval, time.Second)
	def(&o.StateTTL, 3*time.Minute)
	def(&o.AnswerTTL, 2*time.Minute)
	def(&o.RefreshInterval, 10*time.Second)
	defInt(&o.RatePerMinute, 1200)
	defInt(&o.MaxHeld, 5000)
	defInt(&o.Workers, 16)
	defInt(&o.Queue, 4096)
	return o
}

// replayTTL is how long a request's authenticator is remembered in the
// store, on every node: the same request seen again after its answer
// left the cache (or on another node) is a replay, and dropped.
const replayTTL = 10 * time.Minute

// Reasons a datagram is dropped, as the audit log names them.
const (
	DropUnknownClient = "unknown client"
	DropNoMessageAuth = "no Message-Authenticator"
	DropBadAuth       = "bad authenticator"
	DropMalformed     = "malformed packet"
	DropNotAccess     = "not an Access-Request"
	DropRateLimited   = "rate limited"
	DropTooManyHeld   = "too many requests in progress"
	DropBusy          = "server busy"
	DropReplayed      = "replayed request"
)

// Server is the RADIUS server of one assentd node.
type Server struct {
	s       *server.Server
	o       Options
	conn    net.PacketConn
	clients *registry
	drops   *dropLog

	ctx    context.Context
	cancel context.CancelFunc
	queue  chan datagram
	// loops are the reader, the workers, the janitor and the audit
	// writer; reqs are the requests in progress.
	loops, reqs sync.WaitGroup
	closeOnce   sync.Once

	mu sync.Mutex
	// inflight are the requests being worked on, answers the answers kept
	// for retransmissions, use each client's rate and load.
	inflight map[reqKey]struct{}
	answers  map[reqKey]cachedAnswer
	use      map[string]*clientUse

	received, retransmits, answered, working, waiting atomic.Int64
	dropped                                           sync.Map // reason → *atomic.Int64
}

type datagram struct {
	b   []byte
	src netip.AddrPort
}

// reqKey tells a retransmission from a new request (RFC 5080, 2.2.2):
// the same source address and port, identifier and Request
// Authenticator.
type reqKey struct {
	src  netip.AddrPort
	id   byte
	auth [16]byte
}

type cachedAnswer struct {
	b     []byte
	until time.Time
}

type clientUse struct {
	windowStart time.Time
	count       int
	working     int
}

// RegisterKind registers the app type radius with the engine's registry,
// without serving anything: what the command line needs to add clients.
func RegisterKind(s *server.Server) { s.RegisterAppKind(appKind(s)) }

// Attach registers the app type radius and, when opts.Listen is set,
// serves RADIUS on that UDP address until s closes (s.Done) or Close is
// called.
func Attach(s *server.Server, opts Options) (*Server, error) {
	RegisterKind(s)
	r := newServer(s, opts)
	if r.o.Listen == "" {
		return r, nil
	}
	conn, err := net.ListenPacket("udp", r.o.Listen)
	if err != nil {
		r.cancel()
		return nil, fmt.Errorf("radius-listen %s: %w; another RADIUS server on this machine may hold the port", r.o.Listen, err)
	}
	if err := r.serve(conn); err != nil {
		conn.Close()
		r.cancel()
		return nil, err
	}
	return r, nil
}

func newServer(s *server.Server, opts Options) *Server {
	r := &Server{s: s, o: opts.withDefaults(), inflight: map[reqKey]struct{}{}, answers: map[reqKey]cachedAnswer{},
		use: map[string]*clientUse{}}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.clients = newRegistry(s, r.o.RefreshInterval)
	r.drops = newDropLog(r)
	return r
}

// serve starts the loops on conn.
func (r *Server) serve(conn net.PacketConn) error {
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	if err := r.clients.load(ctx); err != nil {
		return fmt.Errorf("radius: read the registered clients: %w", err)
	}
	r.clients.loadedAt.Store(time.Now().UnixNano())
	if uc, ok := conn.(*net.UDPConn); ok {
		// Bursts (every VPN user of an office at nine) wait in the kernel
		// rather than being lost; the system may give less.
		_ = uc.SetReadBuffer(4 << 20)
	}
	r.conn = conn
	r.queue = make(chan datagram, r.o.Queue)
	n := len(*r.clients.clients.Load())
	r.s.Logger().Info("RADIUS server listening", "addr", conn.LocalAddr().String(), "clients", n)
	if n == 0 {
		r.s.Logger().Warn("no RADIUS clients are registered, so every request is dropped; add one with " +
			"'assentd app add NAME --type radius --client NETWORK --secret-file FILE'")
	}
	r.loops.Add(3 + r.o.Workers)
	go r.readLoop()
	for range r.o.Workers {
		go r.worker()
	}
	go r.janitor()
	go r.drops.writer()
	go func() {
		select {
		case <-r.s.Done():
			r.Close()
		case <-r.ctx.Done():
		}
	}()
	return nil
}

// Addr is the address the server listens on (nil when it serves nothing).
func (r *Server) Addr() net.Addr {
	if r.conn == nil {
		return nil
	}
	return r.conn.LocalAddr()
}

// Close stops serving: the socket closes, requests waiting on a push are
// given up (their clients get no answer and try again elsewhere or
// later), and Close returns once every goroutine of the server has.
func (r *Server) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		if r.conn != nil {
			r.conn.Close()
		}
		r.loops.Wait()
		r.reqs.Wait()
	})
	return nil
}

// Stats are counts since the server started.
type Stats struct {
	// Received datagrams; Retransmits among them, answered from the
	// cache or ignored while their first copy is worked on; Answered
	// requests (accepted, rejected or challenged).
	Received, Retransmits, Answered int64
	// Working are the requests in progress now; Waiting among them wait
	// for a person to answer a push.
	Working, Waiting int64
	// Dropped datagrams by reason (the Drop… constants).
	Dropped map[string]int64
}

// Stats says what the server has done.
func (r *Server) Stats() Stats {
	st := Stats{Received: r.received.Load(), Retransmits: r.retransmits.Load(), Answered: r.answered.Load(),
		Working: r.working.Load(), Waiting: r.waiting.Load(), Dropped: map[string]int64{}}
	r.dropped.Range(func(k, v any) bool {
		st.Dropped[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return st
}

func (r *Server) countDrop(reason string) {
	v, _ := r.dropped.LoadOrStore(reason, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

// readLoop reads datagrams into the queue until the socket closes.
func (r *Server) readLoop() {
	defer r.loops.Done()
	defer close(r.queue)
	buf := make([]byte, radius.MaxPacketLength+1)
	uc, _ := r.conn.(*net.UDPConn)
	fails := 0
	for {
		var (
			n   int
			src netip.AddrPort
			err error
		)
		if uc != nil {
			n, src, err = uc.ReadFromUDPAddrPort(buf)
		} else {
			var a net.Addr
			n, a, err = r.conn.ReadFrom(buf)
			if ua, ok := a.(*net.UDPAddr); ok {
				src = ua.AddrPort()
			}
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) || r.ctx.Err() != nil {
				return
			}
			if fails++; fails%100 == 1 {
				r.s.Logger().Error("RADIUS: reading the socket failed", "err", err)
			}
			if fails > 10 {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		fails = 0
		r.received.Add(1)
		src = netip.AddrPortFrom(src.Addr().Unmap(), src.Port())
		if n > radius.MaxPacketLength {
			r.drop(src.Addr().WithZone(""), DropMalformed, "")
			continue
		}
		select {
		case r.queue <- datagram{b: append([]byte(nil), buf[:n]...), src: src}:
		default:
			r.drop(src.Addr().WithZone(""), DropBusy, "")
		}
	}
}

func (r *Server) worker() {
	defer r.loops.Done()
	for d := range r.queue {
		r.receive(d.b, d.src)
	}
}

// receive checks one datagram, answers what it can at once (a
// retransmission of an answered request, a Status-Server) and starts the
// work of a new request.
func (r *Server) receive(b []byte, src netip.AddrPort) {
	w, ans := r.admit(b, src)
	if ans != nil {
		r.send(ans, src)
	}
	if w != nil {
		r.reqs.Add(1)
		go func() {
			defer r.reqs.Done()
			r.work(w)
		}()
	}
}

// admit is every check a datagram passes before the engine is asked: a
// registered client covers its source, it parses, it is an Access-Request
// (or a Status-Server), its Message-Authenticator was made with that
// client's secret, it is not a retransmission, and the client is within
// its rate. It returns the work to start, or an answer to send at once, or
// neither (dropped, or a retransmission of a request in progress).
func (r *Server) admit(b []byte, src netip.AddrPort) (*work, []byte) {
	if r.ctx.Err() != nil {
		return nil, nil
	}
	// Networks hold no zones: a link-local client is matched without its
	// zone (and answered with it).
	addr := src.Addr().WithZone("")
	cands := r.clients.candidates(r.ctx, addr)
	if len(cands) == 0 {
		r.drop(addr, DropUnknownClient, "")
		return nil, nil
	}
	app := ""
	if len(cands) == 1 {
		app = cands[0].name
	}
	p, err := radius.Parse(b, nil)
	if err != nil {
		r.drop(addr, DropMalformed, app)
		return nil, nil
	}
	if p.Code != radius.CodeAccessRequest && p.Code != radius.CodeStatusServer {
		r.drop(addr, DropNotAccess, app)
		return nil, nil
	}
	at, err := messageAuthenticatorAt(p)
	if errors.Is(err, errNoMessageAuthenticator) {
		r.drop(addr, DropNoMessageAuth, app)
		return nil, nil
	} else if err != nil {
		r.drop(addr, DropBadAuth, app)
		return nil, nil
	}
	length := int(b[2])<<8 | int(b[3])
	zeroed := zeroedForHMAC(b[:length], at)
	got := b[at : at+messageAuthenticatorLen]
	var c *client
	for _, cand := range cands {
		if checkMessageAuthenticator(zeroed, got, cand.secret) {
			c = cand
			break
		}
	}
	if c == nil {
		// A wrong shared secret, or a packet altered on the way.
		r.drop(addr, DropBadAuth, app)
		return nil, nil
	}
	p.Secret = c.secret
	if p.Code == radius.CodeStatusServer {
		// RFC 5997: a client (a FreeRADIUS proxy) asks whether the server
		// is alive; it is.
		if !r.allow(c, addr, false) {
			return nil, nil
		}
		ans, err := encodeAnswer(answerTo(p, radius.CodeAccessAccept))
		if err != nil {
			r.s.Logger().Error("RADIUS: encode an answer", "err", err)
			return nil, nil
		}
		return nil, ans
	}
	key := reqKey{src: src, id: p.Identifier, auth: p.Authenticator}
	now := r.s.Now()
	r.mu.Lock()
	if _, ok := r.inflight[key]; ok {
		r.mu.Unlock()
		r.retransmits.Add(1)
		return nil, nil
	}
	if a, ok := r.answers[key]; ok && now.Before(a.until) {
		r.mu.Unlock()
		r.retransmits.Add(1)
		return nil, a.b
	}
	reason := r.allowLocked(c, now, true)
	if reason == "" {
		r.inflight[key] = struct{}{}
	}
	r.mu.Unlock()
	if reason != "" {
		r.drop(addr, reason, c.name)
		return nil, nil
	}
	return &work{c: c, p: p, key: key, src: src}, nil
}

// allow counts a request against its client's rate; false drops it.
func (r *Server) allow(c *client, addr netip.Addr, held bool) bool {
	r.mu.Lock()
	reason := r.allowLocked(c, r.s.Now(), held)
	r.mu.Unlock()
	if reason != "" {
		r.drop(addr, reason, c.name)
		return false
	}
	return true
}

// allowLocked counts a request against its client's rate and, for a
// request the engine works on (held), its load: the reason to drop it, or
// "".
func (r *Server) allowLocked(c *client, now time.Time, held bool) string {
	u := r.use[c.id]
	if u == nil {
		u = &clientUse{windowStart: now}
		r.use[c.id] = u
	}
	if now.Sub(u.windowStart) >= time.Minute || now.Before(u.windowStart) {
		u.windowStart, u.count = now, 0
	}
	switch {
	case u.count >= r.o.RatePerMinute:
		return DropRateLimited
	case held && u.working >= r.o.MaxHeld:
		return DropTooManyHeld
	}
	u.count++
	if held {
		u.working++
		r.working.Add(1)
	}
	return ""
}

// work runs a request through the engine and answers it; the answer is
// kept for the request's retransmissions.
func (r *Server) work(w *work) {
	ans := r.handle(r.ctx, w)
	if r.release(w, ans) {
		r.answered.Add(1)
		r.send(ans, w.src)
	}
}

// release forgets a request in progress, keeping its answer (if any) for
// its retransmissions; it says whether there is an answer to send.
func (r *Server) release(w *work, ans []byte) bool {
	now := r.s.Now()
	r.mu.Lock()
	delete(r.inflight, w.key)
	if u := r.use[w.c.id]; u != nil {
		u.working--
	}
	r.working.Add(-1)
	if ans != nil {
		r.answers[w.key] = cachedAnswer{b: ans, until: now.Add(r.o.AnswerTTL)}
	}
	r.mu.Unlock()
	return ans != nil
}

func (r *Server) send(b []byte, dst netip.AddrPort) {
	if r.conn == nil {
		return
	}
	var err error
	if uc, ok := r.conn.(*net.UDPConn); ok {
		_, err = uc.WriteToUDPAddrPort(b, dst)
	} else {
		_, err = r.conn.WriteTo(b, net.UDPAddrFromAddrPort(dst))
	}
	if err != nil && r.ctx.Err() == nil {
		r.s.Logger().Warn("RADIUS: sending an answer failed", "to", dst.String(), "err", err)
	}
}

// janitor forgets answers past their time and idle clients' counts.
func (r *Server) janitor() {
	defer r.loops.Done()
	every := min(r.o.AnswerTTL/4, 15*time.Second)
	t := time.NewTicker(max(every, time.Second))
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.sweep()
		}
	}
}

func (r *Server) sweep() {
	now := r.s.Now()
	r.mu.Lock()
	for k, a := range r.answers {
		if !now.Before(a.until) {
			delete(r.answers, k)
		}
	}
	for id, u := range r.use {
		if u.working == 0 && now.Sub(u.windowStart) >= time.Minute {
			delete(r.use, id)
		}
	}
	r.mu.Unlock()
	r.drops.sweep(now)
}

// drop counts and audits a dropped datagram.
func (r *Server) drop(src netip.Addr, reason, app string) {
	r.countDrop(reason)
	r.drops.note(src, reason, app)
}

// dropLog writes radius.dropped events without letting a flood fill the
// log: one event per source and reason a minute, at most
// dropEventsPerMinute in all; the next event written says how many were
// left out. Events are written by one goroutine, off the path of the
// datagrams.
type dropLog struct {
	r           *Server
	mu          sync.Mutex
	seen        map[dropKey]time.Time
	windowStart time.Time
	written     int
	left        int
	ch          chan store.AuditEvent
}

type dropKey struct {
	src    netip.Addr
	reason string
}

const (
	dropEventsPerMinute = 60
	maxDropKeys         = 10000
)

func newDropLog(r *Server) *dropLog {
	return &dropLog{r: r, seen: map[dropKey]time.Time{}, ch: make(chan store.AuditEvent, 64)}
}

func (d *dropLog) note(src netip.Addr, reason, app string) {
	now := d.r.s.Now()
	d.mu.Lock()
	k := dropKey{src: src, reason: reason}
	if until, ok := d.seen[k]; ok && now.Before(until) {
		d.left++
		d.mu.Unlock()
		return
	}
	if now.Sub(d.windowStart) >= time.Minute || now.Before(d.windowStart) {
		d.windowStart, d.written = now, 0
	}
	if len(d.seen) >= maxDropKeys {
		d.sweepLocked(now)
	}
	if d.written >= dropEventsPerMinute || len(d.seen) >= maxDropKeys {
		d.left++
		d.mu.Unlock()
		return
	}
	d.seen[k] = now.Add(time.Minute)
	d.written++
	left := d.left
	d.left = 0
	d.mu.Unlock()
	ev := store.AuditEvent{Type: "radius.dropped", ClientIP: src.String(), Detail: map[string]string{"reason": reason, "source": src.String()}}
	if app != "" {
		ev.Detail["app"] = app
	}
	if left > 0 {
		ev.Detail["unlogged"] = strconv.Itoa(left)
	}
	select {
	case d.ch <- ev:
	default:
		d.mu.Lock()
		d.left += 1 + left
		d.mu.Unlock()
	}
}

func (d *dropLog) sweep(now time.Time) {
	d.mu.Lock()
	d.sweepLocked(now)
	d.mu.Unlock()
}

func (d *dropLog) sweepLocked(now time.Time) {
	for k, until := range d.seen {
		if !now.Before(until) {
			delete(d.seen, k)
		}
	}
}

// writer writes the events until the server closes; what is still queued
// then is written too.
func (d *dropLog) writer() {
	defer d.r.loops.Done()
	for {
		select {
		case ev := <-d.ch:
			d.r.s.Audit(context.Background(), ev)
		case <-d.r.ctx.Done():
			for {
				select {
				case ev := <-d.ch:
					d.r.s.Audit(context.Background(), ev)
				default:
					return
				}
			}
		}
	}
}

// replayKey names a request's authenticator in the store.
func replayKey(c *client, auth [16]byte) string {
	return "radius:" + c.id + ":" + hex.EncodeToString(auth[:])
}

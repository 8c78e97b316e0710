package server

import (
	"context"
	"crypto/ecdsa"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/seed-3a5b824e/assent/crypto"
	"github.com/seed-3a5b824e/assent/push"
	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
)

// Options wire a Server. Store, URL and SealKey are required.
type Options struct {
	// URL is the public base URL: the issuer of challenges, the audience of
	// device tokens, and the server in enrollment links.
	URL     string
	Org     string
	Store   store.Store
	SealKey []byte
	// Now is the clock everything that expires reads; time.Now by default.
	Now    func() time.Time
	Logger *slog.Logger
	// Broker carries messages for devices between nodes; in-process by
	// default.
	Broker Broker
	// SoleNode says that this node is the only process serving its store
	// (assentd serve on SQLite, which locks its data folder): with the
	// in-process broker it then keeps pending challenges in memory and
	// writes each once, settled (pending.go). Nodes sharing a store
	// leave it false.
	SoleNode bool
	// Policy decides what sign-ins and recoveries need; the secure
	// defaults when nil.
	Policy *policy.Policy
	// Mailer sends mail (magic links, notices); none means the email
	// authenticator is not offered.
	Mailer    Mailer
	EnrollTTL time.Duration
	// Dev turns on development pages (the mail sink at /dev/mail).
	Dev bool
	// PasswordParams are the Argon2id costs of new password hashes.
	PasswordParams crypto.Argon2Params
	// SessionTTL is how long a signed-in session lasts.
	SessionTTL time.Duration
	// GCInterval is how often Run collects expired rows.
	GCInterval time.Duration
	// PingInterval and IdleTimeout pace the push sockets: a ping every
	// PingInterval, and a socket silent for IdleTimeout (no frame, no
	// pong) is closed at the next ping.
	PingInterval time.Duration
	IdleTimeout  time.Duration
	// Limits are the throttles of unauthenticated requests and guesses;
	// zero fields take the defaults (see limits.go).
	Limits Limits
	// TrustedProxies are the reverse proxies whose X-Forwarded-For or
	// Forwarded header names the client (see proxy.go); without them the
	// TCP peer is the client, whatever the headers say.
	TrustedProxies []*net.IPNet
	// HTTP bounds the public listener's connections (HTTPServer,
	// Listener); zero fields take the defaults (see netlimit.go).
	HTTP HTTPLimits
	// Sockets bound the push sockets of this node; zero fields take the
	// defaults (see hub.go).
	Sockets SocketLimits
	// PollRecheck is how often a held challenge-poll looks at the store
	// itself, in case the broker dropped the message that would have
	// woken it (pushwait.go); 1 s by default.
	PollRecheck time.Duration
}

// Server is one assentd node.
type Server struct {
	opts    Options
	st      store.Store
	pending *soleStore // nil when several nodes share the store
	// history keeps what risk reads of users' sign-ins (nil when several
	// nodes share the store: each of them writes sign-ins).
	history *signInHistory
	sealer  *crypto.Sealer
	signKey *ecdsa.PrivateKey
	pin     string
	log     *slog.Logger
	hub     *hub
	broker  Broker
	// waits are the challenge-polls held until their push ends
	// (pushwait.go).
	waits *pushWaits
	// probe is /readyz's write probe; noSpaceLogged when an out-of-space
	// store was last logged (diskspace.go).
	probe         writeProbe
	noSpaceLogged atomic.Int64
	mux           *http.ServeMux
	// web serves the hosted pages.
	web     *pages
	handler http.Handler
	// ops serves the operator endpoints (OpsHandler).
	ops     http.Handler
	metrics *metrics
	// keys holds devices' public keys parsed.
	keys *deviceKeys
	// uv remembers which challenges required user verification.
	uv uvMemo
	// adminTokens remembers admin API tokens recently found in the store.
	adminTokens tokenCache
	// dummyHash is verified against when a login is unknown, so that the
	// answer takes as long as for a real user.
	dummyHash string

	// eng is the identity engine's own state (limits, the app cache).
	eng engine

	closeOnce sync.Once
	done      chan struct{}
	audits    chan auditReq
	// sinks copies stored audit events elsewhere (audit_syslog.go).
	sinks auditSinks
}

// New makes a server node; it loads (or on first run creates) the signing
// key.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.Store == nil || o.URL == "" {
		return nil, errors.New("server: Store and URL are required")
	}
	o.URL = strings.TrimRight(o.URL, "/")
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Org == "" {
		o.Org = "Assent"
	}
	if o.Policy == nil {
		o.Policy = policy.Default()
	}
	if o.Policy.Push.Expiry > push.MaxChallengeLifetime*time.Second {
		return nil, fmt.Errorf("server: push expiry %s is over the 10m the protocol allows", o.Policy.Push.Expiry)
	}
	if o.EnrollTTL <= 0 || o.EnrollTTL > 10*time.Minute {
		o.EnrollTTL = 10 * time.Minute
	}
	if o.PasswordParams == (crypto.Argon2Params{}) {
		o.PasswordParams = crypto.DefaultArgon2
	}
	if err := o.PasswordParams.Validate(); err != nil {
		return nil, fmt.Errorf("server: password hashing: %w", err)
	}
	if o.SessionTTL <= 0 {
		o.SessionTTL = 8 * time.Hour
	}
	if o.GCInterval <= 0 {
		o.GCInterval = 10 * time.Second
	}
	if o.PingInterval <= 0 {
		o.PingInterval = 30 * time.Second
	}
	if o.PollRecheck <= 0 {
		o.PollRecheck = time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * o.PingInterval
	}
	o.HTTP = o.HTTP.withDefaults()
	o.Sockets = o.Sockets.withDefaults()
	sealer, err := crypto.NewSealer(o.SealKey)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	key, err := loadSigningKey(ctx, o.Store, sealer)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	pin, err := crypto.Thumbprint(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	s := &Server{
		opts:      o,
		st:        o.Store,
		sealer:    sealer,
		signKey:   key,
		pin:       pin,
		log:       o.Logger,
		hub:       newHub(o.PingInterval, o.IdleTimeout, o.Sockets),
		done:      make(chan struct{}),
		waits:     newPushWaits(),
		audits:    make(chan auditReq),
		dummyHash: crypto.HashPassword(crypto.RandomToken(16), o.PasswordParams),
		keys:      newDeviceKeys(),
	}
	s.metrics = newMetrics(s.hub.count, s.waits.waiting)
	s.broker = o.Broker
	if s.broker == nil {
		s.broker = NewLocalBroker()
		if o.SoleNode {
			// This node serves every request: pending challenges can live
			// in its memory and reach the store once, settled.
			s.pending = newSoleStore(s.st, s.audited)
			s.pending.warn = func(msg string, err error) { s.log.Warn(msg, "err", err) }
			s.history = newSignInHistory(maxMarks)
			s.st = s.pending
			s.metrics.reg.MustRegister(s.pending.collectors()...)
			if err := s.pending.LoadStored(ctx); err != nil {
				// Every pending list asks the store then: slower, not wrong.
				s.log.Warn("pending pushes of an earlier run: not loaded", "err", err)
			}
			if err := s.pending.LoadDevices(ctx); err != nil {
				// Devices are read one by one as they connect then.
				s.log.Warn("devices: not cached at start", "err", err)
			}
		}
	}
	if s.pending == nil {
		// Other nodes write to the store too: challenges go to it as
		// they change, those that come in together in one transaction.
		shared := newSharedStore(s.st)
		s.st = shared
		s.metrics.reg.MustRegister(shared.collectors()...)
	}
	if b, ok := s.broker.(interface {
		SetInterest(func(deviceID, msgType string) bool)
	}); ok {
		b.SetInterest(s.interested)
	}
	if err := s.broker.Subscribe(s.deliver); err != nil {
		return nil, fmt.Errorf("server: broker: %w", err)
	}
	if s.web, err = newPages(s); err != nil {
		return nil, err
	}
	if err := s.initEngine(ctx); err != nil {
		return nil, err
	}
	s.routes()
	go s.auditWriter()
	return s, nil
}

// Pin is the thumbprint of the signing key that enrollment links carry.
func (s *Server) Pin() string { return s.pin }

// URL is the server's public base URL.
func (s *Server) URL() string { return s.opts.URL }

func (s *Server) now() time.Time { return s.opts.Now() }

// Handler serves the whole HTTP API, the hosted pages and /healthz and
// /readyz: what the public listener serves.
func (s *Server) Handler() http.Handler { return s.handler }

// OpsHandler serves the operator endpoints: /metrics (Prometheus),
// /debug/pprof/ (Go's profiles), POST /debug/gc (collect garbage, report
// memory: what assent-load reads), /healthz and /readyz. It checks no
// caller: it is private by where its listener binds (--ops-listen,
// loopback by default), and must never be mounted on the public listener.
func (s *Server) OpsHandler() http.Handler { return s.ops }

func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("POST "+push.PathEnroll, s.handleEnroll)
	m.HandleFunc("GET "+push.PathPush, s.handlePush)
	m.HandleFunc("GET "+push.PathChallenges, s.handleListChallenges)
	m.HandleFunc("POST "+push.PathChallenges+"/{id}/response", s.handleResponse)
	m.HandleFunc("DELETE "+push.PathDevice, s.handleRevoke)
	m.HandleFunc("POST /v1/idx/{remediation}", s.handleIDX)
	m.HandleFunc("GET /v1/session", s.handleSession)
	m.HandleFunc("DELETE /v1/session", s.handleSignOut)
	s.engineRoutes(m)
	s.adminRoutes(m)
	m.HandleFunc("GET /healthz", s.handleHealthz)
	m.HandleFunc("GET /readyz", s.handleReadyz)
	m.HandleFunc("GET /v1/server", s.handleServerInfo)
	m.Handle("GET /assets/", assetHandler())
	s.web.routes(m)
	m.HandleFunc("/", s.web.handleNotFound)
	s.mux = m
	s.handler = s.withClientIP(s.instrument(m))

	o := http.NewServeMux()
	o.HandleFunc("GET /metrics", s.handleMetrics)
	o.HandleFunc("POST /debug/gc", s.handleGC)
	o.Handle("/debug/pprof/", profiles())
	o.HandleFunc("GET /healthz", s.handleHealthz)
	o.HandleFunc("GET /readyz", s.handleOpsReadyz)
	o.HandleFunc("/", notFound)
	s.ops = o
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, apiErr(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
}

// Run collects expired rows until ctx ends or the server closes, telling
// devices about challenges that expired.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(s.opts.GCInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.done:
			return
		case <-t.C:
			if err := s.GarbageCollect(ctx); err != nil {
				s.log.Error("garbage collection failed", "err", err)
			}
		}
	}
}

// GarbageCollect expires pending challenges past their time and removes
// dead rows.
func (s *Server) GarbageCollect(ctx context.Context) error {
	res, err := s.st.GarbageCollect(ctx, s.now())
	if err != nil {
		return err
	}
	s.audited(ctx, res.Audits) // committed with the expiry, by the store
	for _, c := range res.Expired {
		s.metrics.challenges.WithLabelValues(store.ChallengeExpired).Inc()
		s.notifyResolved(ctx, c.DeviceID, c.ID, store.ChallengeExpired)
	}
	return nil
}

// Close disconnects every device and stops Run.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.hub.closeAll()
		if s.pending != nil {
			// Pushes in flight stay answerable after a restart.
			if err := s.pending.Flush(context.Background()); err != nil {
				s.log.Error("stop: store pending pushes", "err", err)
			}
		}
	})
	return s.broker.Close()
}

// ConnectedDevices counts open push connections on this node.
func (s *Server) ConnectedDevices() int { return s.hub.count() }

// WaitingPolls is how many challenge-polls this node holds until their
// push ends.
func (s *Server) WaitingPolls() int { return s.waits.waiting() }

// ServerInfo is the body of GET /v1/server: what a device needs to check it
// talks to the right server.
type ServerInfo struct {
	Issuer     string          `json:"issuer"`
	Org        string          `json:"org"`
	Key        json.RawMessage `json:"key"`
	Pin        string          `json:"pin"`
	ServerTime int64           `json:"serverTime"`
}

func (s *Server) handleServerInfo(w http.ResponseWriter, r *http.Request) {
	jwk, _ := crypto.MarshalPublicJWK(&s.signKey.PublicKey)
	writeJSON(w, http.StatusOK, ServerInfo{Issuer: s.opts.URL, Org: s.opts.Org, Key: jwk, Pin: s.pin, ServerTime: s.now().UnixMilli()})
}

// apiError is an error with the HTTP status and code a client sees. The
// message must never reveal whether a user or device exists to an
// unauthenticated caller.
type apiError = push.APIError

func apiErr(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

var errInternal = apiErr(http.StatusInternalServerError, "internal", "the server failed; the administrator can find the cause in its log")

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, store.ErrNoSpace):
		ae = errNoSpace
	default:
		ae = errInternal
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.RetryAfter))
	}
	writeJSON(w, ae.Status, ae)
}

// internal logs an unexpected error and returns the generic one; a store
// out of space is 503 with Retry-After instead (see noSpace).
func (s *Server) internal(op string, err error) error {
	if errors.Is(err, store.ErrNoSpace) {
		return s.noSpace(op, err)
	}
	s.log.Error(op, "err", err)
	s.metrics.errors.WithLabelValues(op).Inc()
	return errInternal
}

// readJSON decodes a bounded JSON body, refusing unknown fields.
func readJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, push.MaxMessageSize)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return apiErr(http.StatusRequestEntityTooLarge, "too_large", "request body is over %d bytes", push.MaxMessageSize)
		}
		return apiErr(http.StatusBadRequest, "bad_request", "request body is not the expected JSON: %v", err)
	}
	if dec.More() {
		return apiErr(http.StatusBadRequest, "bad_request", "request body has data after the JSON object")
	}
	return nil
}

// clientIP is the client address of a request: worked out once per
// request by the handler chain (withClientIP, proxy.go), from the TCP peer
// and, when the peer is a trusted proxy, its forwarding header. A request
// that did not come through the chain gets the peer.
func clientIP(r *http.Request) string {
	if ip, ok := r.Context().Value(clientIPKey{}).(string); ok {
		return ip
	}
	return peerIP(r.RemoteAddr)
}

// audit appends to the audit log before it returns; a failure to write it
// is logged loudly but does not undo what happened. Events written at the
// same moment share one transaction (group commit), so that a busy node
// does not spend a write on each.
func (s *Server) audit(ctx context.Context, e store.AuditEvent) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	done := make(chan error, 1)
	select {
	case s.audits <- auditReq{e: e, done: done}:
		err := <-done
		if err != nil {
			s.auditFailed(e, err)
			return
		}
	case <-s.done:
		stored, err := s.st.AppendAudit(context.WithoutCancel(ctx), e)
		if err != nil {
			s.auditFailed(e, err)
			return
		}
		s.sinks.ship([]store.AuditEvent{stored})
	}
	if s.history != nil {
		s.history.note(e)
	}
	s.logAudit(ctx, e)
}

// auditFailed logs an audit event the store could not write; out of space,
// as every request fails alike, at most once every noSpaceLogEvery.
func (s *Server) auditFailed(e store.AuditEvent, err error) {
	if errors.Is(err, store.ErrNoSpace) {
		s.noSpace("audit log write", err)
		return
	}
	s.log.Error("audit log write failed", "event", e.Type, "err", err)
}

// audited ships and logs events that the store committed together with the
// change they record (store.Audit): what audit does after its own write.
func (s *Server) audited(ctx context.Context, es []store.AuditEvent) {
	if len(es) == 0 {
		return
	}
	s.sinks.ship(es)
	for _, e := range es {
		s.logAudit(ctx, e)
	}
}

// logAudit writes an audit event to the server log too.
func (s *Server) logAudit(ctx context.Context, e store.AuditEvent) {
	if !s.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	attrs := []any{"event", e.Type}
	if e.UserID != "" {
		attrs = append(attrs, "user", e.UserID)
	}
	if e.DeviceID != "" {
		attrs = append(attrs, "device", e.DeviceID)
	}
	if e.ChallengeID != "" {
		attrs = append(attrs, "challenge", e.ChallengeID)
	}
	for k, v := range e.Detail {
		attrs = append(attrs, k, v)
	}
	s.log.Info("audit", attrs...)
}

func newID(prefix string) string { return prefix + crypto.RandomToken(16) }

// sortedTime is base32hex without padding: its digits sort as the
// numbers they spell.
var sortedTime = base32.HexEncoding.WithPadding(base32.NoPadding)

// newTimedID is prefix, the time t in milliseconds as 10 base32hex
// digits, then 16 random bytes as newID has them. IDs made in turn sort
// in turn (to the millisecond), so that an index of them grows at its end
// rather than at a random page; the random part alone keeps them
// unguessable and unique.
func newTimedID(prefix string, t time.Time) string {
	var ms [8]byte
	binary.BigEndian.PutUint64(ms[:], uint64(t.UnixMilli()))
	return prefix + sortedTime.EncodeToString(ms[2:]) + crypto.RandomToken(16)
}

type auditReq struct {
	e    store.AuditEvent
	done chan error
}

// maxAuditBatch bounds one group commit.
const maxAuditBatch = 256

// auditWriter writes the events waiting at the moment in one transaction,
// then the next lot, until the server closes.
func (s *Server) auditWriter() {
	batch := make([]auditReq, 0, maxAuditBatch)
	events := make([]store.AuditEvent, 0, maxAuditBatch)
	for {
		select {
		case <-s.done:
			return
		case r := <-s.audits:
			batch = append(batch[:0], r)
		}
	more:
		for len(batch) < maxAuditBatch {
			select {
			case r := <-s.audits:
				batch = append(batch, r)
			default:
				break more
			}
		}
		events = events[:0]
		for _, r := range batch {
			events = append(events, r.e)
		}
		err := s.st.AppendAudits(context.Background(), events)
		if err == nil {
			s.sinks.ship(events) // as stored: with their seqs and hashes
		}
		for _, r := range batch {
			r.done <- err
		}
	}
}

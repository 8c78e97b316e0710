package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/seed-3a5b824e/assent/server/policy"
	"github.com/seed-3a5b824e/assent/server/store"
	"github.com/seed-3a5b824e/assent/server/store/postgres"
	"github.com/seed-3a5b824e/assent/server/store/sqlite"
)

// OpenStore opens the store a config names: PostgreSQL when --database is
// a postgres:// URL, otherwise SQLite in the data folder.
func OpenStore(ctx context.Context, cfg Config) (store.Store, error) {
	if cfg.Postgres() {
		st, err := postgres.Open(ctx, cfg.Database)
		if err != nil {
			return nil, fmt.Errorf("open database: %w", err)
		}
		return st, nil
	}
	st, err := sqlite.Open(cfg.DBPath())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return st, nil
}

// Open makes a server from a config, for serving or for admin commands.
// listenAddr (the real address once a listener is open) gives the public
// URL when the config has none.
func Open(ctx context.Context, cfg Config, listenAddr string, log *slog.Logger) (*Server, error) {
	return open(ctx, cfg, listenAddr, log, false)
}

// open is Open; sole says this process serves the store alone (Serve,
// holding the data folder's lock).
func open(ctx context.Context, cfg Config, listenAddr string, log *slog.Logger, sole bool) (*Server, error) {
	key, err := LoadSealKey(cfg.Data, os.Getenv)
	if err != nil {
		return nil, err
	}
	pol := policy.Default()
	if cfg.Policy != "" {
		if pol, err = policy.Load(cfg.Policy); err != nil {
			return nil, err
		}
	}
	var mailer Mailer
	switch {
	case cfg.SMTP != "":
		mailer = &SMTPMailer{Addr: cfg.SMTP, User: cfg.SMTPUser, Password: cfg.SMTPPassword, From: cfg.SMTPFrom}
	case cfg.Dev:
		mailer = &MailSink{}
	}
	trusted, err := ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("trusted-proxies: %w", err)
	}
	httpLimits := cfg.HTTP
	httpLimits.MaxConnsPerAddress = cfg.MaxConnsPerAddress
	if cfg.MaxConnsPerAddress == 0 {
		httpLimits.MaxConnsPerAddress = -1 // 0 on the command line: no cap
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	var broker Broker
	if cfg.NATS != "" {
		nb, err := DialNATS(cfg.NATS, "", log)
		if err != nil {
			st.Close()
			return nil, err
		}
		broker = nb
	}
	s, err := New(ctx, Options{
		Broker: broker, SoleNode: sole && broker == nil,
		URL: cfg.PublicURL(listenAddr), Org: cfg.Org, Store: st, SealKey: key, Logger: log,
		EnrollTTL: cfg.EnrollTTL, Policy: pol, Mailer: mailer, Dev: cfg.Dev,
		Limits:         Limits{SourceRate: cfg.SourceRate, AnswerFloor: answerFloor(cfg.AnswerFloor)},
		TrustedProxies: trusted,
		HTTP:           httpLimits,
	})
	if err != nil {
		st.Close()
		if broker != nil {
			broker.Close()
		}
		return nil, err
	}
	return s, nil
}

// Shutdown closes the server and its store.
func (s *Server) Shutdown() error {
	return errors.Join(s.Close(), s.st.Close())
}

// Serve runs a node until ctx ends: it listens, serves (TLS when
// configured), collects garbage, and on the way out closes every device
// socket so that devices reconnect elsewhere. ready is told the public URL
// once the server accepts connections.
//
// The operator endpoints (OpsHandler) get a listener of their own,
// cfg.OpsListen, in plain HTTP: it is meant for loopback or a private
// network, and a warning is logged when it is neither loopback nor off.
// attach are the protocol fronts (server/oidc), attached to the node
// before it accepts connections.
func Serve(ctx context.Context, cfg Config, log *slog.Logger, ready func(url string), attach ...func(*Server) error) error {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Listen, err)
	}
	var opsLn net.Listener
	if cfg.OpsListen != "" && cfg.OpsListen != "off" {
		if opsLn, err = net.Listen("tcp", cfg.OpsListen); err != nil {
			ln.Close()
			return fmt.Errorf("ops-listen %s: %w; another assentd on this machine may hold it: give each node its own --ops-listen (e.g. 127.0.0.1:9091), or --ops-listen off", cfg.OpsListen, err)
		}
	}
	closeAll := func() {
		ln.Close()
		if opsLn != nil {
			opsLn.Close()
		}
	}
	// One node on SQLite owns its data folder: its pending pushes live in
	// its memory (pending.go).
	sole := !cfg.Postgres() && cfg.NATS == ""
	if sole {
		release, err := lockDataFolder(cfg.Data)
		if err != nil {
			closeAll()
			return err
		}
		defer release()
	}
	s, err := open(ctx, cfg, ln.Addr().String(), log, sole)
	if err != nil {
		closeAll()
		return err
	}
	defer s.Shutdown()
	for _, a := range attach {
		if err := a(s); err != nil {
			closeAll()
			return err
		}
	}
	// The per-address cap counts TCP connections, under TLS.
	ln = s.Listener(ln)
	if cfg.TLS() {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			closeAll()
			return fmt.Errorf("TLS certificate: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	hs := s.HTTPServer()
	go s.Run(ctx)
	errc := make(chan error, 2)
	go func() { errc <- hs.Serve(ln) }()
	var ops *http.Server
	opsAddr := "off"
	if opsLn != nil {
		// No write timeout: a CPU profile or trace takes as long as asked.
		ops = &http.Server{
			Handler:           s.OpsHandler(),
			ReadHeaderTimeout: s.opts.HTTP.ReadHeaderTimeout,
			IdleTimeout:       s.opts.HTTP.IdleTimeout,
			MaxHeaderBytes:    s.opts.HTTP.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		go func() { errc <- ops.Serve(opsLn) }()
		opsAddr = opsLn.Addr().String()
		if !IsLoopback(opsAddr) {
			log.Warn("the operator listener is not on loopback: whoever reaches it reads /metrics and takes profiles, "+
				"over plain HTTP and with no password; keep it on a private network behind a firewall, "+
				"or bind it to 127.0.0.1", "ops-listen", opsAddr)
		}
	}
	log.Info("assentd serving", "url", s.URL(), "listen", ln.Addr().String(), "ops", opsAddr, "data", cfg.Data, "tls", cfg.TLS())
	if ready != nil {
		ready(s.URL())
	}
	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	// Stop taking connections first, so that devices dropped below
	// reconnect to another node (or to this one once it is back), not to
	// this one as it closes; then drop the device sockets (hijacked, so
	// Shutdown does not wait for them); then wait for requests in flight.
	log.Info("assentd stopping: closing the listener and device connections")
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- hs.Shutdown(sctx) }()
	s.Close()
	err = <-shut
	if ops != nil {
		err = errors.Join(err, ops.Shutdown(sctx))
	}
	if serveErr != nil {
		return serveErr
	}
	if errors.Is(err, context.DeadlineExceeded) {
		// Requests still running after 5 s are cut off: a stop asked
		// for is still a clean stop.
		log.Warn("assentd stopped with requests still running after 5s", "err", err)
		return nil
	}
	return err
}

// answerFloor is the engine's setting for a configured floor: 0 in the
// configuration turns it off.
func answerFloor(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

package server

import (
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPLimits bound what one HTTP connection may cost the public listener.
// Zero fields take the defaults (DefaultHTTPLimits).
type HTTPLimits struct {
	// ReadHeaderTimeout is how long a client may take to send a request's
	// headers (slowloris), ReadTimeout the whole request with its body, and
	// WriteTimeout the answer. Every body this server reads is a few
	// kilobytes and every answer is made at once, so half a minute is
	// plenty on the slowest phone network. A push socket is not bound by
	// them: its deadlines are its own once it is upgraded.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	// IdleTimeout closes a keep-alive connection with no request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (32 KiB: a device token
	// and the cookies are a few hundred bytes each).
	MaxHeaderBytes int
	// MaxConnsPerAddress is how many connections one client address (an
	// IPv6 /64) may hold open; more are closed as they are accepted.
	// Connections from trusted proxies are exempt. Negative: no cap.
	MaxConnsPerAddress int
}

// DefaultHTTPLimits are the limits assentd serves with.
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout:  10 * time.Second,
		ReadTimeout:        30 * time.Second,
		WriteTimeout:       30 * time.Second,
		IdleTimeout:        2 * time.Minute,
		MaxHeaderBytes:     32 << 10,
		MaxConnsPerAddress: 1000,
	}
}

func (l HTTPLimits) withDefaults() HTTPLimits {
	d := DefaultHTTPLimits()
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = d.ReadTimeout
	}
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = d.WriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = d.IdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConnsPerAddress == 0 {
		l.MaxConnsPerAddress = d.MaxConnsPerAddress
	}
	return l
}

// HTTPServer is the http.Server of the public listener: the whole API with
// the limits of Options.HTTP. Serve it on Listener(ln).
func (s *Server) HTTPServer() *http.Server {
	l := s.opts.HTTP
	return &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Listener wraps the public listener (under TLS, if any) with the cap on
// connections per client address (Options.HTTP.MaxConnsPerAddress). The
// address is the TCP peer's: a forwarding header is not read at accept,
// which is why connections from trusted proxies are exempt.
func (s *Server) Listener(ln net.Listener) net.Listener {
	if s.opts.HTTP.MaxConnsPerAddress < 0 {
		return ln
	}
	return &capListener{Listener: ln, max: s.opts.HTTP.MaxConnsPerAddress, trusted: s.opts.TrustedProxies,
		open: map[string]int{}, refused: s.metrics.refused.WithLabelValues("address_cap").Inc, log: s.log}
}

// capListener closes connections past the per-address cap as it accepts
// them: before TLS or HTTP, so that they cost a file descriptor for an
// instant and nothing else.
type capListener struct {
	net.Listener
	max     int
	trusted []*net.IPNet
	refused func()
	log     *slog.Logger

	mu      sync.Mutex
	open    map[string]int
	lastLog time.Time
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer, ok := peerAddr(c.RemoteAddr().String())
		if !ok || isTrusted(peer, l.trusted) {
			return c, nil
		}
		key := addressKey(peer.String())
		l.mu.Lock()
		if l.open[key] >= l.max {
			quiet := time.Since(l.lastLog) < 10*time.Second
			if !quiet {
				l.lastLog = time.Now()
			}
			l.mu.Unlock()
			c.Close()
			l.refused()
			if !quiet {
				l.log.Warn("connection refused: the address holds too many open connections (this is logged at most every 10s; "+
					"assent_connections_refused_total counts them all); raise --max-conns-per-address if a NAT or proxy needs more, "+
					"or list a proxy in --trusted-proxies", "address", key, "limit", l.max)
			}
			continue
		}
		l.open[key]++
		l.mu.Unlock()
		return &capConn{Conn: c, l: l, key: key}, nil
	}
}

func (l *capListener) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}

// capConn gives its place back when it closes (a hijacked push socket
// too: gorilla closes the same net.Conn).
type capConn struct {
	net.Conn
	l    *capListener
	key  string
	once sync.Once
}

func (c *capConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.key) })
	return err
}

// CloseWrite lets the HTTP server half-close a TCP connection, as it does
// without the wrapper.
func (c *capConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/seed-3a5b824e/assent/server/store"
)

// metrics are one node's Prometheus metrics, in a registry of its own so
// that several servers in one process (tests) do not collide.
type metrics struct {
	reg        *prometheus.Registry
	challenges *prometheus.CounterVec
	roundTrip  prometheus.Histogram
	requests   *prometheus.HistogramVec
	errors     *prometheus.CounterVec
	signIns    *prometheus.CounterVec
	// refused counts connections and sockets turned away by a cap, by
	// reason: address_cap (connections of one address), hello_node_cap
	// and hello_address_cap (sockets waiting for their hello).
	refused *prometheus.CounterVec
	// replaced counts push sockets closed because a fifth of the same
	// device connected to the node.
	replaced prometheus.Counter
}

func newMetrics(connected, waitingPolls func() int) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		challenges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assent_challenges_total", Help: "Push challenges by outcome (sent, approved, denied, reported, failed, expired, cancelled).",
		}, []string{"outcome"}),
		roundTrip: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "assent_push_round_trip_seconds", Help: "From a challenge stored and signed to the device's answer verified and stored.",
			Buckets: []float64{.0005, .001, .002, .003, .005, .0075, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "assent_http_request_duration_seconds", Help: "HTTP requests by route and status class.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assent_internal_errors_total", Help: "Failures of the store and other parts, by operation.",
		}, []string{"op"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assent_transactions_total", Help: "Finished transactions by kind and result.",
		}, []string{"kind", "result"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "assent_connections_refused_total", Help: "Connections and push sockets turned away by a cap, by reason (address_cap, hello_node_cap, hello_address_cap).",
		}, []string{"reason"}),
		replaced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "assent_push_sockets_replaced_total", Help: "Push sockets closed because a newer socket of the same device took their place.",
		}),
	}
	m.reg.MustRegister(m.challenges, m.roundTrip, m.requests, m.errors, m.signIns, m.refused, m.replaced,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assent_connected_devices", Help: "Open push sockets on this node."},
			func() float64 { return float64(connected()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "assent_polls_waiting", Help: "Sign-in polls this node holds until their push ends."},
			func() float64 { return float64(waitingPolls()) }),
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	if cw := newCPUWait(); cw != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "assent_process_cpu_wait_seconds_total",
			Help: "Time this process's threads were ready to run but waited for a CPU (the kernel's run delay). Large against process_cpu_seconds_total: the node is short of cores or shares them.",
		}, cw.seconds))
	}
	return m
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack hands the connection to the WebSocket upgrade (gorilla asks for
// http.Hijacker directly).
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.code = http.StatusSwitchingProtocols
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// instrument times every request by its route pattern.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		if route == "GET /v1/push" {
			return // a socket's life is not a request's latency
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(rec.code/100)+"xx").Observe(time.Since(start).Seconds())
	})
}

// The operator endpoints (/metrics, /debug/…) are served by OpsHandler
// alone, on a listener of their own (--ops-listen): who may read them is
// decided by where that listener binds, not by the requests.

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// handleGC collects garbage and reports the Go runtime's memory: what
// assent-load reads to work out the memory each connection costs.
func (s *Server) handleGC(w http.ResponseWriter, _ *http.Request) {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	writeJSON(w, http.StatusOK, map[string]uint64{"heapInuse": m.HeapInuse, "stackInuse": m.StackInuse, "sys": m.Sys,
		"goroutines": uint64(runtime.NumGoroutine()), "connections": uint64(s.hub.count())})
}

// profiles serves Go's profiles (go tool pprof). Not /debug/pprof/cmdline:
// a command line may hold a password (--smtp-password).
func profiles() http.Handler {
	m := http.NewServeMux()
	m.HandleFunc("/debug/pprof/", pprof.Index)
	m.HandleFunc("/debug/pprof/profile", pprof.Profile)
	m.HandleFunc("/debug/pprof/trace", pprof.Trace)
	m.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	return m
}

func (s *Server) handleHealthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz says whether this node can serve: its store answers and
// can write (a tiny write transaction, reused for a moment: see
// probeWrite), and its broker is connected. A store writing without its
// space reserve shows "space", without making the node unready.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) { s.readyz(w, r, false) }

// handleOpsReadyz is /readyz on the operator listener: the same checks,
// with what failed in the store's and the broker's own words (which name
// hosts, users and files, so the public listener leaves them out).
func (s *Server) handleOpsReadyz(w http.ResponseWriter, r *http.Request) { s.readyz(w, r, true) }

// publicFailing is what the public /readyz says of a failed check.
const publicFailing = "failing (the operator listener's /readyz says why)"

func (s *Server) readyz(w http.ResponseWriter, r *http.Request, detail bool) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"store": "ok", "store-write": "not checked", "broker": "ok"}
	status := http.StatusOK
	why := func(text string) string {
		if detail {
			return text
		}
		return publicFailing
	}
	if err := s.st.Ping(ctx); err != nil {
		checks["store"], status = why(err.Error()), http.StatusServiceUnavailable
	} else if err := s.probeWrite(ctx); errors.Is(err, store.ErrNoSpace) {
		// Out of space names nothing private, and says what to do.
		checks["store-write"], status = storeWriteCheck(err), http.StatusServiceUnavailable
	} else if err != nil {
		checks["store-write"], status = why(storeWriteCheck(err)), http.StatusServiceUnavailable
	} else {
		checks["store-write"] = "ok"
	}
	if sp, ok := s.st.(spaceShort); ok && sp.SpaceShort() {
		checks["space"] = "low: the database gave up its space reserve to keep writing; free space on its volume"
	}
	if err := s.broker.Ready(); err != nil {
		checks["broker"], status = why(err.Error()), http.StatusServiceUnavailable
	}
	select {
	case <-s.done:
		checks["node"], status = "stopping", http.StatusServiceUnavailable
	default:
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(checks)
}

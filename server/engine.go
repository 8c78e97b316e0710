package server

import (
	"context"
	"net/http"
	"sync"
)

// engine is the identity engine's state on one node, beside the store:
// the limits it applies, its in-memory request throttle, and the work it
// runs in the background.
type engine struct {
	limits Limits
	reqs   reqThrottle
	bg     sync.WaitGroup
	// kinds are the app types protocol fronts added (RegisterAppKind).
	kindsMu sync.Mutex
	kinds   map[string]AppKind
}

// initEngine readies the engine: its limits, and the built-in apps.
func (s *Server) initEngine(ctx context.Context) error {
	s.eng.limits = s.opts.Limits.withDefaults()
	if err := s.ensureBuiltinApps(ctx); err != nil {
		return err
	}
	s.warnUnknownApps(ctx)
	return nil
}

// background runs work that no answer waits for (a push chosen before any
// factor was passed, so that the answer cannot tell whether it went).
func (s *Server) background(fn func(ctx context.Context)) {
	s.eng.bg.Add(1)
	go func() {
		defer s.eng.bg.Done()
		fn(context.Background())
	}()
}

// WaitBackground waits for the work started in the background (tests, and
// a node shutting down).
func (s *Server) WaitBackground() { s.eng.bg.Wait() }

// warnUnknownApps logs the sign-on rules that name apps nobody registered:
// they can never match.
func (s *Server) warnUnknownApps(ctx context.Context) {
	apps, err := s.st.ListApps(ctx)
	if err != nil {
		return
	}
	known := map[string]bool{}
	for _, a := range apps {
		known[a.Name] = true
	}
	for _, r := range s.opts.Policy.SignOn {
		for _, name := range r.Conditions.Apps {
			if !known[name] {
				s.log.Warn("policy: a sign-on rule names an app that is not registered", "rule", r.Name, "app", name,
					"fix", "assentd app add "+name)
			}
		}
	}
}

// engineRoutes are the engine's own endpoints besides the embedded API.
func (s *Server) engineRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+PathMagic, s.handleMagicPage)
	m.HandleFunc("POST "+PathMagic, s.handleMagic)
}

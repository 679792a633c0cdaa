package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

var (
	// ErrStarted is returned by Start, Listen or Serve on a server that was already
	// started; a Server runs once.
	ErrStarted = errors.New("admin: server already started")
	// ErrNotListening is returned by Serve before Listen.
	ErrNotListening = errors.New("admin: Serve before Listen; call Listen first, or Start")
)

// Check reports whether a part of the process is ready; nil means ready. It is called on
// every /readyz request, so it must be quick and must not block past ctx.
type Check func(ctx context.Context) error

// Option configures New.
type Option func(*Server)

// WithMetrics serves h on /metrics (metrics.Prometheus.Handler, typically). Without it
// /metrics answers 404.
func WithMetrics(h http.Handler) Option { return func(s *Server) { s.metrics = h } }

// WithReadiness adds a check to /readyz; the endpoint answers 200 only when every check
// returns nil. A Tianshu app checks that its servers serve and are registered.
func WithReadiness(name string, c Check) Option {
	return func(s *Server) { s.checks = append(s.checks, namedCheck{name, c}) }
}

// WithoutPprof leaves /debug/pprof/ out, for processes where profiling must not be
// reachable even on the admin port.
func WithoutPprof() Option { return func(s *Server) { s.pprof = false } }

// WithLogger sets the logger for serve errors; the default is slog.Default().
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithCheckTimeout bounds each /readyz request's checks (default 5 s).
func WithCheckTimeout(d time.Duration) Option { return func(s *Server) { s.timeout = d } }

// HealthChecker is what Serving asks: the gRPC health service, as rpc.Server.Health
// returns it.
type HealthChecker interface {
	Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error)
}

// Serving is a readiness check that passes while h reports the whole server SERVING, which
// an rpc.Server does from Serve until it deregisters: /readyz turns 503 before the
// instance leaves the registry and drains.
//
//	admin.WithReadiness("grpc", admin.Serving(srv.Health()))
func Serving(h HealthChecker) Check {
	return func(ctx context.Context) error {
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
			return errors.New(st.String())
		}
		return nil
	}
}

type namedCheck struct {
	name string
	c    Check
}

// Server is the operations HTTP server: /metrics, /healthz, /readyz and /debug/pprof/. It is
// meant for a port that only operators and scrapers reach, never the public one.
type Server struct {
	addr    string
	metrics http.Handler
	checks  []namedCheck
	pprof   bool
	log     *slog.Logger
	timeout time.Duration
	mux     *http.ServeMux

	mu      sync.Mutex
	srv     *http.Server // set by Listen
	lis     net.Listener
	done    chan struct{} // closed when Serve returns
	serving bool
}

// New returns a server that will listen on addr (host:port; port 0 picks a free one).
func New(addr string, opts ...Option) *Server {
	s := &Server{addr: addr, pprof: true, log: slog.Default(), timeout: 5 * time.Second}
	for _, o := range opts {
		o(s)
	}
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if s.metrics != nil {
		s.mux.Handle("GET /metrics", s.metrics)
	}
	if s.pprof {
		// Registered on this mux by hand: importing net/http/pprof also fills
		// http.DefaultServeMux, which Tianshu never serves.
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return s
}

// Handler returns the server's routes, to mount elsewhere or to test.
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	var failed []string
	for _, c := range s.checks {
		if err := c.c(ctx); err != nil {
			failed = append(failed, c.name+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, f := range failed {
			_, _ = fmt.Fprintln(w, "not ready:", f)
		}
		return
	}
	_, _ = fmt.Fprintln(w, "ok")
}

// Listen opens the server's address and returns the address it listens on, without
// serving yet; a listen error (address in use, bad address) is returned here, not later.
// Listen, Serve and Shutdown make the server a tianshu.Component: an App listens every
// component before any serves and stops the admin server after the servers added after
// it, so that probes are answered (not ready) while they drain.
func (s *Server) Listen(ctx context.Context) (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return nil, ErrStarted
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen on %s: %w", s.addr, err)
	}
	s.lis, s.done = lis, make(chan struct{})
	s.srv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	return lis.Addr(), nil
}

// Serve serves on the listener Listen opened until Shutdown, and then returns nil.
func (s *Server) Serve() error {
	s.mu.Lock()
	srv, lis, done := s.srv, s.lis, s.done
	switch {
	case srv == nil:
		s.mu.Unlock()
		return ErrNotListening
	case s.serving:
		s.mu.Unlock()
		return ErrStarted
	}
	s.serving = true
	s.mu.Unlock()
	defer close(done)
	// After a Shutdown, even one that came first, this returns ErrServerClosed and
	// closes lis.
	if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: serve on %v: %w", lis.Addr(), err)
	}
	return nil
}

// Start listens (see Listen) and serves in the background, logging a serve error.
func (s *Server) Start(ctx context.Context) error {
	if _, err := s.Listen(ctx); err != nil {
		return err
	}
	go func() {
		if err := s.Serve(); err != nil {
			s.log.Error("admin server stopped", "err", err)
		}
	}()
	return nil
}

// Addr returns the address the server listens on, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return nil
	}
	return s.lis.Addr()
}

// Shutdown stops accepting requests and waits, within ctx, for those in progress (a CPU
// profile runs for its full duration; ctx bounds the wait). It is safe before Listen or
// Start, between Listen and Serve (it closes the listener), and more than once.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, lis, done, serving := s.srv, s.lis, s.done, s.serving
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		_ = srv.Close()
	}
	if !serving { // a Serve that comes later returns at once
		_ = lis.Close()
		return err
	}
	<-done
	return err
}

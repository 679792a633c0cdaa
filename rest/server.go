package rest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/httperr"
	"github.com/tianshu-go/tianshu/telemetry"
)

// Endpoint schemes the server announces.
const (
	SchemeHTTP  = "http"
	SchemeHTTPS = "https"
)

// Server is an HTTP server that announces itself in a registry while it serves and leaves in
// Tianshu's order. It is a tianshu.Component and a tianshu.Deregisterer:
//
//	app := tianshu.New(tianshu.WithComponent(srv))
//
// Requests go through, in order: the probes (LivenessPath, ReadinessPath), telemetry (a
// server span and http.server.request.duration), panic recovery (500 with the JSON error
// body, logged once), authentication (WithAuth), the rate limit (WithRateLimit), the body
// limit (WithMaxBodyBytes), and the ServeMux, whose 404 and 405 answers are the JSON error
// body (405 with Allow). A Server is also an http.Handler running that chain, for tests.
type Server struct {
	addr    string
	o       serverOptions
	mux     *http.ServeMux
	noRoute http.Handler // httperr.Mux: ServeMux's 404, 405 and redirects, in JSON
	tel     *telemetry.HTTPServer
	tlsConf *tls.Config
	srv     *http.Server
	ready   atomic.Bool
	schemes []string // of the announced endpoints, on the one port
	grpc    *grpc.Server

	mu        sync.Mutex
	lis       net.Listener
	instance  *registry.Instance
	serving   bool
	stopping  bool
	served    chan struct{} // closed when Serve returns
	regStop   context.CancelFunc
	regDone   chan struct{}
	leaveOnce sync.Once
	leaveErr  error
	stopOnce  sync.Once
	stopped   chan struct{}
	stopErr   error
}

// NewServer returns a server that will listen on addr (host:port; port 0 picks a free one)
// and route requests with mux. Nothing is opened until Listen. Errors wrap
// ErrInvalidOption, or rpc.ErrInvalidTLS for certificate files WithTLS cannot use.
func NewServer(addr string, mux *http.ServeMux, opts ...ServerOption) (*Server, error) {
	if mux == nil {
		return nil, fmt.Errorf("%w: a nil ServeMux", ErrInvalidOption)
	}
	o := serverOptions{
		deregisterDelay: DefaultDeregisterDelay, gracePeriod: DefaultGracePeriod,
		readHeaderTimeout: DefaultReadHeaderTimeout, readTimeout: DefaultReadTimeout,
		idleTimeout: DefaultIdleTimeout, maxBody: DefaultMaxBodyBytes, log: slog.Default(),
	}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := o.check(addr); err != nil {
		return nil, err
	}
	if d, ok := registry.Find[registry.DeregisterDelayer](o.registrar); ok && !o.deregisterDelaySet {
		o.deregisterDelay = d.DeregisterDelay()
	}
	s := &Server{addr: addr, o: o, mux: mux, noRoute: httperr.Mux(mux), stopped: make(chan struct{}),
		served: make(chan struct{}), schemes: []string{SchemeHTTP}, grpc: o.grpc}
	if !o.noTelemetry {
		s.tel = o.telemetry
		if s.tel == nil {
			s.tel = telemetry.NewHTTPServer()
		}
	}
	if o.grpc != nil {
		s.schemes = append(s.schemes, rpc.SchemePlaintext)
	}
	if o.tlsFiles != nil {
		c, err := newTLSConfig(*o.tlsFiles)
		if err != nil {
			return nil, err
		}
		s.tlsConf = c
		s.schemes[0] = SchemeHTTPS
		if o.grpc != nil {
			s.schemes[1] = rpc.SchemeTLS
		}
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)            // over TLS, chosen by ALPN
	protocols.SetUnencryptedHTTP2(true) // h2c with prior knowledge, as gRPC clients speak it
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: o.readHeaderTimeout,
		ReadTimeout:       o.readTimeout,
		WriteTimeout:      o.writeTimeout,
		IdleTimeout:       o.idleTimeout,
		Protocols:         protocols,
		ErrorLog:          slog.NewLogLogger(o.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Listen opens the server's address (or takes the WithListener one) and returns the address
// it listens on, without serving yet, so that tianshu.App learns of an address in use before
// any instance is registered. Errors wrap ErrListen.
func (s *Server) Listen(ctx context.Context) (net.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return nil, ErrServerStopped
	}
	if s.lis != nil {
		return s.lis.Addr(), nil
	}
	lis := s.o.lis
	if lis == nil {
		var lc net.ListenConfig
		var err error
		if lis, err = lc.Listen(ctx, "tcp", s.addr); err != nil {
			return nil, fmt.Errorf("%w on %q: %w", ErrListen, s.addr, err)
		}
	}
	in, err := s.buildInstance(lis.Addr())
	if err != nil {
		_ = lis.Close()
		return nil, err
	}
	s.instance = in
	if s.tlsConf != nil {
		lis = tls.NewListener(lis, s.tlsConf)
	}
	s.lis = lis
	return lis.Addr(), nil
}

// Addr returns the address the server listens on, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lis == nil {
		return nil
	}
	return s.lis.Addr()
}

// Instance returns a copy of the instance the server announces, or nil before Listen.
func (s *Server) Instance() *registry.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.instance == nil {
		return nil
	}
	return s.instance.Clone()
}

// Ready reports whether ReadinessPath answers 200: from Serve until the server starts to
// leave the registry.
func (s *Server) Ready() bool { return s.ready.Load() }

// Serve serves on the listener Listen opened, reports ready, and registers the instance
// (retried in the background while the registry cannot be reached). It blocks until
// Shutdown, and then returns nil.
func (s *Server) Serve() error {
	s.mu.Lock()
	switch {
	case s.stopping:
		s.mu.Unlock()
		return ErrServerStopped
	case s.lis == nil:
		s.mu.Unlock()
		return ErrNotListening
	case s.serving:
		s.mu.Unlock()
		return fmt.Errorf("%w: Serve called twice", ErrInvalidOption)
	}
	s.serving = true
	lis, in := s.lis, s.instance
	regCtx, cancel := context.WithCancel(context.Background())
	s.regStop, s.regDone = cancel, make(chan struct{})
	s.mu.Unlock()
	defer close(s.served)

	// Connections that arrive before the first Accept wait in the listen backlog, so the
	// instance may be announced before http.Server.Serve runs.
	s.ready.Store(true)
	go s.register(regCtx, in)
	if err := s.srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("rest: serve on %v: %w", lis.Addr(), err)
	}
	return nil
}

// Deregister takes the server out of rotation while it still serves: ReadinessPath turns
// 503, the instance is deregistered, and Deregister waits the deregister delay (or until
// ctx ends) for consumers to drop it. Requests that still arrive are served. tianshu.App
// calls it on every component before it shuts any down; Shutdown calls it first.
//
// Every call waits for the first and returns its error, a failed deregistration wrapped in
// rpc.ErrDeregister, which Shutdown returns too.
func (s *Server) Deregister(ctx context.Context) error {
	s.leaveOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		in, regStop, regDone, serving := s.instance, s.regStop, s.regDone, s.serving
		s.mu.Unlock()
		s.ready.Store(false)
		if !serving {
			return
		}
		regStop()
		<-regDone
		s.leaveErr = s.deregisterInstance(ctx, in)
		t := time.NewTimer(s.o.deregisterDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	})
	return s.leaveErr
}

// Shutdown stops the server in the order that loses no request: Deregister (not ready,
// deregister, wait the deregister delay), then stop accepting and let in-flight requests
// finish (http.Server.Shutdown) within the grace period or until ctx ends, and finally
// close the connections still open. It may be called before Listen and Serve, more than
// once and from any goroutine; every call returns once the server has stopped, with the
// deregistration's error if any.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		defer close(s.stopped)
		err := s.Deregister(ctx)
		gctx, cancel := context.WithTimeout(ctx, s.o.gracePeriod)
		defer cancel()
		if serr := s.srv.Shutdown(gctx); serr != nil {
			s.o.log.Warn("in-flight requests did not finish in time; closing their connections",
				"grace", s.o.gracePeriod, "err", serr)
			_ = s.srv.Close()
		}
		s.mu.Lock()
		lis, serving := s.lis, s.serving
		if lis == nil {
			lis = s.o.lis // given WithListener, never taken by Listen
		}
		s.mu.Unlock()
		if serving {
			<-s.served
		} else if lis != nil {
			_ = lis.Close()
		}
		s.stopErr = err
	})
	<-s.stopped
	return s.stopErr
}

package rpc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/announce"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rules"
	"github.com/tianshu-go/tianshu/telemetry"
)

// Defaults of the shutdown sequence.
const (
	// DefaultDeregisterDelay is how long Shutdown waits after deregistering before it
	// stops accepting calls, so that consumers' resolvers drop this instance first. The
	// registries Tianshu ships push changes within tens of milliseconds (the file registry
	// within its 500 ms poll at worst); a second covers them with margin.
	DefaultDeregisterDelay = time.Second
	// DefaultGracePeriod bounds how long Shutdown lets in-flight calls finish before it
	// cancels them.
	DefaultGracePeriod = 10 * time.Second
)

var (
	// ErrServerStopped is returned by Serve on a server that was shut down.
	ErrServerStopped = errors.New("rpc: server stopped")
	// ErrDeregister is wrapped, with the registry's error, by Shutdown when the instance
	// could not be deregistered.
	ErrDeregister = errors.New("rpc: deregistration failed")
)

// ServerOption configures NewServer.
type ServerOption func(*serverOptions)

type serverOptions struct {
	registrar       registry.Registrar
	instance        registry.Instance
	advertiseHost   string
	scheme          string
	deregisterDelay time.Duration
	// deregisterDelaySet says WithDeregisterDelay was given: the registrar's delay is not used
	deregisterDelaySet bool
	gracePeriod        time.Duration
	unary              []grpc.UnaryServerInterceptor
	stream             []grpc.StreamServerInterceptor
	grpcOpts           []grpc.ServerOption
	streamWorkers      int
	reflection         bool
	log                *slog.Logger
	creds              credentials.TransportCredentials // see WithServerCredentials in tls.go
	telemetry          []telemetry.Option               // of the deprecated WithTelemetry
	handler            *telemetry.Handler               // WithServerTelemetry's; nil: the server makes its own
	noTelemetry        bool
	rules              *rules.Store // WithServerRules's; see server_rules.go
	rulesSet           bool
}

// WithRegistrar announces the server through r once it serves. Without it the server
// serves but is not discoverable.
func WithRegistrar(r registry.Registrar) ServerOption {
	return func(o *serverOptions) { o.registrar = r }
}

// WithService sets the service name consumers dial (tianshu:///<name>). Required with
// WithRegistrar.
func WithService(name string) ServerOption {
	return func(o *serverOptions) { o.instance.Service = name }
}

// WithVersion sets the version the instance announces.
func WithVersion(v string) ServerOption { return func(o *serverOptions) { o.instance.Version = v } }

// WithZone sets the zone the instance announces.
func WithZone(z string) ServerOption { return func(o *serverOptions) { o.instance.Zone = z } }

// WithWeight sets the weight the instance announces (default registry.DefaultWeight).
func WithWeight(w int) ServerOption { return func(o *serverOptions) { o.instance.Weight = w } }

// WithMetadata adds metadata to the announced instance.
func WithMetadata(md map[string]string) ServerOption {
	return func(o *serverOptions) {
		if o.instance.Metadata == nil {
			o.instance.Metadata = map[string]string{}
		}
		maps.Copy(o.instance.Metadata, md)
	}
}

// WithInstanceID sets the instance ID; the default is <service>-<hostname>-<pid>-<port>.
func WithInstanceID(id string) ServerOption { return func(o *serverOptions) { o.instance.ID = id } }

// WithAdvertiseHost sets the host consumers dial. The default is the listener's IP, or,
// when it listens on all interfaces, the first non-loopback IPv4 address of this host.
func WithAdvertiseHost(h string) ServerOption { return func(o *serverOptions) { o.advertiseHost = h } }

// WithDeregisterDelay sets the pause between deregistering and draining. Without it, the
// pause is the registrar's own when it has one (registry.DeregisterDelayer: Eureka's
// consumers learn of a deregistration only through caches), else DefaultDeregisterDelay.
func WithDeregisterDelay(d time.Duration) ServerOption {
	return func(o *serverOptions) { o.deregisterDelay, o.deregisterDelaySet = d, true }
}

// WithGracePeriod bounds the drain of in-flight calls; see DefaultGracePeriod.
func WithGracePeriod(d time.Duration) ServerOption {
	return func(o *serverOptions) { o.gracePeriod = d }
}

// WithUnaryServerInterceptors appends server interceptors, after Tianshu's panic recovery.
func WithUnaryServerInterceptors(is ...grpc.UnaryServerInterceptor) ServerOption {
	return func(o *serverOptions) { o.unary = append(o.unary, is...) }
}

// WithStreamServerInterceptors appends stream server interceptors, after panic recovery.
func WithStreamServerInterceptors(is ...grpc.StreamServerInterceptor) ServerOption {
	return func(o *serverOptions) { o.stream = append(o.stream, is...) }
}

// WithServerTelemetry records spans and metrics of the server's calls through h, a
// telemetry.NewServerHandler: the same kind of argument as WithClientTelemetry, so that one
// handler's options are written once whatever serves the calls. The caller owns h and closes
// it after the server has stopped (its in-flight gauge, if any, is unregistered then). By
// default the server makes a handler over OpenTelemetry's global providers, which record
// nothing until tracing.Setup (or the application) installs real ones, and closes it itself.
// NewServer panics, naming the mistake, when h was made by NewClientHandler.
func WithServerTelemetry(h *telemetry.Handler) ServerOption {
	return func(o *serverOptions) { o.handler = h }
}

// WithTelemetry configures the spans and metrics the server records for every call.
//
// Deprecated: use WithServerTelemetry(telemetry.NewServerHandler(opts...)), and close the
// handler after the server stops. WithTelemetry is ignored when WithServerTelemetry is given.
func WithTelemetry(opts ...telemetry.Option) ServerOption {
	return func(o *serverOptions) { o.telemetry = append(o.telemetry, opts...) }
}

// WithoutTelemetry leaves out the tracing and metrics interceptors.
func WithoutTelemetry() ServerOption { return func(o *serverOptions) { o.noTelemetry = true } }

// WithGRPCServerOptions passes options through to grpc.NewServer.
func WithGRPCServerOptions(opts ...grpc.ServerOption) ServerOption {
	return func(o *serverOptions) { o.grpcOpts = append(o.grpcOpts, opts...) }
}

// WithStreamWorkers keeps n goroutines to run the server's calls on, instead of grpc-go's
// new goroutine per call; n <= 0 starts a goroutine per call. The default is
// DefaultStreamWorkers.
//
// A goroutine starts on a 2 KiB stack, which a gRPC call grows two or three times, each
// time copying the stack and rewriting its pointers: a quarter of a unary echo call's
// instructions by callgrind, and 5-8% of its CPU when client and server share two cores
// (docs/benchmarks.md). A worker keeps its grown stack from call to call. When every
// worker is busy, grpc-go starts a goroutine for the call as before, so workers never
// queue or limit calls; each worker renews its goroutine every 65,536 calls, so that one
// deep call does not keep a large stack for good. grpc-go marks the option it uses
// (grpc.NumStreamWorkers) experimental.
func WithStreamWorkers(n int) ServerOption { return func(o *serverOptions) { o.streamWorkers = n } }

// DefaultStreamWorkers returns the number of stream workers a server keeps by default:
// four per processor Go may use, at least 16. grpc-go's suggestion, one per processor,
// left most calls starting goroutines on 2 cores with 50 calls in flight a server
// (cmd/tianshu-bench); 16 served them from workers.
func DefaultStreamWorkers() int { return max(16, 4*runtime.GOMAXPROCS(0)) }

// WithoutReflection leaves out the gRPC reflection service (on by default, for grpcurl).
func WithoutReflection() ServerOption { return func(o *serverOptions) { o.reflection = false } }

// WithServerLogger sets the server's logger; the default is slog.Default().
func WithServerLogger(l *slog.Logger) ServerOption { return func(o *serverOptions) { o.log = l } }

// Server is a *grpc.Server that announces itself in a registry while it serves. Register
// services on it as on any grpc.Server. Its GracefulStop and Stop deregister first.
//
// A Server is a tianshu.Server (Serve on a listener, Shutdown) and a tianshu.Deregisterer,
// which is how tianshu.App runs it beside other components.
type Server struct {
	*grpc.Server
	opts         serverOptions
	health       *health.Server
	telemetry    *telemetry.Handler // nil WithoutTelemetry
	ownTelemetry bool               // the server made telemetry, so it closes it

	mu        sync.Mutex
	stopping  bool
	instance  *registry.Instance // set by Serve
	regDone   chan struct{}      // closed when the registration goroutine ends
	regStop   context.CancelFunc
	leaveOnce sync.Once
	leaveErr  error // of Deregister, set inside leaveOnce
	stopOnce  sync.Once
	stopped   chan struct{}
	stopErr   error // of the shutdown, set before stopped is closed
}

// NewServer returns a Server with gRPC health (answering SERVING only between Serve and
// Shutdown), reflection, telemetry (a span and the rpc.server.call.duration histogram per
// call; see WithTelemetry) and panic recovery (a panicking handler answers codes.Internal
// and is logged with its stack). The interceptor chain is telemetry, recovery, then the
// application's, so that spans see the status of a recovered panic. Calls run on
// DefaultStreamWorkers reused goroutines (see WithStreamWorkers), which start here and end
// with Stop, GracefulStop or Shutdown, also on a server that never served.
func NewServer(opts ...ServerOption) *Server {
	o := serverOptions{
		scheme: "grpc", deregisterDelay: DefaultDeregisterDelay, gracePeriod: DefaultGracePeriod,
		reflection: true, log: slog.Default(), streamWorkers: DefaultStreamWorkers(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	if d, ok := registry.Find[registry.DeregisterDelayer](o.registrar); ok && !o.deregisterDelaySet {
		o.deregisterDelay = d.DeregisterDelay()
	}
	s := &Server{opts: o, health: health.NewServer(), stopped: make(chan struct{})}
	unary := []grpc.UnaryServerInterceptor{s.recoverUnary}
	var stream []grpc.StreamServerInterceptor
	if !o.noTelemetry {
		s.telemetry = o.handler
		if s.telemetry == nil {
			s.telemetry = telemetry.NewServerHandler(o.telemetry...)
			s.ownTelemetry = true
		} else if !s.telemetry.IsServer() {
			panic("rpc: WithServerTelemetry given a handler made by telemetry.NewClientHandler; use telemetry.NewServerHandler")
		}
		// One link instead of two: grpc-go's chain allocates a closure per link and call.
		unary[0] = s.telemetry.UnaryServerInterceptorThen(s.recoverUnary)
		stream = append(stream, s.telemetry.StreamServerInterceptor())
	}
	stream = append(stream, s.recoverStream)
	if o.rulesSet {
		if o.rules == nil {
			panic("rpc: WithServerRules given nil; pass the store of rules.NewStore or rules.Watch")
		}
		// Before the application's interceptors: a refused call costs the server nothing.
		lim := newServerLimits(o.rules, o.instance.Service)
		unary = append(unary, lim.unary)
		stream = append(stream, lim.stream)
	}
	unary = append(unary, o.unary...)
	stream = append(stream, o.stream...)
	dubboSrc := dubboMetadataOf(o.registrar) // see dubbo_server.go
	if dubboSrc != nil {
		unary = exemptDubboMetadata(unary)
	}
	gopts := append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		grpc.NumStreamWorkers(uint32(max(o.streamWorkers, 0))),
	}, o.grpcOpts...) // after ours: WithGRPCServerOptions may set workers too
	if o.creds != nil {
		gopts = append(gopts, grpc.Creds(o.creds))
		s.opts.scheme = serverScheme(o.creds) // announce grpcs: plaintext clients stay away
	}
	s.Server = grpc.NewServer(gopts...)
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(s.Server, s.health)
	if dubboSrc != nil {
		registerDubboMetadata(s.Server, dubboSrc)
	}
	if o.reflection {
		reflection.Register(s.Server)
	}
	return s
}

// Health returns the server's health service, to mark it NOT_SERVING while a dependency is
// down, for instance.
func (s *Server) Health() *health.Server { return s.health }

// Instance returns a copy of the instance the server announces, or nil before Serve.
func (s *Server) Instance() *registry.Instance {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.instance == nil {
		return nil
	}
	return s.instance.Clone()
}

// Serve accepts connections on lis, reports SERVING, and registers the instance: when the
// gRPC service named by WithService is registered on the server, the instance's "methods"
// metadata lists its methods, comma-separated, as Dubbo's registries publish them (unless
// WithMetadata set it). If the registry cannot be reached, registration is retried in the
// background with capped backoff while the server serves. Serve blocks until the server
// stops; it returns nil after Shutdown, GracefulStop or Stop.
func (s *Server) Serve(lis net.Listener) error {
	in, err := s.buildInstance(lis.Addr())
	if err != nil {
		return err
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return ErrServerStopped
	}
	s.instance = in
	regCtx, cancel := context.WithCancel(context.Background())
	s.regStop, s.regDone = cancel, make(chan struct{})
	s.mu.Unlock()

	served := make(chan error, 1)
	go func() { served <- s.Server.Serve(lis) }()
	// Connections that arrive before Serve's first Accept wait in the listen backlog, so
	// the instance may be announced now.
	for name := range s.Server.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	go s.register(regCtx, in)

	err = <-served
	if errors.Is(err, grpc.ErrServerStopped) {
		return nil
	}
	return err
}

func (s *Server) register(ctx context.Context, in *registry.Instance) {
	defer close(s.regDone)
	if s.opts.registrar != nil {
		announce.Register(ctx, s.opts.registrar, in, s.opts.log)
	}
}

// buildInstance is the instance the server announces on addr (see internal/announce,
// whose steps rest.Server takes too).
func (s *Server) buildInstance(addr net.Addr) (*registry.Instance, error) {
	in, err := announce.Instance(&s.opts.instance, addr, []string{s.opts.scheme}, s.opts.advertiseHost,
		s.opts.registrar != nil)
	if errors.Is(err, announce.ErrNotTCP) {
		return nil, fmt.Errorf("rpc: serve on %v: want a TCP listener", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("rpc: instance to register (set rpc.WithService): %w", err)
	}
	// Dubbo's registries list what a provider exports; the backends that write Dubbo URLs
	// take the methods parameter from this metadata.
	if info, ok := s.Server.GetServiceInfo()[in.Service]; ok && len(info.Methods) > 0 && in.Metadata["methods"] == "" {
		names := make([]string, len(info.Methods))
		for i, m := range info.Methods {
			names[i] = m.Name
		}
		if in.Metadata == nil {
			in.Metadata = map[string]string{}
		}
		in.Metadata["methods"] = strings.Join(names, ",")
	}
	return in, nil
}

// Deregister takes the server out of rotation while it still serves: it reports
// NOT_SERVING, deregisters the instance, and waits the deregister delay (or until ctx
// ends) for consumers to drop the instance. Calls that still arrive meanwhile are served.
// Shutdown does this first; call Deregister yourself to take several servers out of
// rotation before any of them stops accepting, as tianshu.App does.
//
// It is safe to call more than once and from any goroutine: every call waits for the
// first one and returns its error, a failed deregistration wrapped in ErrDeregister (see
// Shutdown), which Shutdown then returns too. Serve after Deregister returns
// ErrServerStopped.
func (s *Server) Deregister(ctx context.Context) error {
	s.leaveOnce.Do(func() {
		s.mu.Lock()
		s.stopping = true
		in, regStop, regDone := s.instance, s.regStop, s.regDone
		s.mu.Unlock()
		s.health.Shutdown()
		if in == nil {
			return
		}
		regStop()
		<-regDone
		if err := s.deregisterInstance(ctx, in); err != nil {
			s.leaveErr = fmt.Errorf("%w: instance %q of %q: %w; consumers drop it when the registry notices it is gone", ErrDeregister, in.ID, in.Service, err)
		}
		t := time.NewTimer(s.opts.deregisterDelay)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	})
	return s.leaveErr
}

// Shutdown stops the server in the order that loses no call: Deregister (NOT_SERVING,
// deregister, wait the deregister delay), then stop accepting and let in-flight calls
// finish within the grace period (or until ctx ends), and finally cancel whatever still
// runs. It is safe to call more than once and from any goroutine; every call returns when
// the server has stopped.
//
// A failed deregistration does not stop the sequence: the server still drains and stops,
// and Shutdown returns the registry's error wrapped in ErrDeregister, for the caller to
// report (consumers keep the instance until the registry notices it is gone: a session or
// lease expiry, a heartbeat timeout). Every call returns the same error, also when
// Deregister ran first. A registry that was closed first is no failure: its Close
// deregistered the instance.
func (s *Server) Shutdown(ctx context.Context) error { return s.shutdown(ctx, true) }

// shutdown is Shutdown; warn says a ctx that ends before the drain is worth a warning,
// which it is not for Stop, whose ctx is done from the start.
func (s *Server) shutdown(ctx context.Context, warn bool) error {
	s.stopOnce.Do(func() {
		defer close(s.stopped)
		err := s.Deregister(ctx)
		drained := make(chan struct{})
		go func() { s.Server.GracefulStop(); close(drained) }()
		grace := time.NewTimer(s.opts.gracePeriod)
		defer grace.Stop()
		select {
		case <-drained:
		case <-grace.C:
			s.opts.log.Warn("grace period over; cancelling in-flight calls", "grace", s.opts.gracePeriod)
			s.Server.Stop()
			<-drained
		case <-ctx.Done():
			if warn {
				s.opts.log.Warn("shutdown context done; cancelling in-flight calls", "err", ctx.Err())
			}
			s.Server.Stop()
			<-drained
		}
		s.stopErr = err
		if s.ownTelemetry {
			_ = s.telemetry.Close()
		}
	})
	<-s.stopped
	return s.stopErr
}

func (s *Server) deregisterInstance(ctx context.Context, in *registry.Instance) error {
	if s.opts.registrar == nil {
		return nil
	}
	return announce.Deregister(ctx, s.opts.registrar, in)
}

// GracefulStop is Shutdown with a background context: it deregisters before draining. It
// logs a failed deregistration, having no error to return it in.
func (s *Server) GracefulStop() { s.logStopError(s.Shutdown(context.Background())) }

// Stop deregisters and then closes every connection at once, failing in-flight calls. It
// logs a failed deregistration, having no error to return it in.
func (s *Server) Stop() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a done context skips the waits of Shutdown
	s.logStopError(s.shutdown(ctx, false))
}

func (s *Server) logStopError(err error) {
	if err != nil {
		s.opts.log.Warn("server stopped with an error", "err", err)
	}
}

func (s *Server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.recovered(info.FullMethod, r)
		}
	}()
	return handler(ctx, req)
}

func (s *Server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = s.recovered(info.FullMethod, r)
		}
	}()
	return handler(srv, ss)
}

func (s *Server) recovered(method string, r any) error {
	s.opts.log.Error("handler panicked", "method", method, "panic", r, "stack", string(debug.Stack()))
	return status.Errorf(codes.Internal, "rpc: handler of %s panicked", method)
}

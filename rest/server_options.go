package rest

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/breaker/ratelimit"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/auth"
	"github.com/tianshu-go/tianshu/telemetry"
)

// Defaults of the server. The timeouts bound what a slow or stalled client can hold: a
// connection that has not sent its headers within DefaultReadHeaderTimeout, or its whole
// request within DefaultReadTimeout, is closed, and an idle keep-alive connection is closed
// after DefaultIdleTimeout. There is no default write timeout: a handler that streams (server
// sent events, a large download) would be cut off by one, and a handler bounds its own work
// with the request's context.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	// DefaultReadTimeout covers the headers and the body: a 4 MiB body at 70 KB/s.
	DefaultReadTimeout = time.Minute
	DefaultIdleTimeout = 2 * time.Minute
	// DefaultMaxBodyBytes is the largest request body a handler is given; a larger one is
	// answered 413 with the JSON error body.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultDeregisterDelay and DefaultGracePeriod are rpc's: both servers of a process
	// leave the registry and drain alike.
	DefaultDeregisterDelay = rpc.DefaultDeregisterDelay
	DefaultGracePeriod     = rpc.DefaultGracePeriod
	// LivenessPath answers 200 while the process serves; ReadinessPath answers 200 from Serve
	// until the server starts to leave the registry, and 503 from then on. Neither passes
	// through authentication, rate limits or telemetry, so that probes always get through
	// and do not flood the traces.
	LivenessPath  = "/healthz"
	ReadinessPath = "/readyz"
)

// Errors of the server. A user meets them as follows:
//
//   - NewServer: ErrInvalidOption (a value out of range, WithRegistrar without WithService, an
//     invalid instance); with WithTLS, also rpc.ErrInvalidTLS for unreadable or mismatched
//     certificate files, naming the file;
//   - Listen: ErrListen wrapping the system's error (a malformed address, an address in use);
//   - Serve: ErrServerStopped after Shutdown, ErrNotListening before Listen;
//   - Shutdown (and tianshu.App.Run): rpc.ErrDeregister when the registry refused to
//     deregister the instance.
//
// Registration failures while starting are not returned: as rpc.Server does, the server
// serves and retries registration in the background with capped backoff, logging each
// failure; an instance the registry rejects as invalid is logged once and not retried.
var (
	ErrInvalidOption = errors.New("rest: invalid server option")
	ErrListen        = errors.New("rest: cannot listen")
	ErrServerStopped = errors.New("rest: server stopped")
	ErrNotListening  = errors.New("rest: Serve before Listen")
)

// ServerOption configures NewServer. Options check their values when NewServer applies them,
// and NewServer returns the first error.
type ServerOption func(*serverOptions) error

type serverOptions struct {
	lis                net.Listener
	registrar          registry.Registrar
	instance           registry.Instance
	advertiseHost      string
	deregisterDelay    time.Duration
	deregisterDelaySet bool // WithDeregisterDelay was given: the registrar's delay is not used
	gracePeriod        time.Duration
	readHeaderTimeout  time.Duration
	readTimeout        time.Duration
	writeTimeout       time.Duration
	idleTimeout        time.Duration
	maxBody            int64
	tlsFiles           *rpc.TLSFiles
	verifier           auth.Verifier
	public             map[string]bool
	limiter            ratelimit.Limiter
	telemetry          *telemetry.HTTPServer
	noTelemetry        bool
	grpc               *grpc.Server
	log                *slog.Logger
}

func positive(name string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("%w: %s must be positive, got %v", ErrInvalidOption, name, d)
	}
	return nil
}

// WithListener serves on lis, which the caller opened, instead of listening on the address
// given to NewServer; the server closes it.
func WithListener(lis net.Listener) ServerOption {
	return func(o *serverOptions) error {
		if lis == nil {
			return fmt.Errorf("%w: WithListener(nil)", ErrInvalidOption)
		}
		o.lis = lis
		return nil
	}
}

// WithRegistrar announces the server through r once it listens, with an "http" endpoint (or
// "https" with WithTLS). Without it the server serves but is not discoverable.
func WithRegistrar(r registry.Registrar) ServerOption {
	return func(o *serverOptions) error { o.registrar = r; return nil }
}

// WithService sets the service name consumers resolve (http://<name>/). Required with
// WithRegistrar.
func WithService(name string) ServerOption {
	return func(o *serverOptions) error { o.instance.Service = name; return nil }
}

// WithInstance sets the version, zone, weight, metadata and ID of the announced instance
// from in; its Service and Endpoints are ignored (see WithService; the server adds its own
// endpoint in front of any others). The default ID is <service>-<hostname>-<pid>-<port>.
func WithInstance(in registry.Instance) ServerOption {
	return func(o *serverOptions) error {
		svc := o.instance.Service
		o.instance = *in.Clone()
		o.instance.Service = svc
		o.instance.Metadata = maps.Clone(in.Metadata)
		return nil
	}
}

// WithAdvertiseHost sets the host consumers dial. The default is the listener's IP, or,
// when it listens on all interfaces, the first non-loopback IPv4 address of this host.
func WithAdvertiseHost(h string) ServerOption {
	return func(o *serverOptions) error { o.advertiseHost = h; return nil }
}

// WithDeregisterDelay sets the pause between deregistering and draining. Zero is allowed
// (no pause). Without it, the pause is the registrar's own when it has one
// (registry.DeregisterDelayer: Eureka's consumers learn of a deregistration only through
// caches), else DefaultDeregisterDelay.
func WithDeregisterDelay(d time.Duration) ServerOption {
	return func(o *serverOptions) error {
		if d < 0 {
			return fmt.Errorf("%w: deregister delay %v is negative", ErrInvalidOption, d)
		}
		o.deregisterDelay, o.deregisterDelaySet = d, true
		return nil
	}
}

// WithGracePeriod bounds the drain of in-flight requests; see rpc.DefaultGracePeriod.
func WithGracePeriod(d time.Duration) ServerOption {
	return func(o *serverOptions) error { o.gracePeriod = d; return positive("grace period", d) }
}

// WithTimeouts sets the http.Server's ReadHeaderTimeout, ReadTimeout, WriteTimeout and
// IdleTimeout (see the defaults). readHeader and idle must be positive; read and write may
// be zero for none.
func WithTimeouts(readHeader, read, write, idle time.Duration) ServerOption {
	return func(o *serverOptions) error {
		if err := errors.Join(positive("read header timeout", readHeader), positive("idle timeout", idle)); err != nil {
			return err
		}
		if read < 0 || write < 0 {
			return fmt.Errorf("%w: read timeout %v and write timeout %v must not be negative", ErrInvalidOption, read, write)
		}
		o.readHeaderTimeout, o.readTimeout, o.writeTimeout, o.idleTimeout = readHeader, read, write, idle
		return nil
	}
}

// WithMaxBodyBytes sets the largest request body handlers are given; see
// DefaultMaxBodyBytes. A request declaring a larger Content-Length is answered 413 before
// any handler runs; a chunked body that grows past n makes the handler's read fail with an
// *http.MaxBytesError, and the server answers 413 in place of what the handler writes next.
func WithMaxBodyBytes(n int64) ServerOption {
	return func(o *serverOptions) error {
		if n <= 0 {
			return fmt.Errorf("%w: max body bytes %d must be positive", ErrInvalidOption, n)
		}
		o.maxBody = n
		return nil
	}
}

// WithTLS serves HTTPS (HTTP/1.1 and HTTP/2 by ALPN) with the certificate files of f,
// re-read when they change on disk, as rpc.NewServerTLS does; CAFile turns on mutual TLS.
// The instance is announced with an "https" endpoint. The files are read by NewServer, so
// that a mistake fails at start with rpc.ErrInvalidTLS.
func WithTLS(f rpc.TLSFiles) ServerOption {
	return func(o *serverOptions) error { o.tlsFiles = &f; return nil }
}

// WithAuth requires a bearer token that v accepts ("Authorization: Bearer <token>") on every
// request except those routed by one of the public ServeMux patterns (written exactly as
// given to the mux, such as "GET /docs/") and the probes. Refusals answer 401 with the JSON
// error body; handlers find the caller with auth.FromContext. Per-route authentication is
// Authenticate.
func WithAuth(v auth.Verifier, public ...string) ServerOption {
	return func(o *serverOptions) error {
		if v == nil {
			return fmt.Errorf("%w: WithAuth(nil)", ErrInvalidOption)
		}
		o.verifier, o.public = v, map[string]bool{}
		for _, p := range public {
			o.public[p] = true
		}
		return nil
	}
}

// WithRateLimit refuses requests over l (a ratelimit.TokenBucket, a ratelimit.Adaptive)
// with 429 and the JSON error body, before the handler runs. Per-route limits are
// RateLimit.
func WithRateLimit(l ratelimit.Limiter) ServerOption {
	return func(o *serverOptions) error {
		if l == nil {
			return fmt.Errorf("%w: WithRateLimit(nil)", ErrInvalidOption)
		}
		o.limiter = l
		return nil
	}
}

// WithTelemetry records spans and metrics through h instead of a recorder over
// OpenTelemetry's global providers (which record nothing until tracing.Setup).
func WithTelemetry(h *telemetry.HTTPServer) ServerOption {
	return func(o *serverOptions) error {
		if h == nil {
			return fmt.Errorf("%w: WithTelemetry(nil); use WithoutTelemetry", ErrInvalidOption)
		}
		o.telemetry = h
		return nil
	}
}

// WithoutTelemetry records no spans or metrics and propagates no trace context.
func WithoutTelemetry() ServerOption {
	return func(o *serverOptions) error { o.noTelemetry = true; return nil }
}

// WithGRPC serves g on the same port: requests over HTTP/2 (h2c, or TLS with ALPN) whose
// Content-Type is application/grpc go to g.ServeHTTP, everything else to the mux, and the
// instance is announced with a "grpc" (or "grpcs") endpoint on the port as well. g's own
// interceptors (an rpc.Server's telemetry, recovery, auth) apply to its calls; the HTTP
// middleware does not. Give it the *grpc.Server of an rpc.Server that is not served on a
// listener of its own (rpc.Server.Server).
//
// Separate ports stay the default: an rpc.Server and a rest.Server, each a component of one
// tianshu.App. Three ways of sharing a port were measured (BenchmarkOnePort, 2 vCPU, client
// and server in one process, gRPC unary 1 KiB at concurrency 100, HTTP/1.1 GETs at 32):
//
//   - grpc.Server.ServeHTTP, this option: gRPC at 0.44x the throughput of its own port
//     (grpc-go's handler transport runs over net/http's HTTP/2 server, with more goroutines
//     and copies per stream, and lacks some of its features: keepalive enforcement, BDP
//     estimation), HTTP unchanged (1.02x). It is right for every protocol: h2c and TLS,
//     HTTP/2 clients of either kind, one TLS configuration and one registered instance.
//   - connection sniffing, SharePort (an HTTP/2 preface goes to grpc.Server.Serve, other
//     bytes to net/http): gRPC at 1.03x, HTTP at 1.03x, so nearly free, but a preface alone
//     cannot tell an h2c HTTP client from a gRPC one (both go to gRPC), and under TLS both
//     speak h2 after the handshake, so it shares plaintext ports only.
//   - separate ports: the reference; each server keeps its own transport, TLS and limits,
//     and nothing has to guess what a connection is for.
//
// So: separate ports by default; SharePort when one plaintext port must carry both at full
// speed (behind a TLS-terminating proxy, say); this option when one port must also carry TLS
// or h2c HTTP and the gRPC traffic is light.
func WithGRPC(g *grpc.Server) ServerOption {
	return func(o *serverOptions) error {
		if g == nil {
			return fmt.Errorf("%w: WithGRPC(nil)", ErrInvalidOption)
		}
		o.grpc = g
		return nil
	}
}

// WithLogger sets the server's logger; the default is slog.Default().
func WithLogger(l *slog.Logger) ServerOption {
	return func(o *serverOptions) error {
		if l == nil {
			return fmt.Errorf("%w: WithLogger(nil)", ErrInvalidOption)
		}
		o.log = l
		return nil
	}
}

func (o *serverOptions) check(addr string) error {
	if o.lis == nil && addr == "" {
		return fmt.Errorf("%w: no address to listen on (give host:port, or WithListener)", ErrInvalidOption)
	}
	if o.registrar != nil && strings.TrimSpace(o.instance.Service) == "" {
		return fmt.Errorf("%w: WithRegistrar needs WithService naming the service", ErrInvalidOption)
	}
	return nil
}

package kit

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/env"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/metrics"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rpc/admin"
	"github.com/tianshu-go/tianshu/telemetry"
	"github.com/tianshu-go/tianshu/tracing"

	// The backends a registry URL may name. Each adds its scheme to registry.Open.
	_ "github.com/tianshu-go/tianshu/registry/etcd"
	_ "github.com/tianshu-go/tianshu/registry/file"
	_ "github.com/tianshu-go/tianshu/registry/nacos"
	_ "github.com/tianshu-go/tianshu/registry/zookeeper"
)

// EnvPrefix is the prefix of the environment variables that override a service's config
// file: SHOP_REGISTRY sets registry, SHOP_TRACING__ENDPOINT sets tracing.endpoint.
const EnvPrefix = "SHOP"

// AdminKey is the instance metadata key under which a service announces its admin URL, so
// that the launcher finds every instance's /metrics through the registry.
const AdminKey = "admin"

// Common is the part of every service's config file that is not the service's own. Changes
// to it are noticed but need a restart: they decide what the process is connected to.
type Common struct {
	// Registry is the registry URL: file:///dir (the embedded default), or
	// zookeeper://host:2181/root, etcd://host:2379/prefix, nacos://host:8848/namespace.
	Registry string `config:"registry,required"`
	// Listen is the gRPC address (the HTTP services' addresses are in their own sections).
	Listen string `config:"listen" default:"127.0.0.1:0"`
	// Admin is the address of /metrics, /healthz and /readyz.
	Admin string `config:"admin" default:"127.0.0.1:0"`
	// AdvertiseHost is the host other services dial; the default is the listener's IP.
	AdvertiseHost string `config:"advertise_host"`
	// DeregisterDelay is how long a stopping instance waits after leaving the registry
	// before it drains, so that callers stop picking it first.
	DeregisterDelay time.Duration `config:"deregister_delay" default:"1s"`
	// Balancer is the load-balancing policy of the service's clients: tianshu_p2c (the
	// default: favours the faster, less busy instance), tianshu_round_robin, tianshu_random,
	// tianshu_least_active.
	Balancer string `config:"balancer" default:"tianshu_p2c"`
	// Tracing says where spans go (tracing.endpoint, an OTLP URL such as http://jaeger:4317).
	Tracing tracing.Config `config:"tracing"`
}

// Validate rejects an unknown balancer by name, listing the known ones.
func (c *Common) Validate() error {
	if !slices.Contains(loadbalance.Names(), c.Balancer) {
		return fmt.Errorf("balancer %q is unknown: want one of %v", c.Balancer, loadbalance.Names())
	}
	return nil
}

// Process is one running shop service with everything it shares with the others.
type Process struct {
	Service, ID string
	// ConfigPath is the service's config file (-config), for a component that watches a
	// section of it with options of its own (the front door's routes, read strictly).
	ConfigPath string
	Log        *slog.Logger
	Config     *config.Config
	Common     Common
	Registry   registry.Registry
	Metrics    *metrics.Prometheus
	Meter      metric.Meter

	admin           *admin.Server
	adminURL        string
	serverTelemetry *telemetry.Handler
	clientTracing   *telemetry.Handler
	httpTelemetry   *telemetry.HTTPServer
	stopTracing     func(context.Context) error
	reloads         atomic.Int64
	rejects         atomic.Int64
	closers         []func(context.Context) error
}

// Start reads the flags in args (-config, -id), loads the config, opens the registry, sets
// up tracing and metrics and starts the admin server. Close undoes all of it; Serve calls
// Close itself.
func Start(ctx context.Context, service string, args []string) (p *Process, err error) {
	fs := flag.NewFlagSet(service, flag.ContinueOnError)
	path := fs.String("config", service+".yaml", "the service's config file (YAML); SHOP_* variables override it")
	id := fs.String("id", "", "this instance's ID (default <service>-<pid>)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *id == "" {
		*id = service + "-" + strconv.Itoa(os.Getpid())
	}
	p = &Process{Service: service, ID: *id, ConfigPath: *path}
	p.Log = slog.New(telemetry.NewLogHandler(slog.NewTextHandler(os.Stderr, nil))).With("instance", p.ID)
	defer func() {
		if err != nil {
			p.Close()
		}
	}()

	p.Config, err = config.New(ctx, []config.Source{file.New(*path), env.New(EnvPrefix)},
		config.WithLogger(p.Log),
		config.WithErrorHandler(func(error) { p.rejects.Add(1) }))
	if err != nil {
		return p, err
	}
	p.closers = append(p.closers, func(context.Context) error { return p.Config.Close() })
	common, err := config.Bind[Common](p.Config, "")
	if err != nil {
		return p, err
	}
	p.Common = *common.Load()
	common.OnChange(func(old, now *Common) {
		// Bound at the root, this value hears every edit of the file: most leave it as it was.
		if reflect.DeepEqual(old, now) {
			return
		}
		p.Log.Warn("registry, listen, admin or tracing settings changed: restart the instance to apply them")
	})

	if err := p.startMetrics(); err != nil {
		return p, err
	}
	if err := p.startTracing(ctx); err != nil {
		return p, err
	}
	p.Registry, err = registry.Open(ctx, p.Common.Registry)
	if err != nil {
		return p, fmt.Errorf("%s: open registry: %w", service, err)
	}
	p.closers = append(p.closers, func(context.Context) error { return p.Registry.Close() })
	return p, p.startAdmin(ctx)
}

func (p *Process) startMetrics() error {
	prom, err := metrics.NewPrometheus()
	if err != nil {
		return err
	}
	p.Metrics = prom
	p.closers = append(p.closers, prom.Shutdown)
	p.Meter = prom.MeterProvider().Meter("github.com/tianshu-go/tianshu/examples/shop")
	reloads, err1 := p.Meter.Int64ObservableCounter("shop.config.reloads",
		metric.WithDescription("Config changes applied without a restart."))
	rejects, err2 := p.Meter.Int64ObservableCounter("shop.config.rejected",
		metric.WithDescription("Config changes rejected; the last good config stayed live."))
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	_, err = p.Meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(reloads, p.reloads.Load())
		o.ObserveInt64(rejects, p.rejects.Load())
		return nil
	}, reloads, rejects)
	return err
}

func (p *Process) startTracing(ctx context.Context) error {
	opts, err := p.Common.Tracing.Options()
	if err != nil {
		return err
	}
	opts = append(opts, tracing.WithServiceName(p.Service), tracing.WithInstanceID(p.ID))
	p.stopTracing, err = tracing.Setup(ctx, opts...)
	if err != nil {
		return err
	}
	p.closers = append(p.closers, p.stopTracing)
	mp := telemetry.WithMeterProvider(p.Metrics.MeterProvider())
	p.serverTelemetry, p.clientTracing = telemetry.NewServerHandler(mp), telemetry.NewClientHandler(mp)
	p.httpTelemetry = telemetry.NewHTTPServer(mp)
	p.closers = append(p.closers, func(context.Context) error {
		return errors.Join(p.serverTelemetry.Close(), p.clientTracing.Close())
	})
	return nil
}

func (p *Process) startAdmin(ctx context.Context) error {
	p.admin = admin.New(p.Common.Admin, admin.WithMetrics(p.Metrics.Handler()), admin.WithLogger(p.Log))
	if err := p.admin.Start(ctx); err != nil {
		return err
	}
	p.closers = append(p.closers, p.admin.Shutdown)
	p.adminURL = "http://" + p.advertise(p.admin.Addr())
	p.Log.Info("admin server", "url", p.adminURL)
	return nil
}

// advertise returns host:port for addr as other processes should dial it.
func (p *Process) advertise(addr net.Addr) string {
	tcp := addr.(*net.TCPAddr)
	host := p.Common.AdvertiseHost
	if host == "" {
		host = tcp.IP.String()
		if tcp.IP.IsUnspecified() {
			host = "127.0.0.1"
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(tcp.Port))
}

// OnReload counts (shop_config_reloads_total) and logs each accepted change of a service's
// own settings. The services read their Value on every call, so nothing else is needed for
// a change to take effect.
func OnReload[T any](p *Process, v *config.Value[T], describe func(*T) string) {
	v.OnChange(func(_, now *T) {
		p.reloads.Add(1)
		p.Log.Info("config reloaded", "now", describe(now))
	})
}

// NewServer returns a Tianshu server for the service, announced in the registry with the
// admin URL in its metadata and traced; opts add to or override that.
func (p *Process) NewServer(opts ...rpc.ServerOption) *rpc.Server {
	return rpc.NewServer(append([]rpc.ServerOption{
		rpc.WithService(p.Service),
		rpc.WithInstanceID(p.ID),
		rpc.WithRegistrar(p.Registry),
		rpc.WithMetadata(map[string]string{AdminKey: p.adminURL}),
		rpc.WithAdvertiseHost(p.Common.AdvertiseHost),
		rpc.WithDeregisterDelay(p.Common.DeregisterDelay),
		rpc.WithGracePeriod(5 * time.Second),
		rpc.WithServerLogger(p.Log),
		rpc.WithServerTelemetry(p.serverTelemetry),
	}, opts...)...)
}

// NewHTTPServer returns an HTTP server for the service on addr, routed by mux: announced in
// the registry with an http endpoint under the process's instance ID and the admin URL in
// its metadata, traced and measured (http_server_request_duration_seconds on /metrics), and
// leaving the registry and draining as NewServer's server does; opts add to or override
// that. Run it with Run(ctx, tianshu.WithComponent(srv)).
func (p *Process) NewHTTPServer(addr string, mux *http.ServeMux, opts ...rest.ServerOption) (*rest.Server, error) {
	return rest.NewServer(addr, mux, append([]rest.ServerOption{
		rest.WithRegistrar(p.Registry),
		rest.WithService(p.Service),
		rest.WithInstance(registry.Instance{ID: p.ID, Metadata: map[string]string{AdminKey: p.adminURL}}),
		rest.WithAdvertiseHost(p.Common.AdvertiseHost),
		rest.WithDeregisterDelay(p.Common.DeregisterDelay),
		rest.WithGracePeriod(5 * time.Second),
		rest.WithLogger(p.Log),
		rest.WithTelemetry(p.httpTelemetry),
	}, opts...)...)
}

// Dial returns a client of service, balanced over its instances by the configured policy,
// traced, with the interceptors given inside the tracing one (a breaker, say).
func (p *Process) Dial(ctx context.Context, service string, interceptors ...grpc.UnaryClientInterceptor) (*grpc.ClientConn, error) {
	return rpc.Dial(ctx, "tianshu:///"+service,
		rpc.WithDiscovery(p.Registry),
		rpc.WithBalancer(p.Common.Balancer),
		rpc.WithDialLogger(p.Log),
		rpc.WithClientTelemetry(p.clientTracing),
		rpc.WithUnaryClientInterceptors(interceptors...))
}

// Serve serves srv on the configured listen address until SIGINT, SIGTERM or the end of
// ctx, shuts it down in order (leave the registry, wait, drain), and closes the process.
func (p *Process) Serve(ctx context.Context, srv *rpc.Server) error {
	return p.Run(ctx, tianshu.WithServer(srv, p.Common.Listen))
}

// Run runs a tianshu.App of the components in opts (a NewHTTPServer server, say) as Serve
// does, and closes the process.
func (p *Process) Run(ctx context.Context, opts ...tianshu.Option) error {
	app := tianshu.New(append([]tianshu.Option{
		tianshu.WithLogger(p.Log),
		tianshu.WithShutdownTimeout(15 * time.Second),
		tianshu.WithStarted(func(addrs []net.Addr) {
			p.Log.Info("serving", "addrs", addrs, "registry", p.Common.Registry)
		}),
	}, opts...)...)
	err := app.Run(ctx)
	p.Close()
	return err
}

// AddCloser adds f to what Close runs; closers run in reverse order of adding, so a client
// added by a service closes before the registry it resolves through.
func (p *Process) AddCloser(f func(context.Context) error) { p.closers = append(p.closers, f) }

// HandleAdmin serves h on the admin server's pattern (a read-only API beside /metrics). The
// patterns the admin server has (/metrics, /healthz, /readyz, /debug/pprof/) are taken.
func (p *Process) HandleAdmin(pattern string, h http.Handler) error {
	mux, ok := p.admin.Handler().(*http.ServeMux)
	if !ok {
		return fmt.Errorf("%s: the admin server's handler is a %T, not a ServeMux to add %s to", p.Service, p.admin.Handler(), pattern)
	}
	mux.Handle(pattern, h)
	return nil
}

// HTTPTelemetry returns recorders of server and client HTTP spans and durations that
// report to the process's /metrics, for an HTTP component other than NewHTTPServer's.
func (p *Process) HTTPTelemetry() (*telemetry.HTTPServer, *telemetry.HTTPClient) {
	mp := telemetry.WithMeterProvider(p.Metrics.MeterProvider())
	return p.httpTelemetry, telemetry.NewHTTPClient(mp)
}

// GRPCClientTelemetry returns the recorder of client spans and call durations that Dial's
// clients use, for gRPC clients made elsewhere (the front door's transcode routes). The
// process closes it.
func (p *Process) GRPCClientTelemetry() *telemetry.Handler { return p.clientTracing }

// AdminURL returns the base URL of the admin server.
func (p *Process) AdminURL() string { return p.adminURL }

// Close stops what Start started, in reverse order, within ten seconds.
func (p *Process) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := len(p.closers) - 1; i >= 0; i-- {
		if err := p.closers[i](ctx); err != nil {
			p.Log.Warn("close", "err", err)
		}
	}
	p.closers = nil
}

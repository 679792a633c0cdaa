// Package front is the shop's front door: Tianshu's API gateway (package gateway) embedded
// in a shop service. Its routes are the "gateway" section of its own config file
// (gateway.yaml), watched strictly and applied whole on every valid change; they send the
// shop's paths to services of the registry (the JSON API, shop-api, and its canary), and
// serve the orders service's gRPC methods as REST under /rpc (a transcode route, by the
// google.api.http rules in the shoppb package the front door links in). It
// registers as service "gateway" with an http endpoint, so that callers reach every
// front-door instance as http://gateway/ through rest.Client, and serves the gateway's
// read-only admin API (/routes, /upstreams) beside /metrics on the process's admin server.
package front

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"

	"go.opentelemetry.io/otel/metric"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
	"github.com/tianshu-go/tianshu/examples/shop/internal/kit"
	// The transcode route (orders-rest in gateway.yaml) finds shop.v1.Orders and its
	// google.api.http rules in the descriptors this package links into the program.
	_ "github.com/tianshu-go/tianshu/examples/shop/shoppb"
	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/rest"
)

// Service is the name the front door registers under, and the name of its config file
// (gateway.yaml).
const Service = "gateway"

// ErrConfig is wrapped by the errors about a front section that cannot work.
var ErrConfig = errors.New("front: invalid config")

// Config is the front section of gateway.yaml: the front door's own settings, read at start.
// Its routes are the gateway section beside it (see package gateway).
type Config struct {
	// HTTP is the address the front door serves on.
	HTTP string `config:"http" default:"127.0.0.1:8080"`
	// AccessSample is the share of requests written to the access log (JSON on stderr, the
	// instance's log file); answers of 500 and above are always written. 0 logs only those.
	AccessSample float64 `config:"access_sample" default:"0"`
}

// Validate rejects a share outside 0 to 1.
func (c *Config) Validate() error {
	if c.AccessSample < 0 || c.AccessSample > 1 {
		return fmt.Errorf("%w: access_sample %v: want a share from 0 to 1", ErrConfig, c.AccessSample)
	}
	return nil
}

// Via returns middleware that names the front-door instance id in api.GatewayHeader on
// every request it forwards, replacing what a client sent, so that the API counts the
// orders each front door placed.
func Via(id string) gateway.Middleware {
	return func(_ string, next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Header.Set(api.GatewayHeader, id)
			next.ServeHTTP(w, r)
		})
	}
}

// RejectedMetric counts the route sets the front door rejected (each distinct error once)
// while the routes in force kept serving; shop_gateway_routes_rejected_total on /metrics.
const RejectedMetric = "shop.gateway.routes.rejected"

func countRejections(m metric.Meter) (*atomic.Int64, error) {
	var n atomic.Int64
	c, err := m.Int64ObservableCounter(RejectedMetric,
		metric.WithDescription("Route sets rejected whole; the routes in force stayed."))
	if err != nil {
		return nil, err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		o.ObserveInt64(c, n.Load())
		return nil
	}, c)
	return &n, err
}

// Main runs the front door until SIGINT, SIGTERM or the end of ctx: the gateway served by a
// rest.Server announced in the registry as service "gateway", as a component of a
// tianshu.App, so that on SIGTERM it leaves the registry before it drains.
func Main(ctx context.Context, args []string) error {
	p, err := kit.Start(ctx, Service, args)
	if err != nil {
		return err
	}
	defer p.Close()
	cfg, err := config.Bind[Config](p.Config, "front")
	if err != nil {
		return err
	}
	c := cfg.Load()
	rejected, err := countRejections(p.Meter)
	if err != nil {
		return err
	}
	srvTel, cliTel := p.HTTPTelemetry()
	opts := []gateway.Option{
		gateway.WithDiscovery(p.Registry),
		gateway.WithLogger(p.Log),
		gateway.WithTelemetry(srvTel, cliTel),
		gateway.WithGRPCTelemetry(p.GRPCClientTelemetry()), // the transcode routes' calls
		gateway.WithMiddleware(Via(p.ID)),
		gateway.WithErrorHandler(func(error) { rejected.Add(1) }), // the gateway logs it
	}
	// The access log goes to stderr, which the demo writes to the instance's log file.
	opts = append(opts, gateway.WithAccessLog(slog.New(slog.NewJSONHandler(os.Stderr, nil)), c.AccessSample))
	g, err := gateway.New(opts...)
	if err != nil {
		return err
	}
	p.AddCloser(func(context.Context) error { return g.Close() })
	// The routes are read from the file alone, strictly: a misspelt key in a route stops
	// the start, and a bad edit is rejected whole while the routes in force keep serving.
	// The SHOP_* variables that override the process's settings do not reach them.
	if err := g.Watch(ctx, []config.Source{file.New(p.ConfigPath)}); err != nil {
		return fmt.Errorf("%s: routes: %w", p.ConfigPath, err)
	}
	admin := g.AdminHandler()
	if err := errors.Join(p.HandleAdmin("GET /routes", admin), p.HandleAdmin("GET /upstreams", admin)); err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", g)
	// The gateway records each request's span and duration by route itself.
	srv, err := p.NewHTTPServer(c.HTTP, mux, rest.WithoutTelemetry())
	if err != nil {
		return err
	}
	err = p.Run(ctx, tianshu.WithComponent(srv), tianshu.WithStarted(func([]net.Addr) {
		_, routes := g.Routes()
		p.Log.Info("front door serving", "url", srv.Instance().Endpoints[0].String(),
			"routes", len(routes), "admin", p.AdminURL()+"/routes")
	}))
	if errors.Is(err, rest.ErrListen) {
		return fmt.Errorf("%w (set front.http or SHOP_FRONT__HTTP)", err)
	}
	return err
}

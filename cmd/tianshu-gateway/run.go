package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configurl"
	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/metrics"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/telemetry"
)

// errUsage is wrapped by the errors about flags.
var errUsage = errors.New("usage")

// options are the command's flags.
type options struct {
	config, listen, admin, registry, service string
	tlsCert, tlsKey                          string
	accessLog                                string
	sample                                   float64
	deregisterDelay, grace, drain            time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("tianshu-gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.config, "config", "", "the routes: a file path, or a config-center URL (etcd://, zookeeper://, nacos://, springconfig://)")
	fs.StringVar(&o.listen, "listen", ":8080", "address the gateway serves on")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:9901", "address of the read-only admin API and /readyz; empty for none")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "serve HTTPS (HTTP/1.1 and HTTP/2) with this PEM certificate file; needs -tls-key")
	fs.StringVar(&o.tlsKey, "tls-key", "", "the PEM private key of -tls-cert")
	fs.StringVar(&o.registry, "registry", "", "registry URL (registry.Open) for targets naming a service, and for -service")
	fs.StringVar(&o.service, "service", "", "register the gateway in -registry under this service name while it serves")
	fs.StringVar(&o.accessLog, "access-log", "stdout", "where JSON access records go: stdout, stderr, a file path, or off")
	fs.Float64Var(&o.sample, "access-sample", 1, "share of requests logged (answers of 500 and above always are)")
	fs.DurationVar(&o.deregisterDelay, "deregister-delay", 5*time.Second, "pause after leaving the registry before the listener closes")
	fs.DurationVar(&o.grace, "grace", 30*time.Second, "how long requests in flight may take to finish on shutdown")
	fs.DurationVar(&o.drain, "drain", gateway.DefaultDrain, "how long an upstream no route uses any more keeps its connections")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return nil, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	case o.config == "":
		return nil, fmt.Errorf("%w: -config is required (a file or a config-center URL)", errUsage)
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return nil, fmt.Errorf("%w: -tls-cert and -tls-key go together", errUsage)
	case o.service != "" && o.registry == "":
		return nil, fmt.Errorf("%w: -service needs -registry", errUsage)
	case o.sample < 0 || o.sample > 1:
		return nil, fmt.Errorf("%w: -access-sample %v: want 0 to 1", errUsage, o.sample)
	case o.deregisterDelay < 0 || o.grace <= 0 || o.drain < 0:
		return nil, fmt.Errorf("%w: -deregister-delay and -drain want 0 or more, -grace more than 0", errUsage)
	}
	return o, nil
}

// started tells a test where the command listens once it serves.
type started func(gw, admin net.Addr)

// run runs the gateway until ctx ends, then drains it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, onStart started) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	prom, err := metrics.NewPrometheus()
	if err != nil {
		return err
	}
	defer func() { _ = prom.Shutdown(context.Background()) }()
	mp := telemetry.WithMeterProvider(prom.MeterProvider())
	opts := []gateway.Option{gateway.WithLogger(log), gateway.WithDrain(o.drain),
		gateway.WithTelemetry(telemetry.NewHTTPServer(mp), telemetry.NewHTTPClient(mp)),
		gateway.WithGRPCTelemetry(telemetry.NewClientHandler(mp, telemetry.WithoutActiveCalls()))}
	switch o.accessLog {
	case "off":
	case "stdout", "stderr", "":
		w := stdout
		if o.accessLog == "stderr" {
			w = stderr
		}
		opts = append(opts, gateway.WithAccessLog(slog.New(slog.NewJSONHandler(w, nil)), o.sample))
	default:
		f, err := os.OpenFile(o.accessLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("-access-log: %w", err)
		}
		defer f.Close()
		opts = append(opts, gateway.WithAccessLog(slog.New(slog.NewJSONHandler(f, nil)), o.sample))
	}
	var reg registry.Registry
	if o.registry != "" {
		openCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		reg, err = registry.Open(openCtx, o.registry)
		cancel()
		if err != nil {
			return fmt.Errorf("-registry: %w", err)
		}
		defer reg.Close()
		opts = append(opts, gateway.WithDiscovery(reg))
	}
	g, err := gateway.New(opts...)
	if err != nil {
		return err
	}
	defer g.Close()
	src, closer, err := configurl.Open(ctx, o.config)
	if errors.Is(err, configurl.ErrURL) {
		return fmt.Errorf("%w: -config: %w", errUsage, err)
	} else if err != nil {
		return fmt.Errorf("-config: %w", err)
	}
	if closer != nil {
		defer closer.Close()
	}
	watchCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = g.Watch(watchCtx, []config.Source{src})
	cancel()
	if err != nil {
		return err
	}

	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("-listen: %w", err)
	}
	srv := g.HTTPServer(o.listen)
	scheme := "http"
	if o.tlsCert != "" {
		// Read now, so that a bad file fails the start rather than every handshake.
		cert, err := tls.LoadX509KeyPair(o.tlsCert, o.tlsKey)
		if err != nil {
			_ = lis.Close()
			return fmt.Errorf("-tls-cert, -tls-key: %w", err)
		}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		srv.Protocols.SetHTTP2(true)
		scheme = "https"
	}
	var ready atomic.Bool
	var adminSrv *http.Server
	var adminAddr net.Addr
	if o.admin != "" {
		alis, err := net.Listen("tcp", o.admin)
		if err != nil {
			_ = lis.Close()
			return fmt.Errorf("-admin: %w", err)
		}
		adminAddr = alis.Addr()
		mux := http.NewServeMux()
		mux.Handle("/", g.AdminHandler())
		mux.Handle("GET /metrics", prom.Handler())
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
		mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
			if !ready.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "draining\n")
				return
			}
			_, _ = io.WriteString(w, "ready\n")
		})
		adminSrv = &http.Server{Handler: mux, ReadHeaderTimeout: gateway.DefaultReadHeaderTimeout}
		go func() { _ = adminSrv.Serve(alis) }()
	}
	served := make(chan error, 1)
	go func() {
		if scheme == "https" {
			served <- srv.ServeTLS(lis, "", "") // the certificate is in TLSConfig
			return
		}
		served <- srv.Serve(lis)
	}()
	ready.Store(true)
	var inst *registry.Instance
	if o.service != "" {
		inst, err = instance(o.service, scheme, lis.Addr())
		if err != nil {
			return err
		}
		regCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if err := reg.Register(regCtx, inst); err != nil {
			// Recorded all the same: the registry registers it once it is reachable.
			log.Warn("registering the gateway", "service", o.service, "err", err)
		}
		cancel()
	}
	log.Info("serving", "listen", lis.Addr().String(), "admin", fmt.Sprint(adminAddr), "routes", g.Generation())
	if onStart != nil {
		onStart(lis.Addr(), adminAddr)
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Drain in the order that loses no request: out of rotation first, then stop accepting.
	log.Info("draining")
	ready.Store(false)
	if inst != nil {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := reg.Deregister(dctx, inst); err != nil {
			log.Warn("deregistering the gateway", "err", err)
		}
		cancel()
	}
	time.Sleep(o.deregisterDelay)
	sctx, cancel := context.WithTimeout(context.Background(), o.grace)
	defer cancel()
	err = srv.Shutdown(sctx)
	if err != nil {
		_ = srv.Close()
	}
	if adminSrv != nil {
		_ = adminSrv.Close()
	}
	log.Info("stopped", "err", err)
	return nil
}

// instance is the gateway's own registry entry: an http or https endpoint on its listener.
func instance(service, scheme string, addr net.Addr) (*registry.Instance, error) {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("listener address %v is not TCP", addr)
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	hn, _ := os.Hostname()
	in := &registry.Instance{
		ID: service + "-" + hn + "-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(tcp.Port), Service: service,
		Endpoints: []registry.Endpoint{{Scheme: scheme, Host: host, Port: tcp.Port}},
	}
	if err := in.Validate(); err != nil {
		return nil, fmt.Errorf("%w: -service %q: %v", errUsage, service, err)
	}
	return in, nil
}

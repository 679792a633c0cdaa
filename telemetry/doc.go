// Package telemetry instruments each call: the gRPC interceptors and stats handler that
// record a span and the RPC duration and in-flight metrics of every call, the propagator
// that lets W3C, B3 and jaeger-client-go services share traces, and a slog handler that
// puts the call's trace and span IDs into its log lines. It is what rpc uses, and what the
// HTTP server, HTTP client and gateway will use.
//
// It speaks only OpenTelemetry's API: spans and metrics go to the tracer and meter
// providers it is given (by default the globals), and it links neither the SDK nor an
// exporter. The providers come from set-up code that main calls once: tracing.Setup for
// the SDK and OTLP export, metrics.NewPrometheus for a Prometheus endpoint.
//
// The handlers keep otelgrpc v0.72's telemetry (span names pkg.Service/Method, attributes,
// status mapping, rpc.server.call.duration and rpc.client.call.duration in seconds, with
// otelgrpc's buckets) at lower cost per call; handler_test.go checks that both record the
// same things, as stats handlers and as interceptors, and bench_test.go measures both
// against bare grpc-go.
//
// With a plain grpc-go server and client:
//
//	sh, ch := telemetry.NewServerHandler(), telemetry.NewClientHandler()
//	defer sh.Close()
//	defer ch.Close()
//	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(sh.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(sh.StreamServerInterceptor()))
//	cc, err := grpc.NewClient(addr, grpc.WithChainUnaryInterceptor(ch.UnaryClientInterceptor()),
//		grpc.WithChainStreamInterceptor(ch.StreamClientInterceptor()), ...)
//
// UnaryServerInterceptorThen and UnaryClientInterceptorThen fuse the handler's interceptor
// with the next one, saving the closure grpc-go's chain allocates per link and call.
// rpc.NewServer and rpc.Dial install these interceptors themselves; configure them with
// rpc.WithServerTelemetry and rpc.WithClientTelemetry. ServerOption and DialOption install the
// same Handler as a stats handler instead, which also sees the connected peer's address
// but costs more per call.
package telemetry

// Package tracing follows requests across Tianshu services with OpenTelemetry: SDK set-up
// (OTLP export to Jaeger or any collector, a parent-based ratio sampler, a resource naming
// the service, version and instance), the propagator that lets W3C, B3 and jaeger-client-go
// services share traces, the gRPC stats handlers that record a span and the RPC duration
// histograms for every call, and a slog handler that puts trace and span IDs into logs.
//
// The handlers keep otelgrpc v0.72's telemetry (span names pkg.Service/Method, attributes,
// status mapping, rpc.server.call.duration and rpc.client.call.duration in seconds, with
// otelgrpc's buckets) at lower cost per call; handler_test.go checks that both
// record the same things, as stats handlers and as interceptors, and bench_test.go
// measures both against bare grpc-go.
//
// Nothing here touches OpenTelemetry's globals except Setup, which the application calls
// once:
//
//	shutdown, err := tracing.Setup(ctx, tracing.WithServiceName("orders"),
//		tracing.WithOTLP(tracing.ProtocolGRPC, "http://jaeger:4317"))
//	if err != nil { ... }
//	defer shutdown(context.Background()) // flushes queued spans
//	sh, ch := tracing.NewServerHandler(), tracing.NewClientHandler()
//	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(sh.UnaryServerInterceptor()),
//		grpc.ChainStreamInterceptor(sh.StreamServerInterceptor()))
//	cc, err := grpc.NewClient(addr, grpc.WithChainUnaryInterceptor(ch.UnaryClientInterceptor()),
//		grpc.WithChainStreamInterceptor(ch.StreamClientInterceptor()), ...)
//
// ServerOption and DialOption install the same Handler as a stats handler instead, which
// also sees the connected peer's address but costs more per call.
package tracing

// Package tracing sets up OpenTelemetry's SDK for traces, which main calls once: a tracer
// provider with OTLP export to Jaeger or any collector, a parent-based ratio sampler, a
// resource naming the service, version and instance, and the propagator installed as
// OpenTelemetry's global. Config reads these settings from the application's file.
//
// The per-call instrumentation that records spans (interceptors, stats handler,
// propagator, log handler) is package telemetry, which speaks only OpenTelemetry's API:
// rpc links telemetry, never this package, so a service pays for the SDK and the OTLP
// exporters only where main imports tracing. The handlers' names that used to live here
// remain, deprecated, for one release.
//
// Nothing here touches OpenTelemetry's globals except Setup, which the application calls
// once:
//
//	shutdown, err := tracing.Setup(ctx, tracing.WithServiceName("orders"),
//		tracing.WithOTLP(tracing.ProtocolGRPC, "http://jaeger:4317"))
//	if err != nil { ... }
//	defer shutdown(context.Background()) // flushes queued spans
//	srv, err := rpc.NewServer(...) // its telemetry handlers follow the globals
//
// A provider from Setup or NewTracerProvider with the default sampler lets the telemetry
// handlers drop unsampled calls without the SDK's per-span work (see TracerProvider).
package tracing

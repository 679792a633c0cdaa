// Package metrics sets up OpenTelemetry's metric SDK with a Prometheus exporter, which
// main calls once, and adds the metrics that are not per call: breaker state and registry
// events. The per-call RPC metrics (rpc.server.call.duration, rpc.client.call.duration,
// in-flight calls) come from package telemetry's handlers, which record into whatever
// meter provider they are given; rpc uses them without linking this package.
//
// The shortest use:
//
//	prom, err := metrics.NewPrometheus()
//	if err != nil { ... }
//	defer prom.Shutdown(ctx)
//	srv := grpc.NewServer(telemetry.ServerOption(telemetry.WithMeterProvider(prom.MeterProvider())))
//	http.Handle("/metrics", prom.Handler())
package metrics

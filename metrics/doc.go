// Package metrics exposes Tianshu's metrics in the Prometheus format and adds the metrics
// that are not per call: breaker state and registry events. The per-call RPC metrics
// (rpc.server.call.duration, rpc.client.call.duration, in-flight calls) come from the
// tracing package's stats handlers, which record into whatever meter provider they are
// given.
//
// The shortest use:
//
//	prom, err := metrics.NewPrometheus()
//	if err != nil { ... }
//	defer prom.Shutdown(ctx)
//	srv := grpc.NewServer(tracing.ServerOption(tracing.WithMeterProvider(prom.MeterProvider())))
//	http.Handle("/metrics", prom.Handler())
package metrics

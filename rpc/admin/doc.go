// Package admin is the operations HTTP server of a Tianshu process: /metrics for
// Prometheus, /healthz (the process is alive), /readyz (it serves and is registered, as
// the checks given say) and /debug/pprof/. It is a package of its own because it gathers
// what tracing, metrics and rpc know without any of them knowing about HTTP; it is off
// unless an application creates one (the tianshu App enables it with one option).
//
// The shortest use:
//
//	adm := admin.New("127.0.0.1:9090", admin.WithMetrics(prom.Handler()),
//		admin.WithReadiness("rpc", func(context.Context) error { return nil }))
//	if err := adm.Start(ctx); err != nil { ... }
//	defer adm.Shutdown(ctx)
package admin

// Package admin is the operations HTTP server of a Tianshu process: /metrics for
// Prometheus, /healthz (the process is alive), /readyz (it serves and is registered, as
// the checks given say) and /debug/pprof/. It is a package of its own because it gathers
// what tracing, metrics and rpc know without any of them knowing about HTTP; it is off
// unless an application creates one.
//
// A Server is a tianshu.Component: added to an App before the rpc.Server, it listens
// before anything is registered and stops after the server has drained, answering
// /readyz with 503 from the moment the server deregisters:
//
//	adm := admin.New(":9090", admin.WithMetrics(prom.Handler()),
//		admin.WithReadiness("grpc", admin.Serving(srv.Health())))
//	app := tianshu.New(tianshu.WithComponent(adm), tianshu.WithServer(srv, ":9000"))
//
// Without an App, Start serves it in the background and Shutdown stops it.
package admin

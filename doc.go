// Package tianshu runs a service's lifecycle. An App runs components: rpc.Servers on
// their addresses (WithServer), the admin server of package rpc/admin, any Component. It
// listens every component before any serves, waits for SIGINT, SIGTERM or the end of its
// context, and shuts down in the order that loses no call: every server withdraws first
// (NOT_SERVING, deregister, wait for consumers to notice), then the components stop in
// reverse order of their options (stop accepting, drain), then the closers the
// application registered (registries, tracers) run in reverse order. Run returns what
// went wrong on the way out too: a server's failed deregistration (rpc.ErrDeregister),
// components' and closers' errors, joined, each also logged once.
//
//	reg, _ := registry.Open(ctx, "file://")
//	srv := rpc.NewServer(rpc.WithService("greeter"), rpc.WithRegistrar(reg))
//	pb.RegisterGreeterServer(srv, impl{})
//	adm := admin.New(":9090", admin.WithReadiness("grpc", admin.Serving(srv.Health())))
//	app := tianshu.New(
//		tianshu.WithComponent(adm),      // listens first, stops last
//		tianshu.WithServer(srv, ":9000"),
//		tianshu.WithCloser(reg),
//	)
//	if err := app.Run(ctx); err != nil { ... }
//
// The framework itself lives in the sub-packages: registry, config, rpc, loadbalance,
// breaker, telemetry and tracing.
package tianshu

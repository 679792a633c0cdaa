// Package tianshu runs a service's lifecycle: it serves one or more rpc.Servers, waits for
// SIGINT, SIGTERM or the end of its context, and shuts down in the order that loses no
// call (see rpc.Server.Shutdown), then closes what the application registered to close
// (registries, tracers) in reverse order. Run returns what went wrong on the way out too:
// a server's failed deregistration (rpc.ErrDeregister) and closers' errors, joined, each
// also logged once.
//
//	reg, _ := registry.Open(ctx, "file://")
//	srv := rpc.NewServer(rpc.WithService("greeter"), rpc.WithRegistrar(reg))
//	pb.RegisterGreeterServer(srv, impl{})
//	app := tianshu.New(tianshu.WithServer(srv, ":9000"), tianshu.WithCloser(reg))
//	if err := app.Run(ctx); err != nil { ... }
//
// The framework itself lives in the sub-packages: registry, config, rpc, loadbalance,
// breaker and tracing.
package tianshu

// Package kit is what the five shop services share: reading the -config and -id flags, the
// layered config (the service's YAML file, then SHOP_* environment variables), the registry
// opened by URL, tracing, Prometheus metrics on an admin HTTP server, and a Tianshu server,
// an HTTP server (package rest) and clients wired with all of it. A service's main package
// reads as its business logic plus a few calls here:
//
//	p, err := kit.Start(ctx, "payment", os.Args[1:])
//	if err != nil { ... }
//	srv := p.NewServer()
//	shoppb.RegisterPaymentServer(srv, impl)
//	return p.Serve(ctx, srv)
//
// The JSON API and the front door serve HTTP the same way: p.NewHTTPServer(addr, mux) and
// p.Run(ctx, tianshu.WithComponent(srv)); the front door also adds the gateway's admin API
// to the admin server (p.HandleAdmin).
//
// Which registry and which trace collector a service uses is config only: the registry URL
// (file://, zookeeper://, etcd://, nacos://) and tracing.endpoint.
package kit

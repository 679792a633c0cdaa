// Package rpc plugs Tianshu's registry into grpc-go's own extension points.
//
// Providers build a [Server]: a *grpc.Server with health, reflection and panic recovery,
// that registers its instance once it is serving and, on shutdown, reports NOT_SERVING,
// deregisters, waits for consumers to notice, and drains in-flight calls within a bounded
// grace period. Consumers [Dial] a target of the form tianshu:///<service> and get a plain
// *grpc.ClientConn whose resolver follows the registry and whose balancer (a Tianshu policy
// by default) picks among the instances.
//
// Governance rules (package rules) reach both sides: [WithRules] makes a consumer's
// balancer follow a service's instance overrides and routes, and applies to each unary
// call its method's policy: timeout, retries and breaker; [WithServerRules] makes a
// provider refuse calls over its methods' limits.
//
// A Server whose registrar registers at Dubbo 3's application level (registry/zookeeper's
// LayoutDubbo, registry/nacos's WithDubboNaming; see [DubboMetadataSource]) also serves
// Dubbo's MetadataServiceV2 on its port, from which Java consumers read the services behind
// an application instance. That one method skips the server rules' limits and the
// application's interceptors, authentication included: Java sends no token with it.
//
// Provider:
//
//	srv := rpc.NewServer(rpc.WithService("greeter"), rpc.WithRegistrar(reg))
//	pb.RegisterGreeterServer(srv, impl{})
//	lis, _ := net.Listen("tcp", "127.0.0.1:0")
//	go srv.Serve(lis)
//	defer srv.Shutdown(ctx)
//
// Consumer:
//
//	conn, err := rpc.Dial(ctx, "tianshu:///greeter", rpc.WithDiscovery(reg))
//	client := pb.NewGreeterClient(conn)
package rpc

// Command tianshu-gateway runs Tianshu's API gateway (package gateway): routes from a file
// or a config center, upstreams from a registry, a read-only admin API on a listener of
// its own.
//
//	go install ./cmd/tianshu-gateway   # from a checkout; Go 1.26+
//	tianshu-gateway -config gateway.yaml -listen :8080 -admin 127.0.0.1:9901
//	tianshu-gateway -config gateway.yaml -listen :8443 -tls-cert cert.pem -tls-key key.pem
//	tianshu-gateway -config etcd://127.0.0.1:2379/config/gateway.yaml \
//		-registry etcd://127.0.0.1:2379 -service gateway
//
// -config is a file path (or file:///path) or a config-center URL: etcd://host:2379/key,
// zookeeper://host:2181/path/to/node, nacos://host:8848/namespace?data_id=gateway.yaml,
// springconfig://host:8888/gateway?profile=prod (a Spring Cloud Config Server); see
// package config/configurl.
// The routes live under the key "gateway" of that document (see package gateway) and are
// followed: a valid change applies at once, an invalid one is logged and the routes in
// force stay.
//
// A route whose target transcodes REST/JSON to a gRPC service of -registry needs the
// service's descriptors, and this command links in no generated code: name a descriptor
// set file (transcode: {descriptorSet: /etc/gateway/shop.pb}, written by protoc
// --descriptor_set_out --include_imports) or have the gateway ask the service's instances
// by gRPC server reflection (transcode: {reflection: true}); see gateway.Transcode.
//
// The admin listener serves the read-only API (/routes, /upstreams), /healthz, /readyz and
// /metrics (Prometheus: http_server_request_duration_seconds by http_route, the route's
// path; http_client_request_duration_seconds by server_address, the upstream;
// rpc_client_call_duration_seconds by rpc_method, the gRPC calls of transcoding targets).
//
// SIGTERM or SIGINT drains the gateway: /readyz on the admin listener turns 503, the
// gateway's own instance (-service) leaves the registry, and after -deregister-delay (for
// load balancers and consumers to notice) the listener stops accepting; requests in flight
// finish within -grace, then connections still open are closed.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, nil)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tianshu-gateway:", err)
		os.Exit(1)
	}
}

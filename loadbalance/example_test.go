package loadbalance_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/loadbalance"
)

// The service config selecting the default balancer, for grpc.WithDefaultServiceConfig.
func ExampleServiceConfig() {
	fmt.Println(loadbalance.ServiceConfig(loadbalance.Default))
	// Output: {"loadBalancingConfig":[{"tianshu_p2c":{}}]}
}

// A consumer in zone eu-1 that only talks to version 2.1 and probes ejected endpoints after
// half a second.
func ExampleConfig_ServiceConfig() {
	cfg := loadbalance.Config{Version: "2.1", Zone: "eu-1", EjectBase: loadbalance.Duration(500 * time.Millisecond)}
	fmt.Println(cfg.ServiceConfig(loadbalance.RoundRobin))
	// Output: {"loadBalancingConfig":[{"tianshu_round_robin":{"version":"2.1","zone":"eu-1","ejectBase":"500ms"}}]}
}

// A bad config is refused with the field named; grpc.NewClient returns the same error.
func ExampleParseConfig() {
	_, err := loadbalance.ParseConfig([]byte(`{"probeAfter":"soon"}`))
	fmt.Println(err)
	// Output: loadbalance: invalid config: probeAfter: "soon" is not a positive duration such as "1s"
}

// Canary routing: calls from this context go to instances tagged canary when there are any.
// Metadata does the same and also travels to downstream services.
func ExampleWithTag() {
	ctx := loadbalance.WithTag(context.Background(), "canary")
	_ = ctx // pass to a stub: client.GetOrder(ctx, req)

	ctx = metadata.AppendToOutgoingContext(context.Background(), loadbalance.TagHeader, "canary")
	_ = ctx
}

// With the consistent-hash balancer, calls carrying the same key reach the same instance.
func ExampleWithHashKey() {
	ctx := loadbalance.WithHashKey(context.Background(), "user-42")
	_ = ctx // pass to a stub: client.GetCart(ctx, req)
}

// The package doc's shortest use: a balancer chosen by service config over a target grpc's
// DNS resolver knows.
func Example() {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	defer srv.Stop()

	conn, err := grpc.NewClient(lis.Addr().String(), // "orders.internal:8080" in the doc
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(loadbalance.ServiceConfig(loadbalance.P2C)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(resp.GetStatus())
	// Output: SERVING
}

package rpc_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
)

func TestTheBalancerLogsThroughTheDialLogger(t *testing.T) {
	reg := newRegistry(t)
	in := &registry.Instance{ID: "old", Service: "orders", Version: "1.0",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 1}}}
	if err := reg.Register(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	var out testenv.Buffer
	conn, err := rpc.Dial(context.Background(), "tianshu:///orders", rpc.WithDiscovery(reg),
		rpc.WithRouting(loadbalance.Config{Version: "2.0"}), rpc.WithoutClientTelemetry(),
		rpc.WithDialLogger(slog.New(slog.NewTextHandler(&out, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Connect()
	// The version filter leaves no instance, which the balancer warns about.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "no instance passes the version filter") {
		if time.Now().After(deadline) {
			t.Fatalf("the balancer's warning did not reach rpc.WithDialLogger's logger within 10s; it holds %q", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

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

// A service answering gRPC and HTTP registers an HTTP-only instance beside its gRPC one: a
// gRPC client skips it quietly, while an instance it cannot call for another reason (here
// TLS only, to a plaintext client) is still a warning.
func TestTheHTTPInstancesOfAServiceAreSkippedWithoutAWarning(t *testing.T) {
	reg := newRegistry(t)
	for id, scheme := range map[string]string{"web": "http", "tls": "grpcs"} {
		in := &registry.Instance{ID: id, Service: "orders",
			Endpoints: []registry.Endpoint{{Scheme: scheme, Host: "127.0.0.1", Port: 1}}}
		if err := reg.Register(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	var out testenv.Buffer
	conn, err := rpc.Dial(context.Background(), "tianshu:///orders", rpc.WithDiscovery(reg), rpc.WithoutClientTelemetry(),
		rpc.WithDialLogger(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Connect()
	want := []string{"level=DEBUG msg=\"skipping an instance with no endpoint this client speaks\" service=orders instance=web",
		"level=WARN msg=\"skipping an instance with no endpoint this client speaks\" service=orders instance=tls"}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), want[0]) || !strings.Contains(out.String(), want[1]) {
		if time.Now().After(deadline) {
			t.Fatalf("the dial logger holds %q within 10s, want the lines\n%s", out.String(), strings.Join(want, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package rpc_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
)

// lockedBuffer is a log destination the test can read while the connection writes.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestTheBalancerLogsThroughTheDialLogger(t *testing.T) {
	reg := newRegistry(t)
	in := &registry.Instance{ID: "old", Service: "orders", Version: "1.0",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 1}}}
	if err := reg.Register(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	var out lockedBuffer
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

package rpc_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
)

// delayingRegistry stands for a backend whose consumers learn of a deregistration late, as
// Eureka's do, and which says how long a server should keep serving.
type delayingRegistry struct {
	*memory.Registry
	delay time.Duration
}

func (r delayingRegistry) DeregisterDelay() time.Duration { return r.delay }

// shutdownTook serves an echo provider through reg, waits for its registration, and
// returns how long Shutdown took.
func shutdownTook(t *testing.T, reg registry.Registrar, opts ...rpc.ServerOption) time.Duration {
	t.Helper()
	srv := rpc.NewServer(append([]rpc.ServerOption{rpc.WithService("echo"), rpc.WithInstanceID("a"),
		rpc.WithRegistrar(reg), rpc.WithServerLogger(discardLogger())}, opts...)...)
	testpb.RegisterEchoServer(srv, echo{id: "a"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	waitInstance(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	return time.Since(start)
}

// Without WithDeregisterDelay, a server waits as long as its backend asks, through the
// failover cache too; WithDeregisterDelay overrides it.
func TestTheBackendsDeregisterDelayIsTheDefault(t *testing.T) {
	const asked = rpc.DefaultDeregisterDelay + 500*time.Millisecond // beyond the default, to tell them apart
	reg := delayingRegistry{Registry: newRegistry(t), delay: asked}
	if took := shutdownTook(t, registry.NewFailover(reg)); took < asked {
		t.Errorf("Shutdown took %v; the backend asked for a %v pause after deregistering", took, asked)
	}
	forever := delayingRegistry{Registry: newRegistry(t), delay: time.Hour}
	if took := shutdownTook(t, forever, rpc.WithDeregisterDelay(0)); took > 20*time.Second {
		t.Errorf("Shutdown took %v with WithDeregisterDelay(0): the backend's hour was used", took)
	}
}

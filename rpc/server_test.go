package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
)

// underegistrable is a registry that registers but cannot deregister, as one that went
// down while the provider ran.
type underegistrable struct{ *memory.Registry }

func (underegistrable) Deregister(context.Context, *registry.Instance) error {
	return fmt.Errorf("underegistrable: %w", registry.ErrUnavailable)
}

// serveListed serves srv on a loopback port and waits until reg lists it.
func serveListed(t *testing.T, srv *rpc.Server, reg registry.Discovery, service string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("Serve = %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if list, _ := reg.GetService(context.Background(), service); len(list) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server was not listed in %s within 10 s", service)
		}
	}
}

func TestShutdownReturnsAFailedDeregistration(t *testing.T) {
	reg := underegistrable{newRegistry(t)}
	srv := rpc.NewServer(rpc.WithService("orders"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0), rpc.WithServerLogger(discardLogger()))
	serveListed(t, srv, reg, "orders")
	err := srv.Shutdown(context.Background())
	if !errors.Is(err, rpc.ErrDeregister) || !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("Shutdown = %v, want ErrDeregister wrapping the registry's ErrUnavailable", err)
	}
	if again := srv.Shutdown(context.Background()); again != err {
		t.Errorf("a second Shutdown = %v, want the first one's %v", again, err)
	}
}

func TestShutdownAfterTheRegistryClosedIsNoFailure(t *testing.T) {
	reg := memory.New()
	srv := rpc.NewServer(rpc.WithService("orders"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0), rpc.WithServerLogger(discardLogger()))
	serveListed(t, srv, reg, "orders")
	_ = reg.Close() // which deregisters what it registered
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after the registry's Close = %v, want nil", err)
	}
}

func TestDeregisterLeavesTheRegistryButKeepsServingUntilShutdown(t *testing.T) {
	reg := newRegistry(t)
	srv := rpc.NewServer(rpc.WithService("orders"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0), rpc.WithServerLogger(discardLogger()))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	waitListed(t, reg, "orders", 1)

	if err := srv.Deregister(context.Background()); err != nil {
		t.Fatalf("Deregister = %v", err)
	}
	if list, _ := reg.GetService(context.Background(), "orders"); len(list) != 0 {
		t.Errorf("after Deregister the registry lists %v, want none", list)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("a call after Deregister = %v, %v; want it served, answering NOT_SERVING", resp, err)
	}

	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown after Deregister = %v", err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve = %v", err)
	}
}

func TestShutdownAfterDeregisterReturnsItsError(t *testing.T) {
	reg := underegistrable{newRegistry(t)}
	srv := rpc.NewServer(rpc.WithService("orders"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0), rpc.WithServerLogger(discardLogger()))
	serveListed(t, srv, reg, "orders")
	err := srv.Deregister(context.Background())
	if !errors.Is(err, rpc.ErrDeregister) {
		t.Fatalf("Deregister = %v, want ErrDeregister", err)
	}
	if got := srv.Shutdown(context.Background()); got != err {
		t.Errorf("Shutdown after Deregister = %v, want Deregister's %v", got, err)
	}
}

// waitListed waits until reg lists n instances of service.
func waitListed(t *testing.T, reg registry.Discovery, service string, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if list, _ := reg.GetService(context.Background(), service); len(list) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d instances of %s were not listed within 10 s", n, service)
		}
	}
}

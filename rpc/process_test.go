package rpc_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/rpc"
)

// runProviderProcess serves an echo provider registered in the file registry at dir until
// SIGTERM; it is the body of the child processes below.
func runProviderProcess(dir, id string) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	reg, err := file.New(ctx, dir)
	if err != nil {
		panic(err)
	}
	defer reg.Close()
	srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithInstanceID(id), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(100*time.Millisecond))
	testpb.RegisterEchoServer(srv, echo{id: id})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	_ = srv.Serve(lis)
}

// startProviderProcess runs a provider in a child process and kills it at the end of the
// test if it still runs.
func startProviderProcess(t *testing.T, dir, id string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "RPC_TEST_PROVIDER_DIR="+dir, "RPC_TEST_PROVIDER_ID="+id)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func TestConsumerSeesAProviderProcessAppearAndAKilledOneDisappear(t *testing.T) {
	dir := t.TempDir()
	reg, err := file.New(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	w, err := reg.Watch(context.Background(), "echo")
	if err != nil {
		t.Fatal(err)
	}
	listed := registrytest.NewFollow(t, w)
	c := dial(t, reg, "echo")

	a := startProviderProcess(t, dir, "a")
	listed.Until(30*time.Second, "provider a", registrytest.HasIDs("a"))
	callUntil(t, c, "a", func(s map[string]int) bool { return s["a"] > 0 })

	startProviderProcess(t, dir, "b")
	listed.Until(30*time.Second, "providers a and b", registrytest.HasIDs("a", "b"))
	callUntil(t, c, "b, the second provider", func(s map[string]int) bool { return s["b"] > 0 })

	if err := a.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = a.Wait()
	killed := time.Now()
	listed.Until(30*time.Second, "only b after a was killed", registrytest.HasIDs("b"))
	t.Logf("the registry dropped the SIGKILLed provider after %v", time.Since(killed).Round(time.Millisecond))
	for i := range 20 {
		r, err := c.Echo(context.Background(), &testpb.EchoRequest{})
		if err != nil || r.ServedBy != "b" {
			t.Fatalf("call %d after a was killed and dropped = %v, %v; want b", i, r, err)
		}
	}
}

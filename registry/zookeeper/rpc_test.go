package zookeeper_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/rpc"
)

type echo struct {
	testpb.UnimplementedEchoServer
	id string
}

func (e echo) Echo(_ context.Context, req *testpb.EchoRequest) (*testpb.EchoReply, error) {
	return &testpb.EchoReply{Payload: req.Payload, ServedBy: e.id}, nil
}

func serveEcho(t *testing.T, reg registry.Registrar, service, id string) {
	t.Helper()
	srv := rpc.NewServer(rpc.WithService(service), rpc.WithInstanceID(id), rpc.WithRegistrar(reg),
		rpc.WithDeregisterDelay(100*time.Millisecond), rpc.WithServerLogger(testLogger(t)))
	testpb.RegisterEchoServer(srv, echo{id: id})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})
}

func TestConsumerKeepsCallingKnownProvidersWhileZooKeeperIsDown(t *testing.T) {
	if testing.Short() {
		t.Skip("kills and restarts a server")
	}
	srv := testenv.StartZooKeeper(t)
	svc := registrytest.ServiceName(t)
	provReg := open(t, srv.Addr)
	serveEcho(t, provReg, svc, "a")
	serveEcho(t, provReg, svc, "b")

	consReg := registry.NewFailover(open(t, srv.Addr), registry.WithFailoverLogger(testLogger(t)))
	conn, err := rpc.Dial(ctxFor(t), "tianshu:///"+svc, rpc.WithDiscovery(consReg), rpc.WithDialLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := testpb.NewEchoClient(conn)
	seen := map[string]bool{}
	eventually(t, 20*time.Second, "calls served by a and b", func() bool {
		r, err := client.Echo(ctxFor(t), &testpb.EchoRequest{}, grpc.WaitForReady(true))
		if err == nil {
			seen[r.ServedBy] = true
		}
		return seen["a"] && seen["b"]
	})

	var calls, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, err := client.Echo(ctx, &testpb.EchoRequest{})
				cancel()
				calls.Add(1)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	srv.Kill()
	// Down for longer than the session timeout: the sessions are gone for the server too.
	time.Sleep(testSessionTimeout + time.Second)
	duringOutage := calls.Load()
	srv.Start(t)
	eventually(t, 30*time.Second, "both Registries healthy again", func() bool {
		return provReg.Healthy() && consReg.Healthy()
	})
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed while ZooKeeper was down; first: %v", failed.Load(), calls.Load(), firstErr.Load())
	}
	list, err := consReg.GetService(ctxFor(t), svc)
	if err != nil || len(list) != 2 {
		t.Fatalf("after the outage GetService = %s, %v; want a and b", registrytest.IDs(list), err)
	}
	t.Logf("%d calls, none failed (%d by the end of the outage)", calls.Load(), duringOutage)
}

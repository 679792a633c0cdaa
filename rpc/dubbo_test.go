package rpc_test

import (
	"context"
	"fmt"
	"net"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
)

// tripleEcho answers with its ID and the Triple headers it received.
type tripleEcho struct {
	testpb.UnimplementedEchoServer
	id string
}

func (e tripleEcho) Echo(ctx context.Context, _ *testpb.EchoRequest) (*testpb.EchoReply, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	return &testpb.EchoReply{ServedBy: fmt.Sprintf("%s %v %v", e.id, md.Get(rpc.TripleGroupHeader), md.Get(rpc.TripleVersionHeader))}, nil
}

func TestWithDubboCallsOnlyItsGroupAndVersionAndSendsTheTripleHeaders(t *testing.T) {
	reg := newRegistry(t)
	for _, p := range []struct{ id, group, version string }{
		{"blue-1", "blue", "1.0.0"}, {"blue-2", "blue", "2.0.0"}, {"green-1", "green", "1.0.0"},
	} {
		srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithInstanceID(p.id), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0),
			rpc.WithVersion(p.version), rpc.WithMetadata(map[string]string{"group": p.group}))
		testpb.RegisterEchoServer(srv, tripleEcho{id: p.id})
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		go srv.Serve(lis)
		t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	}
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithDubbo("blue", "1.0.0"), rpc.WithWaitReady())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := testpb.NewEchoClient(conn)
	for i := range 10 {
		r, err := c.Echo(context.Background(), &testpb.EchoRequest{})
		if err != nil || r.ServedBy != "blue-1 [blue] [1.0.0]" {
			t.Fatalf("call %d = %v, %v; want blue-1 with the blue and 1.0.0 headers", i, r, err)
		}
	}
}

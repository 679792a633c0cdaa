package rpc_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
)

// A provider registers itself once it serves; a consumer dials the service by name and
// gets a plain *grpc.ClientConn.
func Example() {
	ctx := context.Background()
	reg := memory.New() // registry/file, or registry.Open(ctx, "zookeeper://..."), in a real deployment
	defer reg.Close()

	srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithInstanceID("echo-1"), rpc.WithRegistrar(reg),
		rpc.WithDeregisterDelay(10*time.Millisecond), rpc.WithServerLogger(discardLogger()))
	testpb.RegisterEchoServer(srv, echo{id: "echo-1"})
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	go srv.Serve(lis)
	defer srv.Shutdown(ctx)

	conn, err := rpc.Dial(ctx, "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithWaitReady())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	reply, err := testpb.NewEchoClient(conn).Echo(ctx, &testpb.EchoRequest{Payload: []byte("hi")})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s from %s\n", reply.Payload, reply.ServedBy)
	// Output: hi from echo-1
}

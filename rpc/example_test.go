package rpc_test

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rules"
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

// The consumer follows the governance rules of a store: taking an instance out of traffic
// sends the next calls elsewhere, over the connections the channel has.
func ExampleWithRules() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	for _, id := range []string{"echo-1", "echo-2"} {
		srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithInstanceID(id), rpc.WithRegistrar(reg),
			rpc.WithDeregisterDelay(10*time.Millisecond), rpc.WithServerLogger(discardLogger()))
		testpb.RegisterEchoServer(srv, echo{id: id})
		lis, _ := net.Listen("tcp", "127.0.0.1:0")
		go srv.Serve(lis)
		defer srv.Shutdown(ctx)
	}

	// rules.Watch keeps a store current from a config source; a fixed one will do here.
	store, err := rules.NewStore(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	conn, err := rpc.Dial(ctx, "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithRules(store))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	client := testpb.NewEchoClient(conn)

	err = store.Set(&rules.Rules{Services: map[string]rules.Service{
		"echo": {Instances: []rules.Instance{{ID: "echo-1", Out: true}}},
	}})
	if err != nil {
		fmt.Println(err)
		return
	}
	served := map[string]int{}
	for range 10 {
		reply, err := client.Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
		if err != nil {
			fmt.Println(err)
			return
		}
		served[reply.ServedBy]++
	}
	fmt.Println(served)
	// Output: map[echo-2:10]
}

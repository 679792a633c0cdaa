package tianshu_test

import (
	"context"
	"fmt"
	"net"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
)

// An App serves a registered server until its context ends or SIGINT/SIGTERM arrives, then
// deregisters, drains and closes the registry.
func Example() {
	reg := memory.New()
	srv := rpc.NewServer(rpc.WithService("greeter"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0))
	// Register your gRPC services on srv here, as on any *grpc.Server.

	ctx, stop := context.WithCancel(context.Background())
	app := tianshu.New(
		tianshu.WithServer(srv, "127.0.0.1:0"),
		tianshu.WithCloser(reg),
		tianshu.WithStarted(func([]net.Addr) {
			w, _ := reg.Watch(ctx, "greeter")
			for list, _ := w.Next(); len(list) == 0; list, _ = w.Next() {
			}
			_ = w.Stop()
			fmt.Println("greeter registered")
			stop() // a real service waits for a signal instead
		}),
	)
	fmt.Println("stopped:", app.Run(ctx))
	// Output:
	// greeter registered
	// stopped: <nil>
}

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

// step is a Component that says what the App asks of it; Serve is left silent because
// components serve concurrently.
type step struct {
	name string
	stop chan struct{}
}

func (s *step) Listen(context.Context) (net.Addr, error) {
	fmt.Println("listen", s.name)
	return nil, nil // no address: nothing to listen on
}

func (s *step) Serve() error { <-s.stop; return nil }

func (s *step) Shutdown(context.Context) error {
	fmt.Println("shut down", s.name)
	close(s.stop)
	return nil
}

// announcedStep registers itself somewhere, so it withdraws before anything shuts down.
type announcedStep struct{ *step }

func (s announcedStep) Deregister(context.Context) error {
	fmt.Println("deregister", s.name)
	return nil
}

// Components listen in the order of their options, then serve; at the end those that
// announce themselves withdraw, the components shut down in reverse order, and the
// closers run.
func ExampleWithComponent() {
	ctx, stop := context.WithCancel(context.Background())
	app := tianshu.New(
		tianshu.WithComponent(&step{"admin", make(chan struct{})}),
		tianshu.WithComponent(announcedStep{&step{"grpc", make(chan struct{})}}),
		tianshu.WithCloser(closer(func() error { fmt.Println("close registry"); return nil })),
		tianshu.WithSignals(),
		tianshu.WithStarted(func([]net.Addr) { stop() }),
	)
	fmt.Println("stopped:", app.Run(ctx))
	// Output:
	// listen admin
	// listen grpc
	// deregister grpc
	// shut down grpc
	// shut down admin
	// close registry
	// stopped: <nil>
}

type closer func() error

func (c closer) Close() error { return c() }

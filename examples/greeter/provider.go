package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/examples/greeter/greeterpb"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/rpc"
)

// greeter is an ordinary gRPC service implementation.
type greeter struct {
	greeterpb.UnimplementedGreeterServer
	id string
}

func (g greeter) SayHello(ctx context.Context, req *greeterpb.HelloRequest) (*greeterpb.HelloReply, error) {
	return &greeterpb.HelloReply{Message: "Hello, " + req.Name + "!", ServedBy: g.id}, nil
}

// runProvider serves the Greeter on a free loopback port, announced in the file registry,
// until ctx ends.
func runProvider(ctx context.Context, dir, id string, log *slog.Logger) error {
	if id == "" {
		return fmt.Errorf("-id is required for -role provider")
	}
	reg, err := file.New(ctx, dir, file.WithLogger(log))
	if err != nil {
		return err
	}
	srv := rpc.NewServer(
		rpc.WithService("greeter"),
		rpc.WithInstanceID(id),
		rpc.WithRegistrar(reg),
		rpc.WithDeregisterDelay(500*time.Millisecond),
		rpc.WithServerLogger(log),
	)
	greeterpb.RegisterGreeterServer(srv, greeter{id: id})
	app := tianshu.New(
		tianshu.WithServer(srv, "127.0.0.1:0"),
		tianshu.WithCloser(reg),
		tianshu.WithLogger(log),
	)
	return app.Run(ctx)
}

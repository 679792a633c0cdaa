package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/examples/greeter/greeterpb"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/rpc"
)

// runConsumer calls the Greeter every interval, calls times (0: until ctx ends), printing
// who answered. before, if set, runs before call i (the demo kills a provider from there).
func runConsumer(ctx context.Context, out io.Writer, dir string, calls int, interval time.Duration, before func(i int)) error {
	reg, err := file.New(ctx, dir, file.WithLogger(logger(out)))
	if err != nil {
		return err
	}
	defer reg.Close()
	conn, err := rpc.Dial(ctx, "tianshu:///greeter", rpc.WithDiscovery(reg))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := greeterpb.NewGreeterClient(conn)

	// Print what the registry lists whenever it changes, to show a crashed provider leaving.
	w, err := reg.Watch(ctx, "greeter")
	if err != nil {
		return err
	}
	watched := make(chan struct{})
	defer func() { _ = w.Stop(); <-watched }()
	go func() {
		defer close(watched)
		for {
			list, err := w.Next()
			if err != nil {
				return
			}
			ids := make([]string, len(list))
			for i, in := range list {
				ids[i] = in.ID
			}
			fmt.Fprintf(out, "registry lists: %v\n", ids)
		}
	}()

	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 1; calls == 0 || i <= calls; i++ {
		if before != nil {
			before(i)
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		// WaitForReady: the first calls wait for a provider to register instead of failing.
		r, err := client.SayHello(cctx, &greeterpb.HelloRequest{Name: "Tianshu"}, grpc.WaitForReady(true))
		cancel()
		if err != nil {
			fmt.Fprintf(out, "call %2d: failed: %v\n", i, err)
		} else {
			fmt.Fprintf(out, "call %2d: %s (served by %s)\n", i, r.Message, r.ServedBy)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
	return nil
}

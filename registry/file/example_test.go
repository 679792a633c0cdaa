package file_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/file"
)

func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "tianshu-example-")
	defer os.RemoveAll(dir)

	// A provider and a consumer, as two processes on one host would open the directory.
	provider, err := file.New(ctx, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	consumer, err := file.New(ctx, dir)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer consumer.Close()

	w, _ := consumer.Watch(ctx, "orders")
	defer w.Stop()
	list, _ := w.Next()
	fmt.Println("before:", len(list), "instances")

	_ = provider.Register(ctx, &registry.Instance{
		ID: "orders-1", Service: "orders",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}},
	})
	list, _ = w.Next()
	fmt.Println("registered:", list[0].ID, list[0].Endpoints[0])

	_ = provider.Close() // deregisters orders-1
	list, _ = w.Next()
	fmt.Println("after Close:", len(list), "instances")
	// Output:
	// before: 0 instances
	// registered: orders-1 grpc://127.0.0.1:9000
	// after Close: 0 instances
}

func Example_open() {
	dir, _ := os.MkdirTemp("", "tianshu-example-")
	defer os.RemoveAll(dir)

	// The form a configuration file carries; the blank import of registry/file adds it.
	reg, err := registry.Open(context.Background(), "file://"+dir+"?ttl=3s&heartbeat=1s")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	list, err := reg.GetService(context.Background(), "orders")
	fmt.Println(len(list), err)
	// Output: 0 <nil>
}

package registry_test

import (
	"context"
	"fmt"
	"os"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
)

// A watcher's first Next returns the current list at once; later calls return full lists
// as they change.
func ExampleWatcher() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	w, _ := reg.Watch(ctx, "orders")
	defer w.Stop()

	list, _ := w.Next()
	fmt.Println("at start:", len(list), "instances")
	_ = reg.Register(ctx, &registry.Instance{ID: "orders-1", Service: "orders",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}}})
	list, _ = w.Next()
	fmt.Println("then:", list[0].ID, list[0].Endpoints[0])
	// Output:
	// at start: 0 instances
	// then: orders-1 grpc://127.0.0.1:9000
}

// NewFailover keeps consumers working through a registry outage: with a cache directory,
// even a process started during the outage finds the instances last seen.
func ExampleNewFailover() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "failover")
	defer os.RemoveAll(dir)
	backend := memory.New()
	defer backend.Close()

	reg := registry.NewFailover(backend, registry.WithCacheDir(dir))
	_ = reg.Register(ctx, &registry.Instance{ID: "orders-1", Service: "orders",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}}})
	list, _ := reg.GetService(ctx, "orders") // a good list: remembered in memory and on disk
	fmt.Println(len(list), "instance cached under", "orders.json")
	// Output: 1 instance cached under orders.json
}

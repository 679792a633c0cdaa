package zookeeper_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

// A provider and a consumer of one ZooKeeper, as two processes would use it. The example
// needs a server on 127.0.0.1:2181, so it is compiled but not run by go test.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	provider, err := zookeeper.New(ctx, []string{"127.0.0.1:2181"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer provider.Close()
	consumer, err := zookeeper.New(ctx, []string{"127.0.0.1:2181"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer consumer.Close()

	w, err := consumer.Watch(ctx, "orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Stop()
	list, _ := w.Next() // the current list, at once
	fmt.Println(len(list), "instances")

	_ = provider.Register(ctx, &registry.Instance{
		ID: "orders-1", Service: "orders",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}},
	})
	list, _ = w.Next()
	fmt.Println(list[0].ID, list[0].Endpoints[0])
}

// The form a configuration file carries: Dubbo's layout, with digest credentials.
func Example_open() {
	reg, err := registry.Open(context.Background(),
		"zookeeper://127.0.0.1:2181/dubbo?layout=dubbo&session_timeout=10s&user=ops&password=secret")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
}

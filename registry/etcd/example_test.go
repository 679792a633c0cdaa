package etcd_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
)

// Examples here need a running etcd, so they are compiled but not run; the package's tests
// run the same calls against a real server.

func Example() {
	ctx := context.Background()
	reg, err := etcd.New(ctx, []string{"127.0.0.1:2379"}, etcd.WithTTL(10*time.Second))
	if err != nil {
		fmt.Println(err) // etcd.ErrAuth for bad credentials; a server that is down is no error
		return
	}
	defer reg.Close()
	_ = reg.Register(ctx, &registry.Instance{
		ID: "orders-1", Service: "orders",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}},
	})
	w, _ := reg.Watch(ctx, "orders")
	defer w.Stop()
	list, _ := w.Next() // [orders-1]
	fmt.Println(len(list))
}

package zookeeper_test

import (
	"context"
	"fmt"
	"time"

	"github.com/tianshu-go/tianshu/config"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

// A service's configuration in a ZooKeeper node, read through the session its Registry
// keeps.
func ExampleNode() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := zookeeper.New(ctx, []string{"127.0.0.1:2181"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	src, err := zkconfig.Node(reg, "/config/orders/app.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	cfg, err := config.New(ctx, []config.Source{src})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cfg.Close()
	fmt.Println(cfg.Get("db.host"))
}

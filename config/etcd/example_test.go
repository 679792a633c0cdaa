package etcd_test

import (
	"context"
	"fmt"

	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/registry/etcd"
)

// A source that shares a Registry's connection.
func ExampleNew() {
	ctx := context.Background()
	reg, err := etcd.New(ctx, []string{"127.0.0.1:2379"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	// One document at a key; a key ending in "/" makes every key under it a document.
	src, err := etcdconfig.New(reg.Client(), "/config/orders.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	docs, err := src.Load(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range docs {
		fmt.Printf("%s: %s\n", d.Name, d.Data)
	}
}

// A source with a connection of its own, made with the registry's options.
func ExampleNew_dial() {
	ctx := context.Background()
	cli, err := etcd.Dial(ctx, []string{"127.0.0.1:2379"}, etcd.WithAuth("orders", "secret"))
	if err != nil {
		fmt.Println(err)
		return
	}
	src, err := etcdconfig.New(cli, "/config/orders/", etcdconfig.CloseClient())
	if err != nil {
		_ = cli.Close()
		fmt.Println(err)
		return
	}
	defer src.Close()
}

package zookeeper_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
	"github.com/tianshu-go/tianshu/rpc"
)

// A Tianshu provider that Java Dubbo 3 consumers find in any migration step: the Dubbo
// layout registers it at interface and application level (register mode all, the default),
// and the rpc.Server, whose registrar is the Registry, serves the metadata Dubbo consumers
// ask it for. The example needs a server on 127.0.0.1:2181, so it is compiled but not run.
func ExampleWithRegisterMode() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg, err := zookeeper.New(ctx, []string{"127.0.0.1:2181"},
		zookeeper.WithLayout(zookeeper.LayoutDubbo),
		zookeeper.WithDubboPublish(dubbo.Publish{Application: "greeter"}),
		zookeeper.WithRegisterMode(dubbo.RegisterAll))
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Close()
	srv := rpc.NewServer(rpc.WithService("greeter.v1.Greeter"), rpc.WithRegistrar(reg),
		rpc.WithVersion("1.0.0"), rpc.WithMetadata(map[string]string{"group": "prod"}))
	// greeterpb.RegisterGreeterServer(srv, ...)
	lis, err := net.Listen("tcp", "127.0.0.1:50051")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(reg.DubboApplicationLevel())
	_ = srv.Serve(lis)
}

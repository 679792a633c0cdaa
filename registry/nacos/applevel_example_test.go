package nacos_test

import (
	"context"
	"fmt"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry/nacos"
)

// With Dubbo's naming, providers register at application level too unless told otherwise;
// rpc.NewServer then serves their metadata (see the zookeeper package's example).
func ExampleWithRegisterMode() {
	reg, err := nacos.New(context.Background(), []string{"127.0.0.1:8848"},
		nacos.WithDubboNaming("1.0.0", "prod"), nacos.WithApplication("greeter"),
		nacos.WithRegisterMode(dubbo.RegisterInterface))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	fmt.Println(reg.DubboApplicationLevel())
	// Output: false
}

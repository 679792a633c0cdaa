package nacos_test

import (
	"context"
	"fmt"
	"net/url"

	"github.com/tianshu-go/tianshu/registry/nacos"
)

// ParseURL reads the URL registry.Open takes; the server needs not be running.
func ExampleParseURL() {
	u, _ := url.Parse("nacos://127.0.0.1:8848/dev?group=orders&cluster=east&cache_dir=/var/cache/app")
	servers, opts, err := nacos.ParseURL(u)
	fmt.Println(servers, len(opts), err)
	// Output: [127.0.0.1:8848] 4 <nil>
}

// DubboServiceName is the name a Dubbo provider of an interface has in Nacos.
func ExampleDubboServiceName() {
	fmt.Println(nacos.DubboServiceName("greeter.v1.Greeter", "1.0.0", ""))
	// Output: providers:greeter.v1.Greeter:1.0.0:
}

// A Registry starts without waiting for the server; a wrong address is reported at once.
func ExampleNew() {
	_, err := nacos.New(context.Background(), []string{"127.0.0.1"})
	fmt.Println(err != nil)
	// Output: true
}

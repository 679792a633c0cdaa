package nacos_test

import (
	"context"
	"fmt"

	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
)

// A dataId is named with its extension, so that the Config knows how to decode it; a wrong
// server address is reported at once.
func ExampleNew() {
	_, err := nacosconfig.New(context.Background(), []string{"127.0.0.1"}, []string{"orders.yaml"},
		nacosconfig.WithGroup("orders"))
	fmt.Println(err != nil)
	// Output: true
}

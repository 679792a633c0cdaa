package gen_test

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/gen"
)

func ExampleRender() {
	files, err := gen.Render(gen.Options{Name: "orders", Module: "example.com/orders", Registry: "etcd"})
	if err != nil {
		fmt.Println(err)
		return
	}
	var names []string
	for name := range files {
		if strings.HasPrefix(name, "deploy/") || strings.HasSuffix(name, ".proto") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	fmt.Println(strings.Join(names, "\n"))
	// Output:
	// deploy/k8s/configmap.yaml
	// deploy/k8s/deployment.yaml
	// deploy/k8s/service.yaml
	// orderspb/orders.proto
}

func ExampleOptions_Validate() {
	err := gen.Options{Name: "Order_Service"}.Validate()
	fmt.Println(err)
	// Output:
	// invalid service name "Order_Service": use lower-case letters, digits and single hyphens, starting with a letter, at most 40 characters (e.g. orders, order-history)
}

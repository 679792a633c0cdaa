// Command gateway is the shop demo's HTTP gateway: a JSON API (POST /orders, GET /orders, GET
// /status) in front of the orders service, served by a rest.Server that registers it as
// service "gateway" with an http endpoint, so that a rest.Client reaches every instance as
// http://gateway/.
//
// It reads its config file (-config, default gateway.yaml) and SHOP_* environment variables,
// which override the file (SHOP_REGISTRY, SHOP_TRACING__ENDPOINT). Run a second instance by
// starting it again with another -id. From the repository root:
//
//	go run ./examples/shop/gateway -config examples/shop/config/gateway.yaml -id gateway-1
//
// go run ./examples/shop starts every service of the demo at once.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tianshu-go/tianshu/examples/shop/internal/gateway"
)

func main() {
	if err := gateway.Main(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

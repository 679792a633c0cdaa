// Command api is the shop demo's JSON API (POST /orders, GET /orders, GET /status) in front
// of the orders service, served by a rest.Server that registers it as service "shop-api"
// with an http endpoint. The shop's front door (examples/shop/gateway, Tianshu's gateway)
// routes to it by that name.
//
// It reads its config file (-config, default shop-api.yaml) and SHOP_* environment
// variables, which override the file (SHOP_REGISTRY, SHOP_API__SERVICE). Run a canary by
// starting another instance under its own service name and version:
//
//	go run ./examples/shop/api -config examples/shop/config/shop-api.yaml -id shop-api-v1
//	SHOP_API__SERVICE=shop-api-canary SHOP_API__VERSION=v2 \
//		go run ./examples/shop/api -config examples/shop/config/shop-api.yaml -id shop-api-v2
//
// go run ./examples/shop starts every service of the demo at once.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
)

func main() {
	if err := api.Main(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "shop-api:", err)
		os.Exit(1)
	}
}

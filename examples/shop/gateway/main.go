// Command gateway is the shop demo's front door: Tianshu's API gateway (package gateway),
// routing the shop's paths to the JSON API (service shop-api, and its canary) by the
// routes in its config file, which it follows while it runs. It registers as service
// "gateway" with an http endpoint, so that a rest.Client reaches every instance as
// http://gateway/, and serves the gateway's admin API (/routes, /upstreams) and /metrics on
// its admin address.
//
// It reads its config file (-config, default gateway.yaml) and SHOP_* environment variables,
// which override the file's settings outside the routes (SHOP_REGISTRY, SHOP_FRONT__HTTP).
// From the repository root:
//
//	go run ./examples/shop/gateway -config examples/shop/config/gateway.yaml -id gateway-1
//
// go run ./examples/shop starts every service of the demo at once.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tianshu-go/tianshu/examples/shop/internal/front"
)

func main() {
	if err := front.Main(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

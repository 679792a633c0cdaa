// Command orders is the shop demo's orders service: it reserves stock at inventory and charges
// at payment, behind a circuit breaker whose fallback accepts the order with payment pending.
//
// It reads its config file (-config, default orders.yaml) and SHOP_* environment variables,
// which override the file (SHOP_REGISTRY, SHOP_TRACING__ENDPOINT). Run a second instance by
// starting it again with another -id. From the repository root:
//
//	go run ./examples/shop/orders -config examples/shop/config/orders.yaml -id orders-1
//
// go run ./examples/shop starts every service of the demo at once.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tianshu-go/tianshu/examples/shop/internal/orders"
)

func main() {
	if err := orders.Main(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "orders:", err)
		os.Exit(1)
	}
}

// Command inventory is the shop demo's inventory service: prices and stock.
//
// It reads its config file (-config, default inventory.yaml) and SHOP_* environment variables,
// which override the file (SHOP_REGISTRY, SHOP_TRACING__ENDPOINT). Run a second instance by
// starting it again with another -id. From the repository root:
//
//	go run ./examples/shop/inventory -config examples/shop/config/inventory.yaml -id inventory-1
//
// go run ./examples/shop starts every service of the demo at once.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tianshu-go/tianshu/examples/shop/internal/inventory"
)

func main() {
	if err := inventory.Main(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "inventory:", err)
		os.Exit(1)
	}
}

// Command payment is the shop demo's payment service, whose latency and failure rate are
// config values that reload without a restart.
//
// It reads its config file (-config, default payment.yaml) and SHOP_* environment variables,
// which override the file (SHOP_REGISTRY, SHOP_TRACING__ENDPOINT). Run a second instance by
// starting it again with another -id. From the repository root:
//
//	go run ./examples/shop/payment -config examples/shop/config/payment.yaml -id payment-1
//
// go run ./examples/shop starts every service of the demo at once.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/tianshu-go/tianshu/examples/shop/internal/payment"
)

func main() {
	if err := payment.Main(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "payment:", err)
		os.Exit(1)
	}
}

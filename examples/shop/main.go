// Command shop is Tianshu's end-to-end demo: two front doors (Tianshu's API gateway, package
// gateway), the shop's JSON API and its canary behind them, an orders service, two
// inventory and two payment instances, each a process of its own, finding each other
// through the embedded file registry with no server to install. The demo's own traffic
// calls the front doors by service name, http://gateway/orders, through a rest.Client.
//
//	go run ./examples/shop          # start everything, send traffic, print a line a second
//	go run ./examples/shop -tour    # the same, plus a scripted tour of what Tianshu does
//
// The gateway's URL is printed at start; try
//
//	curl -s -XPOST localhost:8080/orders -d '{"item":"tea","quantity":2}'
//	curl -s localhost:8080/orders
//
// Ctrl-C stops every process the demo started. The tour adds a route to the front door's
// config file and splits orders 10%/90% to the API's canary (hot reload of the routes),
// makes payment slow and failing by editing its config file, watches the breaker in orders
// open and orders fall back to "payment pending", restores the config, and kills an
// inventory instance with SIGKILL. Each service is also a command of its own
// (examples/shop/gateway, api, orders, inventory, payment) that runs against ZooKeeper, etcd
// or Nacos and exports traces to Jaeger by config alone: see README.md and compose.yaml.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
	"github.com/tianshu-go/tianshu/examples/shop/internal/front"
	"github.com/tianshu-go/tianshu/examples/shop/internal/inventory"
	"github.com/tianshu-go/tianshu/examples/shop/internal/orders"
	"github.com/tianshu-go/tianshu/examples/shop/internal/payment"
)

// serviceMain returns the program of a service. The demo re-runs its own binary with
// -service, so one build serves for all; each service also has a main package of its own.
func serviceMain(name string) (func(context.Context, []string) error, bool) {
	switch name {
	case front.Service:
		return front.Main, true
	case api.Service:
		return api.Main, true
	case "orders":
		return orders.Main, true
	case "inventory":
		return inventory.Main, true
	case "payment":
		return payment.Main, true
	}
	return nil, false
}

func main() {
	service := flag.String("service", "", "run one service (gateway, shop-api, orders, inventory, payment) instead of the demo; the demo passes this to its children")
	cfgPath := flag.String("config", "", "with -service: the service's config file")
	id := flag.String("id", "", "with -service: the instance ID")
	tour := flag.Bool("tour", false, "run the scripted tour, then stop")
	httpAddr := flag.String("http", "127.0.0.1:8080", "the front door gateway-1's address (port 0 picks a free port); gateway-2 takes a free port")
	rate := flag.Int("rate", 20, "orders per second the demo sends (0: none, use curl)")
	dir := flag.String("dir", "", "directory for the registry, config files and logs (default: a new temporary directory, removed at exit)")
	verbose := flag.Bool("v", false, "copy the services' logs to stderr")
	reg := flag.String("registry", "", "the services' registry URL, e.g. etcd://127.0.0.1:2379/shop (default: the embedded file registry in -dir)")
	otlp := flag.String("otlp", "", "export every service's spans to this OTLP/gRPC collector, e.g. http://127.0.0.1:4317 (Jaeger)")
	flag.Parse()

	if *service != "" {
		run, ok := serviceMain(*service)
		if !ok {
			fmt.Fprintf(os.Stderr, "shop: unknown -service %q: want gateway, shop-api, orders, inventory or payment\n", *service)
			os.Exit(2)
		}
		if err := run(context.Background(), []string{"-config", *cfgPath, "-id", *id}); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", *service, err)
			os.Exit(1)
		}
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := demoOptions{dir: *dir, registry: *reg, http: *httpAddr, rate: *rate, tour: *tour, every: time.Second}
	if *otlp != "" {
		opts.env = append(opts.env, "SHOP_TRACING__ENDPOINT="+*otlp)
	}
	if *verbose {
		opts.logs = os.Stderr
	}
	_, err := runDemo(ctx, os.Stdout, opts)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

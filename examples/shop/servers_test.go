package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// The same services on etcd with traces in Jaeger, by changing configuration only (the
// registry URL and the OTLP endpoint, here through SHOP_* environment variables).
func TestTheTourRunsOnEtcdAndTracesReachJaeger(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	jaeger := testenv.StartJaeger(t)

	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := runDemo(ctx, &out, demoOptions{
		dir: t.TempDir(), registry: "etcd://" + etcd.Addr + "/shop", http: "127.0.0.1:0", rate: 25, tour: true,
		exe: os.Args[0], env: []string{"SHOP_DEMO_TEST_CHILD=1", "SHOP_TRACING__ENDPOINT=" + jaeger.OTLPGRPC},
	})
	if err != nil {
		t.Fatalf("the tour on etcd failed: %v\n%s", err, out.String())
	}
	if rep.Steady.Failed != 0 {
		t.Errorf("%d orders failed under steady traffic on etcd:\n%s", rep.Steady.Failed, out.String())
	}
	if !strings.Contains(out.String(), "etcd://") {
		t.Errorf("the demo did not say it used etcd:\n%s", out.String())
	}

	// One trace holds the front door's request (the gateway's server span, then its client
	// span upstream), shop-api's (rest.Server's span, named after its route), orders, and
	// orders' calls to inventory and payment: the front door starts the trace and every hop
	// joins it.
	deadline := time.Now().Add(30 * time.Second)
	var last []string
	for {
		traces, err := jaeger.Traces(ctx, "orders")
		if err == nil {
			for _, tr := range traces {
				seen := map[string]bool{}
				var ops []string
				for _, s := range tr.Spans {
					seen[tr.Service(s)] = true
					ops = append(ops, tr.Service(s)+": "+s.OperationName)
					if tr.Service(s) == "shop-api" && s.OperationName == "POST /orders" {
						seen["POST /orders"] = true
					}
				}
				if seen["gateway"] && seen["POST /orders"] && seen["orders"] && seen["inventory"] && seen["payment"] {
					return
				}
				last = ops
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger never held a trace from the front door through shop-api's POST /orders, orders, inventory and payment (last error %v); a trace's spans: %q", err, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

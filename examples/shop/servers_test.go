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
		t.Errorf("%d orders failed under steady traffic on etcd", rep.Steady.Failed)
	}
	if !strings.Contains(out.String(), "etcd://") {
		t.Errorf("the demo did not say it used etcd:\n%s", out.String())
	}

	// One trace holds the gateway's HTTP request (rest.Server's span, named after its
	// route), orders, and its calls to inventory and payment.
	deadline := time.Now().Add(30 * time.Second)
	for {
		traces, err := jaeger.Traces(ctx, "orders")
		if err == nil {
			for _, tr := range traces {
				seen := map[string]bool{}
				for _, s := range tr.Spans {
					seen[tr.Service(s)] = true
					if tr.Service(s) == "gateway" && s.OperationName == "POST /orders" {
						seen["POST /orders"] = true
					}
				}
				if seen["POST /orders"] && seen["orders"] && seen["inventory"] && seen["payment"] {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("Jaeger never held a trace from the gateway's POST /orders across orders, inventory and payment (last error %v)", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/examples/shop/shoppb"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"go.uber.org/goleak"
)

// The test binary doubles as the services: runDemo re-runs it with this variable set.
func TestMain(m *testing.M) {
	if os.Getenv("SHOP_DEMO_TEST_CHILD") == "1" {
		main()
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// syncBuffer collects output written from other goroutines.
type syncBuffer = testenv.Buffer

// startTour runs the tour once, in a directory of the test's, and returns what it saw; on a
// failure the output and the services' logs go to the test log.
func startTour(t *testing.T) (*report, string) {
	t.Helper()
	dir := t.TempDir()
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := runDemo(ctx, &out, demoOptions{
		dir: dir, http: "127.0.0.1:0", rate: 25, tour: true, every: time.Second,
		exe: os.Args[0], env: []string{"SHOP_DEMO_TEST_CHILD=1"},
	})
	text := out.String()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("demo output:\n%s", text)
			logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
			for _, l := range logs {
				t.Logf("%s ends:\n%s", filepath.Base(l), tail(l, 30))
			}
		}
	})
	if err != nil {
		t.Fatalf("the tour failed: %v (rerun: go test -run TestTour -v ./examples/shop)", err)
	}
	return rep, text
}

func TestTourShowsBalancingRESTRouteChangesCanaryHotReloadBreakingAndFailover(t *testing.T) {
	rep, text := startTour(t)

	t.Run("step 1: steady traffic reaches both gateway, inventory and payment instances", func(t *testing.T) {
		s := rep.Steady
		if s.Failed != 0 {
			t.Errorf("%d of %d orders failed under steady traffic", s.Failed, s.Answers)
		}
		for _, id := range []string{"gateway-1", "gateway-2"} {
			if s.Gateway[id] == 0 {
				t.Errorf("front door %s placed no order: rest.Client did not spread http://gateway/orders: %v", id, s.Gateway)
			}
		}
		for _, id := range []string{"inventory-1", "inventory-2"} {
			if s.Inventory[id] == 0 {
				t.Errorf("%s served no order: %v", id, s.Inventory)
			}
		}
		for _, id := range []string{"payment-1", "payment-2"} {
			if s.Payment[id] == 0 {
				t.Errorf("%s served no order: %v", id, s.Payment)
			}
		}
	})
	t.Run("step 2: orders' gRPC methods answer as REST through both front doors, errors mapped", func(t *testing.T) {
		r := rep.REST
		for _, id := range []string{"gateway-1", "gateway-2"} {
			p := r.Placed[id]
			if p.Code != http.StatusOK || p.Order == nil {
				t.Errorf("POST %s on %s: %d, want 200 and the order", restOrders, id, p.Code)
				continue
			}
			o := p.Order
			if o.Item != "cake" || o.Quantity != 1 || o.Status != shoppb.OrderStatus_ORDER_STATUS_PAID ||
				o.OrdersInstance != "orders-1" || !strings.HasPrefix(o.InventoryInstance, "inventory-") ||
				!strings.HasPrefix(o.PaymentInstance, "payment-") {
				t.Errorf("POST %s on %s placed %v; want one cake, paid, naming orders-1, an inventory and a payment instance", restOrders, id, o)
			}
			if r.Listed[id] != http.StatusOK || !r.Found[id] {
				t.Errorf("GET %s on %s: %d, the order placed found: %v; want 200 and true", restList, id, r.Listed[id], r.Found[id])
			}
			if e := r.Unknown[id]; e.Code != http.StatusNotFound || e.Body.Code != "NOT_FOUND" || !strings.Contains(e.Body.Message, unknownItem) {
				t.Errorf("an order of %s on %s: %d %+v; want 404, code NOT_FOUND and a message naming the item", unknownItem, id, e.Code, e.Body)
			}
		}
	})
	t.Run("step 3: a route added to gateway.yaml goes live on both front doors with no failed request, a broken edit is rejected", func(t *testing.T) {
		r := rep.Route
		if r.Before == 0 {
			t.Error("no probe of /api/v1/orders was answered 404 before the edit: the tour did not show the route was new")
		}
		for _, id := range []string{"gateway-1", "gateway-2"} {
			if _, ok := r.Live[id]; !ok {
				t.Errorf("the new route never answered on %s: live %v", id, r.Live)
			}
			if r.Generation[id] < 2 {
				t.Errorf("%s's admin API reports generation %d after the change, want 2 or more", id, r.Generation[id])
			}
		}
		if r.Matched < 20 || r.Failed != 0 {
			t.Errorf("the new route answered %d probes and %d failed, want 20 or more and 0", r.Matched, r.Failed)
		}
		if r.Orders == 0 || r.OrdersFailed != 0 {
			t.Errorf("%d of %d orders failed across the route change, want some orders and none failed", r.OrdersFailed, r.Orders)
		}
		for _, id := range []string{"gateway-1", "gateway-2"} {
			if r.Rejected[id] < 1 {
				t.Errorf("%s's shop_gateway_routes_rejected_total is %v after the broken edit, want 1 or more", id, r.Rejected[id])
			}
		}
		if !r.KeptGeneration || r.KeptServing == 0 {
			t.Errorf("with the broken edit in place the generation stayed: %v, the route answered %d probes; want true and some",
				r.KeptGeneration, r.KeptServing)
		}
	})
	t.Run("step 4: the canary takes about 10% by weight and every request with the header", func(t *testing.T) {
		c := rep.Canary
		// The gateway's split is exact per 100 requests of a route on one front door; the
		// demo's own orders share the route, so the tour's share moves a little. Generous
		// bounds: 5% to 20%.
		if c.N != canaryRequests || c.Share < 0.05 || c.Share > 0.20 || c.ToCanary+c.ToStable != c.N {
			t.Errorf("%d requests: %d to the canary (%.1f%%), %d to the stable version; want %d, 5%% to 20%%, and all answered",
				c.N, c.ToCanary, 100*c.Share, c.ToStable, canaryRequests)
		}
		if c.Header != headerRequests || c.HeaderOnCanary != c.Header {
			t.Errorf("%d of %d requests with %s went to the canary, want all %d", c.HeaderOnCanary, c.Header, canaryHeader, headerRequests)
		}
		if c.Failed != 0 {
			t.Errorf("%d requests failed during the canary step", c.Failed)
		}
	})
	t.Run("step 5: both payment instances reload the edited file and fail without restarting", func(t *testing.T) {
		f := rep.Failing
		for _, id := range []string{"payment-1", "payment-2"} {
			if f.FailureRate[id] != 0.8 {
				t.Errorf("%s reports failure_rate %v in its metrics, want 0.8", id, f.FailureRate[id])
			}
			if f.Reloads[id] < 1 {
				t.Errorf("%s reports %v config reloads, want at least 1", id, f.Reloads[id])
			}
		}
		if f.Restarted {
			t.Error("a payment process ended: the change was not applied by hot reload")
		}
		if f.Failed < 3 {
			t.Errorf("only %d orders failed while payment was failing", f.Failed)
		}
	})
	t.Run("step 6: the breaker opens and orders are accepted with payment pending", func(t *testing.T) {
		if !rep.Breaker.Open {
			t.Error("orders-1's metrics never showed the payment breaker open")
		}
		if rep.Breaker.Pending < 5 {
			t.Errorf("%d orders answered payment pending, want at least 5", rep.Breaker.Pending)
		}
	})
	t.Run("step 7: with the config restored the breaker closes and orders are paid", func(t *testing.T) {
		if !rep.Recovered.Closed || rep.Recovered.Paid < 20 {
			t.Errorf("breaker closed: %v, paid in a row: %d; want closed and 20", rep.Recovered.Closed, rep.Recovered.Paid)
		}
	})
	t.Run("step 8: after a SIGKILL every order goes to the surviving inventory instance", func(t *testing.T) {
		k := rep.Killed
		if !k.Gone {
			t.Error("the registry still listed the killed instance")
		}
		if k.After[victim] != 0 || k.After[survivor] < 20 {
			t.Errorf("orders per inventory instance after the kill: %v; want all %d+ on %s", k.After, 20, survivor)
		}
		if k.RestCalls < 20 {
			t.Errorf("%s's /metrics shows %v calls after the kill, want at least 20", survivor, k.RestCalls)
		}
	})
	t.Run("the line a second never lags the step outcome printed after it", func(t *testing.T) {
		for step, want := range map[int]string{6: "breaker Payment/Charge open", 7: "breaker Payment/Charge closed"} {
			if line := lineBeforeOutcome(text, step); !strings.Contains(line, want) {
				t.Errorf("the last summary line before step %d's outcome is %q, want it to say %q as the outcome does", step, line, want)
			}
		}
	})
	t.Run("every step prints its outcome and the demo stops every process", func(t *testing.T) {
		if n := strings.Count(text, "\n-> "); n != 8 {
			t.Errorf("%d step outcomes printed, want 8", n)
		}
		for _, want := range []string{"gateway:  http://127.0.0.1:", "admin:    http://127.0.0.1:", "/routes",
			"breaker Payment/Charge open", "tour done", "stopped every process"} {
			if !strings.Contains(text, want) {
				t.Errorf("output lacks %q", want)
			}
		}
	})
}

// summaryLine matches the line a second ("  6.4s  orders  20/s ...", or "   6s" before).
var summaryLine = regexp.MustCompile(`^\s*[0-9.]+s\s+orders `)

// lineBeforeOutcome returns the last summary line printed before the outcome ("-> ...") of
// the given step.
func lineBeforeOutcome(text string, step int) string {
	last, inStep := "", false
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, fmt.Sprintf("== step %d/", step)):
			inStep = true
		case summaryLine.MatchString(line):
			last = line
		case inStep && strings.HasPrefix(line, "-> "):
			return last
		}
	}
	return ""
}

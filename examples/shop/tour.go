package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
	"github.com/tianshu-go/tianshu/examples/shop/internal/front"
)

// The payment settings the tour switches to: slower than usual but within orders'
// payment_timeout (250 ms), and failing four charges in five, so that the breaker, which
// opens at half, has a clear case.
const (
	slowLatency  = "200ms"
	failureRate  = "0.8"
	chargeMethod = "/shop.v1.Payment/Charge"
	victim       = "inventory-1"
	survivor     = "inventory-2"
)

// report is what the tour saw, step by step, for the test to check.
type report struct {
	Steady struct {
		Answers, Failed int
		Gateway         map[string]int // orders per front-door instance, from the API's /status
		Inventory       map[string]int // orders per inventory instance
		Payment         map[string]int
	}
	REST    restReport
	Route   routeReport
	Canary  canaryReport
	Failing struct {
		FailureRate map[string]float64 // shop_payment_failure_rate per payment instance after the edit
		Reloads     map[string]float64 // shop_config_reloads_total per payment instance
		Restarted   bool               // whether a payment process ended (it must not)
		Failed      int                // orders that failed before the breaker stepped in
	}
	Breaker struct {
		Open    bool // the orders instance reported the breaker open
		Pending int  // orders answered with payment pending
	}
	Recovered struct {
		Closed bool // the breaker closed again
		Paid   int  // paid orders in a row at the end of the step
	}
	Killed struct {
		Gone      bool           // the registry dropped the killed instance
		Failed    int            // orders that failed between the kill and the registry's update
		After     map[string]int // orders per inventory instance after the update
		RestCalls float64        // calls the survivor served after the kill, from its /metrics
	}
}

type tour struct {
	pr      *printer
	sum     *summaries // the line a second, driven by waitFor
	obs     *observer
	fleet   *fleet
	traffic *traffic
	dir     string
	rep     report
}

func (t *tour) run(ctx context.Context) (*report, error) {
	start := time.Now()
	steps := []struct {
		title string
		run   func(context.Context) (string, error)
	}{
		{"steady traffic spreads over the instances", t.steady},
		{"the front doors serve orders' gRPC methods as REST: " + restOrders + " (the route orders-rest, transcoded)", t.rest},
		{"gateway.yaml gains a route: /api/v1/orders goes live on both front doors, without a restart; a broken edit is rejected whole", t.route},
		{"gateway.yaml splits orders 10%/90% to shop-api's canary, and sends X-Canary requests there", t.canary},
		{"payment.yaml is edited: payment turns slow and failing, without a restart", t.failing},
		{"the breaker in orders opens: orders fall back to \"payment pending\"", t.breaker},
		{"payment.yaml is restored: the breaker closes and orders are paid again", t.recover},
		{victim + " is killed with SIGKILL: traffic moves to the rest", t.kill},
	}
	for i, s := range steps {
		t.pr.say("== step %d/%d: %s", i+1, len(steps), s.title)
		outcome, err := s.run(ctx)
		// The outcome was judged on the latest reading: print its line first, so that
		// every line after the outcome is as new as what the outcome says.
		t.sum.flush()
		if err != nil {
			t.pr.say("!! step %d failed: %v", i+1, err)
			return &t.rep, fmt.Errorf("step %d (%s): %w", i+1, s.title, err)
		}
		t.pr.say("-> %s", outcome)
	}
	t.pr.say("== tour done in %.0f s", time.Since(start).Seconds())
	return &t.rep, nil
}

// waitFor reads the API's status and orders' breakers every quarter second, printing
// the line a second from those readings, and gives each reading to cond until it reports
// done, ctx ends or limit passes.
func (t *tour) waitFor(ctx context.Context, limit time.Duration, cond func(reading) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		done, err := cond(t.sum.poll(ctx))
		if done || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not reached within %v", limit)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// served counts the placed orders among answers by the instance that served part.
func served(answers []answer, part func(api.ServedBy) string) map[string]int {
	out := map[string]int{}
	for _, a := range answers {
		if a.placed() {
			if id := part(a.order.ServedBy); id != "" {
				out[id]++
			}
		}
	}
	return out
}

func inventoryOf(s api.ServedBy) string { return s.Inventory }
func paymentOf(s api.ServedBy) string   { return s.Payment }

func countFailed(answers []answer) int {
	n := 0
	for _, a := range answers {
		if a.failed() {
			n++
		}
	}
	return n
}

func (t *tour) steady(ctx context.Context) (string, error) {
	from := time.Now()
	first := t.sum.poll(ctx)
	var as []answer
	r := &t.rep.Steady
	err := t.waitFor(ctx, 20*time.Second, func(rd reading) (bool, error) {
		as = t.traffic.since(from)
		r.Gateway = map[string]int{}
		if first.err == nil && rd.err == nil {
			for _, in := range instances {
				if n := rd.status.ServedBy[in.id] - first.status.ServedBy[in.id]; in.service == front.Service && n > 0 {
					r.Gateway[in.id] = int(n)
				}
			}
		}
		return time.Since(from) >= 3*time.Second && len(r.Gateway) >= 2 &&
			len(served(as, inventoryOf)) >= 2 && len(served(as, paymentOf)) >= 2, nil
	})
	r.Answers, r.Failed = len(as), countFailed(as)
	r.Inventory, r.Payment = served(as, inventoryOf), served(as, paymentOf)
	if err != nil {
		return "", fmt.Errorf("orders did not reach every instance (gateway %v, inventory %v, payment %v): %w",
			r.Gateway, r.Inventory, r.Payment, err)
	}
	failed := ""
	for _, a := range as {
		if a.failed() {
			failed = fmt.Sprintf(" (the last: %d %q)", a.code, a.err)
		}
	}
	return fmt.Sprintf("%d orders in %.1f s, %d failed%s; front door %s (rest.Client, by name); inventory %s; payment %s",
		r.Answers, time.Since(from).Seconds(), r.Failed, failed, counts(r.Gateway), counts(r.Inventory), counts(r.Payment)), nil
}

var (
	latencyLine = regexp.MustCompile(`(?m)^(\s+latency:)\s*\S+`)
	failureLine = regexp.MustCompile(`(?m)^(\s+failure_rate:)\s*\S+`)
)

func (t *tour) paymentConfig() string { return filepath.Join(t.dir, "config", "payment.yaml") }

// writeFile replaces a file by renaming a complete new one over it, so that a watcher
// never reads it half-written.
func writeFile(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func (t *tour) failing(ctx context.Context) (string, error) {
	orig, err := os.ReadFile(t.paymentConfig())
	if err != nil {
		return "", err
	}
	edited := latencyLine.ReplaceAll(orig, []byte("${1} "+slowLatency))
	edited = failureLine.ReplaceAll(edited, []byte("${1} "+failureRate))
	from := time.Now()
	if err := writeFile(t.paymentConfig(), edited); err != nil {
		return "", err
	}
	t.pr.say("   payment.yaml now has latency: %s, failure_rate: %s", slowLatency, failureRate)
	r := &t.rep.Failing
	err = t.waitFor(ctx, 20*time.Second, func(reading) (bool, error) {
		r.FailureRate, r.Reloads = map[string]float64{}, map[string]float64{}
		for id, f := range t.obs.scrape(ctx, "payment") {
			r.FailureRate[id], _ = f.value("shop_payment_failure_rate")
			r.Reloads[id], _ = f.value("shop_config_reloads_total")
		}
		r.Failed = countFailed(t.traffic.since(from))
		reloaded := 0
		for _, v := range r.FailureRate {
			if fmt.Sprint(v) == failureRate {
				reloaded++
			}
		}
		return reloaded == 2 && r.Failed >= 3, nil
	})
	for _, id := range []string{"payment-1", "payment-2"} {
		if c := t.fleet.find(id); c == nil || !c.running() {
			r.Restarted = true
		}
	}
	if err != nil {
		return "", fmt.Errorf("payment did not turn failing (failure_rate %v, %d orders failed): %w", r.FailureRate, r.Failed, err)
	}
	last := ""
	for _, a := range t.traffic.since(from) {
		if a.failed() {
			last = a.err
		}
	}
	return fmt.Sprintf("both payment instances reloaded (failure_rate %v, reloads %v, same processes); %d orders failed, e.g. %q",
		r.FailureRate, r.Reloads, r.Failed, last), nil
}

func (t *tour) breaker(ctx context.Context) (string, error) {
	from := time.Now()
	r := &t.rep.Breaker
	err := t.waitFor(ctx, 30*time.Second, func(rd reading) (bool, error) {
		if rd.breakers[chargeMethod] == "open" {
			r.Open = true
		}
		r.Pending = 0
		for _, a := range t.traffic.since(from) {
			if a.placed() && a.order.Status == api.StatusPaymentPending {
				r.Pending++
			}
		}
		return r.Open && r.Pending >= 5, nil
	})
	if err != nil {
		return "", fmt.Errorf("breaker open: %v, %d orders pending: %w", r.Open, r.Pending, err)
	}
	return fmt.Sprintf("orders-1 reports breaker %s open after %.1f s; %d orders accepted with payment pending instead of failing",
		chargeMethod, time.Since(from).Seconds(), r.Pending), nil
}

func (t *tour) recover(ctx context.Context) (string, error) {
	data, err := configFiles.ReadFile("config/payment.yaml")
	if err != nil {
		return "", err
	}
	from := time.Now()
	if err := writeFile(t.paymentConfig(), data); err != nil {
		return "", err
	}
	t.pr.say("   payment.yaml restored (latency: 5ms, failure_rate: 0)")
	r := &t.rep.Recovered
	const inARow = 20
	err = t.waitFor(ctx, 30*time.Second, func(rd reading) (bool, error) {
		r.Closed = rd.breakers[chargeMethod] == "closed"
		r.Paid = 0
		as := t.traffic.since(from)
		for i := len(as) - 1; i >= 0 && as[i].placed() && as[i].order.Status == api.StatusPaid; i-- {
			r.Paid++
		}
		return r.Closed && r.Paid >= inARow, nil
	})
	if err != nil {
		return "", fmt.Errorf("breaker closed: %v, %d paid in a row: %w", r.Closed, r.Paid, err)
	}
	return fmt.Sprintf("breaker closed after %.1f s; the last %d orders were paid", time.Since(from).Seconds(), r.Paid), nil
}

func (t *tour) kill(ctx context.Context) (string, error) {
	before := t.obs.scrape(ctx, "inventory")[survivor]
	c := t.fleet.find(victim)
	if c == nil || !c.running() {
		return "", fmt.Errorf("%s is not running", victim)
	}
	from := time.Now()
	c.kill()
	t.pr.say("   killed %s (pid %d) with SIGKILL: no deregistration, no drain", victim, c.cmd.Process.Pid)
	r := &t.rep.Killed
	var goneAt time.Time
	err := t.waitFor(ctx, 15*time.Second, func(reading) (bool, error) {
		ids := t.obs.instances(ctx, "inventory")
		r.Gone = !slices.Contains(ids, victim)
		if r.Gone && goneAt.IsZero() {
			goneAt = time.Now()
		}
		return r.Gone, nil
	})
	if err != nil {
		return "", fmt.Errorf("the registry still lists %s: %w", victim, err)
	}
	// Calls already on their way to the dead instance may fail for a moment; judge the
	// orders placed once the registry's update has had half a second to reach orders.
	settled := goneAt.Add(500 * time.Millisecond)
	err = t.waitFor(ctx, 20*time.Second, func(reading) (bool, error) {
		as := t.traffic.since(settled)
		r.After = served(as, inventoryOf)
		return len(as) >= 20, nil
	})
	r.Failed = countFailed(t.traffic.since(from))
	if after := t.obs.scrape(ctx, "inventory")[survivor]; after != nil {
		b, _ := before.value("rpc_server_call_duration_seconds")
		a, _ := after.value("rpc_server_call_duration_seconds")
		r.RestCalls = a - b
	}
	if err != nil {
		return "", fmt.Errorf("too few orders after the kill: %w", err)
	}
	return fmt.Sprintf("the registry dropped %s after %.1f s; %d orders failed meanwhile; since then inventory %s; %s served %.0f more calls (its /metrics)",
		victim, goneAt.Sub(from).Seconds(), r.Failed, counts(r.After), survivor, r.RestCalls), nil
}

// counts formats a count per instance as "a 3, b 4".
func counts(m map[string]int) string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprintf("%s %d", id, m[id])
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

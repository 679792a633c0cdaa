package rest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/rest"
	"github.com/tianshu-go/tianshu/rules"
)

// failing serves 503 as many times as fail holds, then 200.
type failing struct {
	*backend
	fail atomic.Int64
}

func startFailing(t *testing.T) (*failing, *rules.Store, func(opts ...rest.ClientOption) *rest.Client) {
	t.Helper()
	provider, consumer := fileRegistries(t)
	f := &failing{backend: startBackend(t, "a")}
	f.setHandler(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if f.fail.Add(-1) >= 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "a")
	})
	register(t, provider, f.instance("orders"))
	st, err := rules.NewStore(nil)
	if err != nil {
		t.Fatal(err)
	}
	return f, st, func(opts ...rest.ClientOption) *rest.Client {
		c := newClient(t, consumer, append([]rest.ClientOption{rest.WithRules(st), rest.WithoutClientTelemetry()}, opts...)...)
		eventually(t, "orders listed", func() bool { _, err := get(c, "http://orders/"); return err == nil })
		return c
	}
}

// send makes one request that fails the first failures attempts, and returns its status
// and the attempts the backend saw.
func (f *failing) send(t *testing.T, c *rest.Client, method, url string, failures int64) (int, int64) {
	t.Helper()
	f.fail.Store(failures)
	defer f.fail.Store(0)
	before := f.hits.Load()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, f.hits.Load() - before
}

func setOrders(t *testing.T, st *rules.Store, methods map[string]rules.Policy) {
	t.Helper()
	if err := st.Set(ordersRules(rules.Service{Methods: methods})); err != nil {
		t.Fatal(err)
	}
}

func attempts(n int, share float64) rules.Policy {
	return rules.Policy{Retries: &rules.Retries{Attempts: n, Budget: share}}
}

func TestRulesRetriesPerRoute(t *testing.T) {
	f, st, client := startFailing(t)
	c := client(rest.WithoutRetry(), rest.WithoutBreaker()) // the client's own retries: none
	check := func(what, method, url string, failures int64, wantCode int, wantN int64) {
		t.Helper()
		if code, n := f.send(t, c, method, url, failures); code != wantCode || n != wantN {
			t.Fatalf("%s: %s %s failing %d times: got %d after %d attempts, want %d after %d",
				what, method, url, failures, code, n, wantCode, wantN)
		}
	}
	check("no rules", "GET", "http://orders/items/1", 1, 503, 1)

	setOrders(t, st, map[string]rules.Policy{"GET /items/{id}": attempts(3, 0)})
	check("attempts 3", "GET", "http://orders/items/1", 2, 200, 3)
	check("another route keeps the client's", "GET", "http://orders/other", 1, 503, 1)

	setOrders(t, st, map[string]rules.Policy{"GET /items/{id}": attempts(1, 0), "*": attempts(3, 0)})
	check("attempts 1", "GET", "http://orders/items/1", 2, 503, 1)
	check(`"*" attempts 3`, "GET", "http://orders/other", 2, 200, 3)
	check("a POST is not retried", "POST", "http://orders/other", 2, 503, 1)
	check("a PUT is", "PUT", "http://orders/other", 2, 200, 3)
}

func TestRulesRetriesReplaceTheClients(t *testing.T) {
	f, st, client := startFailing(t)
	c := client(rest.WithoutBreaker()) // retry.DefaultPolicy: 3 attempts
	if code, n := f.send(t, c, "GET", "http://orders/items/1", 2); code != 200 || n != 3 {
		t.Fatalf("client's policy: got %d after %d attempts, want 200 after 3", code, n)
	}
	setOrders(t, st, map[string]rules.Policy{"GET /items/1": attempts(1, 0)})
	if code, n := f.send(t, c, "GET", "http://orders/items/1", 2); code != 503 || n != 1 {
		t.Fatalf("rule of 1 attempt: got %d after %d attempts, want 503 after 1", code, n)
	}
}

// Each rule's budget lasts while its share stays; a new share starts a new one.
func TestRulesRetriesBudgetPerRule(t *testing.T) {
	f, st, client := startFailing(t)
	c := client(rest.WithoutRetry(), rest.WithoutBreaker())
	setOrders(t, st, map[string]rules.Policy{"GET /items/{id}": attempts(2, 0.01)}) // 10 saved up
	for i := range 10 {
		if code, n := f.send(t, c, "GET", "http://orders/items/1", 1); code != 200 || n != 2 {
			t.Fatalf("request %d: got %d after %d attempts, want 200 after 2", i, code, n)
		}
	}
	if code, n := f.send(t, c, "GET", "http://orders/items/2", 1); code != 503 || n != 1 {
		t.Fatalf("budget spent: got %d after %d attempts, want 503 after 1", code, n)
	}
	setOrders(t, st, map[string]rules.Policy{"GET /items/{id}": attempts(3, 0.01)})
	if code, n := f.send(t, c, "GET", "http://orders/items/1", 1); code != 503 || n != 1 {
		t.Fatalf("same share: got %d after %d attempts, want 503 after 1", code, n)
	}
	setOrders(t, st, map[string]rules.Policy{"GET /items/{id}": attempts(3, 0.5)})
	if code, n := f.send(t, c, "GET", "http://orders/items/1", 2); code != 200 || n != 3 {
		t.Fatalf("new share: got %d after %d attempts, want 200 after 3", code, n)
	}
}

func TestRulesTimeoutCutsASlowRequest(t *testing.T) {
	provider, consumer := fileRegistries(t)
	b := startBackend(t, "a")
	b.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow-body" {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		}
		if r.URL.Path != "/" {
			select {
			case <-time.After(500 * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, "a")
	})
	register(t, provider, b.instance("orders"))
	st, err := rules.NewStore(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, consumer, rest.WithRules(st), rest.WithoutClientTelemetry())
	eventually(t, "orders listed", func() bool { _, err := get(c, "http://orders/"); return err == nil })

	if _, err := get(c, "http://orders/slow"); err != nil {
		t.Fatalf("no rule: %v", err)
	}
	setOrders(t, st, map[string]rules.Policy{"GET /slow": {Timeout: 50 * time.Millisecond}, "GET /slow-body": {Timeout: 50 * time.Millisecond}})
	if _, err := get(c, "http://orders/slow"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout 50ms on a 500ms answer: got %v, want context.DeadlineExceeded", err)
	}
	if _, err := get(c, "http://orders/slow-body"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout 50ms on a 500ms body: got %v, want context.DeadlineExceeded", err)
	}
	if _, err := get(c, "http://orders/"); err != nil {
		t.Fatalf("a route without the rule: %v", err)
	}
	setOrders(t, st, map[string]rules.Policy{"GET /slow": {Timeout: time.Minute}})
	if _, err := get(c, "http://orders/slow"); err != nil {
		t.Fatalf("timeout 1m: %v", err)
	}
	// The caller's own earlier deadline still holds.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://orders/slow", nil)
	if resp, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if resp != nil {
			resp.Body.Close()
		}
		t.Fatalf("caller's 50ms under a 1m rule: got %v, want context.DeadlineExceeded", err)
	}
}

func TestRulesBreakerPerRoute(t *testing.T) {
	f, st, client := startFailing(t)
	c := client(rest.WithoutRetry(), rest.WithoutBreaker())
	// failAll sends n requests failing them all and returns how many reached the backend
	// and the last error.
	failAll := func(url string, n int) (int64, error) {
		t.Helper()
		f.fail.Store(1 << 30)
		defer f.fail.Store(0)
		before := f.hits.Load()
		var last error
		for range n {
			_, err := get(c, url)
			var se *statusError
			if err != nil && !errors.As(err, &se) {
				last = err
			}
		}
		return f.hits.Load() - before, last
	}
	if n, _ := failAll("http://orders/items/1", 30); n != 30 {
		t.Fatalf("no rule: %d of 30 requests reached the backend, want all", n)
	}
	rule := func(minRequests int) rules.Policy {
		return rules.Policy{Breaker: &rules.Breaker{FailureRatio: 0.5, MinRequests: minRequests, SleepWindow: time.Hour}}
	}
	setOrders(t, st, map[string]rules.Policy{"GET /items/{id}": rule(5)})
	n, err := failAll("http://orders/items/1", 30)
	if n != 5 || !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("minRequests 5: %d of 30 requests reached the backend, last error %v; want 5 and breaker.ErrOpen", n, err)
	}
	if n, _ := failAll("http://orders/other", 10); n != 10 {
		t.Fatalf("a route without the rule: %d of 10 requests reached the backend, want all", n)
	}
	setOrders(t, st, map[string]rules.Policy{"GET /items/{id}": rule(20)})
	if n, _ := failAll("http://orders/items/2", 30); n != 20 {
		t.Fatalf("minRequests 20: %d of 30 requests reached the backend, want 20", n)
	}
}

func TestRulesOutlierEjectsByTheServicesRule(t *testing.T) {
	provider, consumer := fileRegistries(t)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	register(t, provider, a.instance("orders"))
	register(t, provider, b.instance("orders"))
	st, err := rules.NewStore(ordersRules(rules.Service{Methods: map[string]rules.Policy{
		"*": {Outlier: &rules.Outlier{Failures: 1000}}}}))
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, consumer, rest.WithRules(st), rest.WithoutRetry(), rest.WithoutBreaker(),
		rest.WithBalancer(pick.AlgRoundRobin), rest.WithoutClientTelemetry())
	eventually(t, "a and b listed", func() bool { s := seen(t, c, "http://orders/", 10); return s["a"] > 0 && s["b"] > 0 })
	b.kill() // refused from now on, and still listed
	failures := func(n int) int {
		bad := 0
		for id, k := range seen(t, c, "http://orders/", n) {
			if id != "a" {
				bad += k
			}
		}
		return bad
	}
	if bad := failures(20); bad < 5 {
		t.Fatalf("failures 1000: %d of 20 requests failed, want about half (b is never ejected)", bad)
	}
	setOrders(t, st, map[string]rules.Policy{"*": {Outlier: &rules.Outlier{Failures: 1, Base: time.Hour}}})
	if bad := failures(20); bad > 1 {
		t.Fatalf("failures 1: %d of 20 requests failed, want 1 at most (b ejected for an hour)", bad)
	}
	if bad := failures(20); bad != 0 {
		t.Fatalf("b ejected: %d of 20 requests failed, want none", bad)
	}
	setOrders(t, st, map[string]rules.Policy{"*": {Outlier: &rules.Outlier{Failures: 0}}})
	if bad := failures(20); bad < 5 {
		t.Fatalf("ejection off: %d of 20 requests failed, want about half (b back in)", bad)
	}
}

package rest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/loadbalance/pick"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rest"
)

func TestInstancesAppearAndDisappearForTheClient(t *testing.T) {
	provider, consumer := fileRegistries(t)
	c := newClient(t, consumer)
	a, b := startBackend(t, "a"), startBackend(t, "b")

	_, err := get(c, "http://orders/")
	if !errors.Is(err, rest.ErrNoInstances) || !strings.Contains(err.Error(), `"orders"`) {
		t.Fatalf("before any instance: err = %v, want ErrNoInstances naming \"orders\"", err)
	}

	register(t, provider, a.instance("orders"))
	eventually(t, "instance a reached", func() bool { id, _ := get(c, "http://orders/"); return id == "a" })

	register(t, provider, b.instance("orders"))
	eventually(t, "both instances reached", func() bool {
		s := seen(t, c, "http://orders/", 20)
		return s["a"] > 0 && s["b"] > 0
	})

	deregister(t, provider, a.instance("orders"))
	eventually(t, "only b reached", func() bool {
		s := seen(t, c, "http://orders/", 20)
		return s["b"] == 20
	})

	deregister(t, provider, b.instance("orders"))
	eventually(t, "no instance left", func() bool {
		_, err := get(c, "http://orders/")
		return errors.Is(err, rest.ErrNoInstances)
	})
}

func TestHostsThatAreNoServicesGoToTheFallback(t *testing.T) {
	c := newClient(t, memory.New())
	plain := startBackend(t, "plain")
	// httptest's URL is http://127.0.0.1:port: not a service, so it is called directly.
	if id, err := get(c, plain.srv.URL+"/x"); err != nil || id != "plain" {
		t.Fatalf("GET %s = %q, %v; want plain", plain.srv.URL, id, err)
	}
}

func TestDefaultServiceMatcher(t *testing.T) {
	for host, want := range map[string]bool{
		"orders": true, "order-service": true, "Orders_2": true,
		"orders:8080": false, "orders.internal": false, "localhost": false,
		"127.0.0.1": false, "[::1]": false, "12345": false, "": false, "a%20b": false,
	} {
		if got := rest.DefaultServiceMatcher(host); got != want {
			t.Errorf("DefaultServiceMatcher(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestWithServicesAndMatcherDecideWhatIsAService(t *testing.T) {
	reg := memory.New()
	plain := startBackend(t, "plain")
	inst := plain.instance("orders")
	register(t, reg, inst)
	// Only "users" is a service: "orders" goes to the fallback, which cannot resolve it.
	fallback := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("fallback asked for " + r.URL.Host)
	})
	c := newClient(t, reg, rest.WithServices("users"), rest.WithFallback(fallback))
	if _, err := get(c, "http://orders/"); err == nil || !strings.Contains(err.Error(), "fallback asked for orders") {
		t.Errorf("orders with WithServices(users): err = %v, want the fallback's", err)
	}
	if _, err := get(c, "http://users/"); !errors.Is(err, rest.ErrNoInstances) {
		t.Errorf("users with WithServices(users): err = %v, want ErrNoInstances", err)
	}
	// A matcher may make a dotted host a service.
	c2 := newClient(t, reg, rest.WithServiceMatcher(func(h string) bool { return h == "orders.svc" || h == "orders" }))
	if id, err := get(c2, "http://orders/"); err != nil || id != "plain" {
		t.Errorf("orders with a matcher: %q, %v", id, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestErrorsNameTheServiceAndTheCause(t *testing.T) {
	reg := memory.New()
	grpcOnly := &registry.Instance{ID: "g1", Service: "grpc-only",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9}}}
	register(t, reg, grpcOnly)
	b := startBackend(t, "v1")
	old := b.instance("versioned")
	old.Version = "1.0"
	register(t, reg, old)
	c := newClient(t, reg, rest.WithServiceRouting("versioned", pick.Filter{Version: "2.0"}))

	_, err := get(c, "http://grpc-only/")
	if !errors.Is(err, rest.ErrNoInstances) || !strings.Contains(err.Error(), `scheme "http"`) {
		t.Errorf("service without http endpoint: %v", err)
	}
	_, err = get(c, "https://grpc-only/")
	if !errors.Is(err, rest.ErrNoInstances) || !strings.Contains(err.Error(), `scheme "https"`) {
		t.Errorf("https to a service without https endpoint: %v", err)
	}
	_, err = get(c, "http://versioned/")
	if !errors.Is(err, rest.ErrNoInstances) || !errors.Is(err, pick.ErrNoEndpoint) || !strings.Contains(err.Error(), `"2.0"`) {
		t.Errorf("version filter leaving none: %v", err)
	}

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := get(c, "http://versioned/"); !errors.Is(err, rest.ErrClientClosed) {
		t.Errorf("after Close: %v, want ErrClientClosed", err)
	}
}

func TestBadOptionsAreRefusedAtConstruction(t *testing.T) {
	reg := memory.New()
	for name, opts := range map[string][]rest.ClientOption{
		"hash header without the hash balancer": {rest.WithHashHeader("X-User")},
		"unknown algorithm":                     {rest.WithBalancer(pick.Algorithm(42))},
		"nil breakers":                          {rest.WithBreakers(nil)},
		"status out of range":                   {rest.WithRetryStatuses(700)},
		"bad service name":                      {rest.WithServices("a b")},
		"nil fallback":                          {rest.WithFallback(nil)},
		"nil instance transport":                {rest.WithInstanceTransport(nil)},
		"nil telemetry":                         {rest.WithClientTelemetry(nil)},
		"zero retry policy":                     {rest.WithRetry(retry.Policy{})},
		"retry policy and WithoutRetry":         {rest.WithRetry(retry.DefaultPolicy()), rest.WithoutRetry()},
	} {
		if _, err := rest.NewTransport(reg, opts...); !errors.Is(err, rest.ErrInvalidClientOption) {
			t.Errorf("%s: err = %v, want ErrInvalidClientOption", name, err)
		}
	}
	if _, err := rest.NewTransport(nil); !errors.Is(err, rest.ErrInvalidClientOption) {
		t.Errorf("nil discovery: err = %v", err)
	}
}

func TestCanaryTagAndConsistentHashRouting(t *testing.T) {
	reg := memory.New()
	stable, canary := startBackend(t, "stable"), startBackend(t, "canary")
	register(t, reg, stable.instance("orders"))
	ci := canary.instance("orders")
	ci.Metadata = map[string]string{"tag": "canary"}
	register(t, reg, ci)
	c := newClient(t, reg)
	if s := seen(t, c, "http://orders/", 20); s["stable"] != 20 {
		t.Errorf("untagged requests reached %v, want only stable", s)
	}
	for range 10 {
		req, _ := http.NewRequest(http.MethodGet, "http://orders/", nil)
		req.Header.Set(rest.TagHeader, "canary")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "canary" {
			t.Fatalf("tagged request reached %q, want canary", b)
		}
	}

	hashed := newClient(t, reg, rest.WithBalancer(pick.AlgConsistentHash), rest.WithHashHeader("X-User"),
		rest.WithServiceRouting("orders", pick.Filter{}), rest.WithTagKey("no-such-key"))
	got := map[string]map[string]bool{}
	for i := range 40 {
		user := []string{"ann", "bob", "cid", "dee"}[i%4]
		req, _ := http.NewRequest(http.MethodGet, "http://orders/", nil)
		req.Header.Set("X-User", user)
		resp, err := hashed.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got[user] == nil {
			got[user] = map[string]bool{}
		}
		got[user][string(b)] = true
	}
	for user, ids := range got {
		if len(ids) != 1 {
			t.Errorf("user %s reached %v, want one instance", user, ids)
		}
	}
}

// An instance that leaves the list finishes the request it is serving, and then its
// connection closes rather than idling in the pool.
func TestConnectionsToARemovedInstanceCloseWhenTheirRequestsFinish(t *testing.T) {
	reg := memory.New()
	b := startBackend(t, "slow")
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the server's Close
	entered := make(chan struct{}, 1)
	b.setHandler(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/slow" {
			_, _ = io.WriteString(w, "fast")
			return
		}
		entered <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "done")
	})
	in := b.instance("orders")
	register(t, reg, in)
	c := newClient(t, reg, rest.WithoutBreaker())

	result := make(chan error, 1)
	go func() {
		body, err := get(c, "http://orders/slow")
		if err == nil && body != "done" {
			err = errors.New("body " + body)
		}
		result <- err
	}()
	<-entered
	deregister(t, reg, in)
	// The watch event has to reach the client before the request ends for this test to
	// show anything: wait until a new request finds no instance.
	eventually(t, "the client sees the instance gone", func() bool {
		_, err := get(c, "http://orders/")
		return errors.Is(err, rest.ErrNoInstances)
	})
	if n := b.closed.Load(); n != 0 {
		t.Fatalf("%d connections closed while the request was in flight", n)
	}
	once.Do(func() { close(release) })
	if err := <-result; err != nil {
		t.Fatalf("the request in flight failed: %v", err)
	}
	eventually(t, "every connection closes", func() bool { return b.closed.Load() == b.opened.Load() })
}

func TestBreakerOpensOn5xxAndRecovers(t *testing.T) {
	reg := memory.New()
	b := startBackend(t, "flaky")
	register(t, reg, b.instance("orders"))
	const sleep = 200 * time.Millisecond
	g, err := breaker.NewGroup(breaker.CircuitFactory(breaker.WithCountWindow(10), breaker.WithMinRequests(5),
		breaker.WithFailureRatio(0.5), breaker.WithSleepWindow(sleep), breaker.WithHalfOpenProbes(1)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	c := newClient(t, reg, rest.WithBreakers(g))

	b.setHandler(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) })
	var openErr error
	for i := 0; i < 50 && openErr == nil; i++ {
		if _, err := get(c, "http://orders/"); errors.Is(err, breaker.ErrOpen) {
			openErr = err
		}
	}
	var oe *breaker.OpenError
	if !errors.As(openErr, &oe) || oe.Name != "orders" || !strings.Contains(openErr.Error(), `service "orders"`) {
		t.Fatalf("after 50 failing requests: %v, want an error wrapping breaker.ErrOpen for orders", openErr)
	}
	// Open: requests are refused here and never reach the instance.
	hits := b.hits.Load()
	for range 5 {
		if _, err := get(c, "http://orders/"); !errors.Is(err, breaker.ErrOpen) {
			t.Fatalf("open breaker let a request through: %v", err)
		}
	}
	if b.hits.Load() != hits {
		t.Fatal("requests refused by the breaker reached the instance")
	}

	b.setHandler(nil) // the upstream recovers
	// The circuit probes after one sleep window; allow several.
	deadline := time.Now().Add(20 * sleep)
	for {
		if id, err := get(c, "http://orders/"); err == nil && id == "flaky" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("breaker still refusing %v after recovery (20 sleep windows)", 20*sleep)
		}
		time.Sleep(sleep / 4)
	}
	for range 10 {
		if _, err := get(c, "http://orders/"); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	}
}

// countingDiscovery counts the watches started through it, and fails them while broken.
type countingDiscovery struct {
	registry.Discovery
	watches atomic.Int64
	broken  atomic.Bool
}

func (d *countingDiscovery) Watch(ctx context.Context, service string) (registry.Watcher, error) {
	d.watches.Add(1)
	if d.broken.Load() {
		return nil, fmt.Errorf("%w: test backend down", registry.ErrUnavailable)
	}
	return d.Discovery.Watch(ctx, service)
}

func TestOneWatchPerServiceIsSharedByAllRequests(t *testing.T) {
	reg := memory.New()
	b := startBackend(t, "a")
	register(t, reg, b.instance("orders"))
	d := &countingDiscovery{Discovery: reg}
	c := newClient(t, d)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			if _, err := get(c, "http://orders/"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := d.watches.Load(); n != 1 {
		t.Errorf("50 concurrent requests started %d watches, want 1", n)
	}
}

func TestAWatchThatCannotStartFailsRequestsNamingTheService(t *testing.T) {
	d := &countingDiscovery{Discovery: memory.New()}
	d.broken.Store(true)
	c := newClient(t, d, rest.WithClientLogger(slog.New(slog.DiscardHandler)))
	_, err := get(c, "http://orders/")
	if !errors.Is(err, registry.ErrUnavailable) || !strings.Contains(err.Error(), `"orders"`) {
		t.Fatalf("err = %v, want one wrapping registry.ErrUnavailable naming orders", err)
	}
}

func TestEveryAlgorithmSpreadsAndTheZoneFilterKeepsCallsLocal(t *testing.T) {
	reg := memory.New()
	for _, id := range []string{"a", "b", "c"} {
		b := startBackend(t, id)
		in := b.instance("orders")
		in.Zone = "zone-" + id
		register(t, reg, in)
	}
	for _, alg := range []pick.Algorithm{pick.AlgP2C, pick.AlgRoundRobin, pick.AlgRandom, pick.AlgLeastActive, pick.AlgConsistentHash} {
		c := newClient(t, reg, rest.WithBalancer(alg))
		eventually(t, alg.String()+" reaching every instance", func() bool {
			s := seen(t, c, "http://orders/", 30)
			return s["a"] > 0 && s["b"] > 0 && s["c"] > 0
		})
		local := newClient(t, reg, rest.WithBalancer(alg), rest.WithRouting(pick.Filter{Zone: "zone-b"}))
		if s := seen(t, local, "http://orders/", 20); s["b"] != 20 {
			t.Errorf("%v with zone-b preferred reached %v, want only b", alg, s)
		}
	}
}

// A service answering gRPC and HTTP registers a gRPC-only instance beside its HTTP one: the
// client skips it quietly, while an instance it cannot call for another reason (a scheme
// nobody speaks) is still a warning.
func TestTheGRPCInstancesOfAServiceAreSkippedWithoutAWarning(t *testing.T) {
	reg := memory.New()
	t.Cleanup(func() { _ = reg.Close() })
	for id, scheme := range map[string]string{"rpc": "grpc", "odd": "ftp"} {
		register(t, reg, &registry.Instance{ID: id, Service: "orders",
			Endpoints: []registry.Endpoint{{Scheme: scheme, Host: "127.0.0.1", Port: 1}}})
	}
	var out testenv.Buffer
	c := newClient(t, reg, rest.WithClientLogger(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if _, err := get(c, "http://orders/"); !errors.Is(err, rest.ErrNoInstances) {
		t.Fatalf("GET with no http instance = %v, want ErrNoInstances", err)
	}
	for _, want := range []string{
		"level=DEBUG msg=\"skipping an instance with no http or https endpoint\" service=orders instance=rpc",
		"level=WARN msg=\"skipping an instance with no http or https endpoint\" service=orders instance=odd",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the client's log holds %q, want a line starting %q", out.String(), want)
		}
	}
}

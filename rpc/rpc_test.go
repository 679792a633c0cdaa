package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/rpc"
)

func TestMain(m *testing.M) {
	// The test binary doubles as a provider process for the cross-process tests.
	if dir := os.Getenv("RPC_TEST_PROVIDER_DIR"); dir != "" {
		runProviderProcess(dir, os.Getenv("RPC_TEST_PROVIDER_ID"))
		return
	}
	goleak.VerifyTestMain(m)
}

// echo answers with the ID of the provider that served the call, after delay.
type echo struct {
	testpb.UnimplementedEchoServer
	id    string
	delay time.Duration
}

func (e echo) Echo(ctx context.Context, req *testpb.EchoRequest) (*testpb.EchoReply, error) {
	if string(req.Payload) == "panic" {
		panic("asked to")
	}
	if e.delay > 0 {
		time.Sleep(e.delay)
	}
	return &testpb.EchoReply{Payload: req.Payload, ServedBy: e.id}, nil
}

// startProvider serves an echo provider of service on a loopback port and shuts it down at
// the end of the test.
func startProvider(t *testing.T, reg registry.Registrar, service, id string, delay time.Duration, opts ...rpc.ServerOption) *rpc.Server {
	t.Helper()
	srv := rpc.NewServer(append([]rpc.ServerOption{
		rpc.WithService(service), rpc.WithInstanceID(id), rpc.WithRegistrar(reg),
		rpc.WithDeregisterDelay(200 * time.Millisecond),
	}, opts...)...)
	testpb.RegisterEchoServer(srv, echo{id: id, delay: delay})
	echotest.Run(t, srv)
	return srv
}

func dial(t *testing.T, d registry.Discovery, service string) testpb.EchoClient {
	t.Helper()
	conn, err := rpc.Dial(context.Background(), "tianshu:///"+service, rpc.WithDiscovery(d))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return testpb.NewEchoClient(conn)
}

// callUntil calls until served_by satisfies ok, failing after 10 s.
func callUntil(t *testing.T, c testpb.EchoClient, what string, ok func(seen map[string]int) bool) map[string]int {
	t.Helper()
	seen := map[string]int{}
	deadline := time.Now().Add(10 * time.Second)
	for !ok(seen) {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s; served by %v", what, seen)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		r, err := c.Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
		cancel()
		if err == nil {
			seen[r.ServedBy]++
		}
	}
	return seen
}

func TestDialRejectsTargetsNotOfTheTianshuForm(t *testing.T) {
	reg := newRegistry(t)
	for _, target := range []string{"dns:///orders", "orders", "tianshu://host/orders", "tianshu:///", "tianshu:///a/b", "tianshu:///orders?x=1", "tianshu:///bad name"} {
		_, err := rpc.Dial(context.Background(), target, rpc.WithDiscovery(reg))
		if !errors.Is(err, rpc.ErrInvalidTarget) || !strings.Contains(err.Error(), "tianshu:///<service>") {
			t.Errorf("Dial(%q) = %v, want ErrInvalidTarget naming tianshu:///<service>", target, err)
		}
	}
}

func TestDialWithoutDiscoverySaysWhatToPass(t *testing.T) {
	_, err := rpc.Dial(context.Background(), "tianshu:///orders")
	if !errors.Is(err, rpc.ErrNoDiscovery) || !strings.Contains(err.Error(), "rpc.WithDiscovery") {
		t.Fatalf("Dial without discovery = %v, want ErrNoDiscovery naming rpc.WithDiscovery", err)
	}
}

func TestCallsReachEveryProviderAndFollowTheRegistry(t *testing.T) {
	reg := newRegistry(t)
	startProvider(t, reg, "echo", "a", 0)
	c := dial(t, reg, "echo")
	callUntil(t, c, "a", func(s map[string]int) bool { return s["a"] > 0 })

	b := startProvider(t, reg, "echo", "b", 0)
	callUntil(t, c, "a and b", func(s map[string]int) bool { return s["a"] > 0 && s["b"] > 0 })

	_ = b.Shutdown(context.Background())
	// After b's shutdown every call goes to a.
	for i := range 20 {
		r, err := c.Echo(context.Background(), &testpb.EchoRequest{})
		if err != nil || r.ServedBy != "a" {
			t.Fatalf("call %d after b stopped = %v, %v; want a", i, r, err)
		}
	}
}

func TestShutdownUnderLoadLosesNoCall(t *testing.T) {
	reg := newRegistry(t)
	a := startProvider(t, reg, "echo", "a", 5*time.Millisecond)
	startProvider(t, reg, "echo", "b", 5*time.Millisecond)
	c := dial(t, reg, "echo")
	callUntil(t, c, "a and b", func(s map[string]int) bool { return s["a"] > 0 && s["b"] > 0 })

	var calls, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				calls.Add(1)
				if _, err := c.Echo(context.Background(), &testpb.EchoRequest{}); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	// Shutdown reports no error (a failed deregistration is logged); what it promises is
	// that the instance has left the registry by the time it returns.
	_ = a.Shutdown(context.Background())
	if list, err := reg.GetService(context.Background(), "echo"); err != nil || !registrytest.HasIDs("b")(list) {
		t.Fatalf("after a's Shutdown the registry lists %s, %v; want only b", registrytest.IDs(list), err)
	}
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d calls failed while a provider shut down; first: %v", failed.Load(), calls.Load(), firstErr.Load())
	}
	t.Logf("%d calls, none failed", calls.Load())
}

func TestHealthIsServingOnlyBetweenServeAndShutdown(t *testing.T) {
	reg := newRegistry(t)
	srv := startProvider(t, reg, "echo", "a", 0)
	in := srv.Instance()
	if in == nil {
		// Serve has not run yet; wait for the registration instead.
		w, _ := reg.Watch(context.Background(), "echo")
		for list, _ := w.Next(); len(list) == 0; list, _ = w.Next() {
		}
		_ = w.Stop()
		in = srv.Instance()
	}
	conn, err := grpc.NewClient(in.Endpoints[0].Addr(), grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	check := func() healthpb.HealthCheckResponse_ServingStatus {
		r, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: testpb.Echo_ServiceDesc.ServiceName})
		if err != nil {
			return healthpb.HealthCheckResponse_UNKNOWN
		}
		return r.Status
	}
	if s := check(); s != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health while serving = %v, want SERVING", s)
	}
	done := make(chan struct{})
	go func() { _ = srv.Shutdown(context.Background()); close(done) }()
	// During the deregister delay the server still answers, and says NOT_SERVING.
	deadline := time.Now().Add(5 * time.Second)
	for s := check(); s == healthpb.HealthCheckResponse_SERVING; s = check() {
		if time.Now().After(deadline) {
			t.Fatal("health never left SERVING during shutdown")
		}
	}
	<-done
	list, _ := reg.GetService(context.Background(), "echo")
	if len(list) != 0 {
		t.Fatalf("after Shutdown the registry lists %v", list)
	}
}

func TestPanickingHandlerAnswersInternal(t *testing.T) {
	reg := newRegistry(t)
	startProvider(t, reg, "echo", "a", 0, rpc.WithServerLogger(discardLogger()))
	c := dial(t, reg, "echo")
	_, err := c.Echo(context.Background(), &testpb.EchoRequest{Payload: []byte("panic")}, grpc.WaitForReady(true))
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("call to a panicking handler = %v, want Internal naming the panic", err)
	}
	if _, err := c.Echo(context.Background(), &testpb.EchoRequest{}); err != nil {
		t.Fatalf("the server did not survive the panic: %v", err)
	}
}

// sickRegistrar fails the first n registrations, as a registry that is still starting.
type sickRegistrar struct {
	registry.Registry
	left atomic.Int32
}

func (s *sickRegistrar) Register(ctx context.Context, in *registry.Instance) error {
	if s.left.Add(-1) >= 0 {
		return fmt.Errorf("sick: %w", registry.ErrUnavailable)
	}
	return s.Registry.Register(ctx, in)
}

func TestRegistrationIsRetriedUntilTheRegistryAnswers(t *testing.T) {
	reg := newRegistry(t)
	sick := &sickRegistrar{Registry: reg}
	sick.left.Store(3)
	startProvider(t, sick, "echo", "a", 0, rpc.WithServerLogger(discardLogger()))
	callUntil(t, dial(t, reg, "echo"), "a", func(s map[string]int) bool { return s["a"] > 0 })
}

func TestCallsToAServiceWithNoInstanceSaySo(t *testing.T) {
	reg := newRegistry(t)
	c := dial(t, reg, "nobody")
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err = c.Echo(context.Background(), &testpb.EchoRequest{}); strings.Contains(fmt.Sprint(err), "no instance") {
			break
		}
	}
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), `no instance of "nobody"`) {
		t.Fatalf("call with no instance = %v, want Unavailable naming the service", err)
	}
}

func TestAWaitForReadyCallMadeBeforeAnyProviderWaitsForOne(t *testing.T) {
	reg := newRegistry(t)
	c := dial(t, reg, "echo")
	// Make sure the channel has seen the empty list first.
	_, _ = c.Echo(context.Background(), &testpb.EchoRequest{})
	got := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		r, err := c.Echo(ctx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
		if err == nil && r.ServedBy != "late" {
			err = fmt.Errorf("served by %q, want late", r.ServedBy)
		}
		got <- err
	}()
	time.Sleep(200 * time.Millisecond) // the call is waiting; the assertion does not depend on it
	startProvider(t, reg, "echo", "late", 0)
	if err := <-got; err != nil {
		t.Fatalf("wait-for-ready call = %v, want it served once a provider registered", err)
	}
}

func TestDialRejectsAnUnknownBalancerListingTheNames(t *testing.T) {
	_, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(newRegistry(t)), rpc.WithBalancer("nope"))
	if !errors.Is(err, rpc.ErrUnknownBalancer) {
		t.Fatalf("Dial with balancer nope = %v, want ErrUnknownBalancer", err)
	}
	for _, name := range loadbalance.Names() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("Dial's error %q does not list %s", err, name)
		}
	}
}

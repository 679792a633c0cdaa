package loadbalance

import (
	"context"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// backend is a real gRPC server on loopback serving grpc.testing.TestService/EmptyCall.
type backend struct {
	testpb.UnimplementedTestServiceServer
	addr    string
	srv     *grpc.Server
	calls   atomic.Int64
	accepts atomic.Int64
	delay   atomic.Int64 // time.Duration added to each call
	fail    atomic.Int32 // codes.Code returned by each call, OK for none
}

func (b *backend) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	b.calls.Add(1)
	if d := time.Duration(b.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	if c := codes.Code(b.fail.Load()); c != codes.OK {
		return nil, status.Error(c, "told to fail")
	}
	return &testpb.Empty{}, nil
}

// countingListener counts accepted connections, to see whether the client reconnected.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func startBackends(t testing.TB, n int) []*backend {
	t.Helper()
	bs := make([]*backend, n)
	for i := range bs {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen on loopback: %v", err)
		}
		b := &backend{addr: lis.Addr().String(), srv: grpc.NewServer()}
		testpb.RegisterTestServiceServer(b.srv, b)
		go b.srv.Serve(countingListener{lis, &b.accepts})
		t.Cleanup(b.srv.Stop)
		bs[i] = b
	}
	return bs
}

// endpointOf is what package rpc's resolver reports for an instance: an Endpoint with the
// instance in its attributes, and no Addresses in the resolver state.
func endpointOf(b *backend, in registry.Instance) resolver.Endpoint {
	if in.ID == "" {
		in.ID = b.addr
	}
	in.Service = "svc"
	return WithInstance(resolver.Endpoint{Addresses: []resolver.Address{{Addr: b.addr}}}, &in)
}

// dial connects through a manual resolver that reports eps, with the given service config.
func dial(t testing.TB, serviceConfig string, eps []resolver.Endpoint) (testpb.TestServiceClient, *manual.Resolver) {
	t.Helper()
	r := manual.NewBuilderWithScheme("lbtest")
	r.InitialState(resolver.State{Endpoints: eps})
	cc, err := grpc.NewClient(r.Scheme()+":///svc",
		grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(serviceConfig))
	if err != nil {
		t.Fatalf("grpc.NewClient: %v", err)
	}
	t.Cleanup(func() { cc.Close() })
	return testpb.NewTestServiceClient(cc), r
}

// waitAllServed makes calls until every backend has answered one, so that every endpoint
// is ready before a test starts counting; then it resets the counters.
func waitAllServed(t testing.TB, c testpb.TestServiceClient, bs []*backend) {
	t.Helper()
	waitAllServedCtx(t, context.Background(), c, bs)
}

func waitAllServedCtx(t testing.TB, ctx context.Context, c testpb.TestServiceClient, bs []*backend) {
	t.Helper()
	for _, b := range bs {
		b.calls.Store(0)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		all := true
		for _, b := range bs {
			all = all && b.calls.Load() > 0
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not every backend got a call within 20s: %v", callCounts(bs))
		}
		_ = emptyCall(ctx, c)
	}
	for _, b := range bs {
		b.calls.Store(0)
	}
}

func callCounts(bs []*backend) []int64 {
	out := make([]int64, len(bs))
	for i, b := range bs {
		out[i] = b.calls.Load()
	}
	return out
}

func emptyCall(ctx context.Context, c testpb.TestServiceClient) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := c.EmptyCall(ctx, &testpb.Empty{})
	return err
}

func instance(weight int, zone, version, tag string) registry.Instance {
	in := registry.Instance{Weight: weight, Zone: zone, Version: version}
	if tag != "" {
		in.Metadata = map[string]string{DefaultTagKey: tag}
	}
	return in
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(fmt.Errorf("call failed: %w", err))
	}
}

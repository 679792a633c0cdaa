package loadbalance

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/balancer/endpointsharding"
	"google.golang.org/grpc/balancer/roundrobin"
	"google.golang.org/grpc/connectivity"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"

	"github.com/tianshu-go/tianshu/internal/pairbench"
)

// captured holds the latest picker of each capturing balancer, by name. Benchmarks only.
var captured sync.Map // string -> balancer.Picker

// capture wraps a registered balancer so that a benchmark can call its picker directly.
type capture struct{ inner balancer.Builder }

func (c capture) Name() string { return "capture_" + c.inner.Name() }

func (c capture) Build(cc balancer.ClientConn, opts balancer.BuildOptions) balancer.Balancer {
	return c.inner.Build(captureCC{cc, c.Name()}, opts)
}

func (c capture) ParseConfig(js json.RawMessage) (serviceconfig.LoadBalancingConfig, error) {
	if p, ok := c.inner.(balancer.ConfigParser); ok {
		return p.ParseConfig(js)
	}
	return nil, nil
}

type captureCC struct {
	balancer.ClientConn
	name string
}

func (c captureCC) UpdateState(s balancer.State) {
	if s.ConnectivityState == connectivity.Ready {
		captured.Store(c.name, s.Picker)
	}
	c.ClientConn.UpdateState(s)
}

func init() {
	for _, name := range append(Names(), roundrobin.Name) {
		balancer.Register(capture{balancer.Get(name)})
	}
}

// readyEndpoints counts the ready endpoints a captured picker spreads over.
func readyEndpoints(p balancer.Picker) int {
	if lp, ok := p.(*picker); ok {
		return len(lp.eps)
	}
	n := 0
	for _, c := range endpointsharding.ChildStatesFromPicker(p) {
		if c.State.ConnectivityState == connectivity.Ready {
			n++
		}
	}
	return n
}

// pickerOver dials n endpoints (one server listening on n loopback ports) through the named
// balancer and returns its picker once every endpoint is ready.
func pickerOver(b *testing.B, name string, n int) balancer.Picker {
	srv := grpc.NewServer()
	testpb.RegisterTestServiceServer(srv, &backend{})
	b.Cleanup(srv.Stop)
	eps := make([]resolver.Endpoint, n)
	for i := range eps {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(lis)
		eps[i] = endpointOf(&backend{addr: lis.Addr().String()}, instance(50+50*(i%3), "", "", ""))
	}
	wrapped := "capture_" + name
	captured.Delete(wrapped)
	c, _ := dial(b, ServiceConfig(wrapped), eps)
	_ = emptyCall(context.Background(), c)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if p, ok := captured.Load(wrapped); ok && readyEndpoints(p.(balancer.Picker)) == n {
			return p.(balancer.Picker)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d endpoints not all ready within 30s", name, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkPicker measures Pick (and the Done that ends the call) of each balancer's picker
// over 10 and 100 ready endpoints on real connections, beside grpc's round_robin picker.
//
//	go test -run '^$' -bench Picker -benchmem -benchtime=1s -count=3 ./loadbalance/
func BenchmarkPicker(b *testing.B) {
	for _, n := range []int{10, 100} {
		for _, name := range append([]string{roundrobin.Name}, Names()...) {
			b.Run(fmt.Sprintf("%s/n=%d", name, n), func(b *testing.B) {
				p := pickerOver(b, name, n)
				info := balancer.PickInfo{FullMethodName: "/grpc.testing.TestService/EmptyCall", Ctx: context.Background()}
				done := balancer.DoneInfo{BytesSent: true, BytesReceived: true}
				b.ReportAllocs()
				for b.Loop() {
					res, err := p.Pick(info)
					if err != nil {
						b.Fatal(err)
					}
					if res.Done != nil {
						res.Done(done)
					}
				}
			})
		}
	}
}

// BenchmarkEcho measures whole unary calls over three loopback endpoints through each
// balancer, beside grpc-go's round_robin on its own three endpoints: the two alternate
// rounds of calls (16 per core in flight, closed loop), and x-round_robin is the median of
// the rounds' throughput ratios (pairbench.Compare). The round_robin case, against a
// second round_robin channel, measures the method's noise.
//
//	go test -run '^$' -bench Echo -benchmem -benchtime=60000x -count=3 ./loadbalance/
func BenchmarkEcho(b *testing.B) {
	for _, name := range append([]string{roundrobin.Name}, Names()...) {
		b.Run(name, func(b *testing.B) {
			base, subject := echoChannel(b, roundrobin.Name), echoChannel(b, name)
			o := pairbench.Options{Concurrency: 16 * runtime.GOMAXPROCS(0), Unit: roundrobin.Name}
			pairbench.Compare(b, o, base, subject)
		})
	}
}

// echoChannel returns a call through balancer name over three new loopback backends.
func echoChannel(b *testing.B, name string) func() error {
	bs := startBackends(b, 3)
	c, _ := dial(b, ServiceConfig(name), []resolver.Endpoint{
		endpointOf(bs[0], instance(0, "", "", "")), endpointOf(bs[1], instance(0, "", "", "")),
		endpointOf(bs[2], instance(0, "", "", ""))})
	waitAllServed(b, c, bs)
	return func() error {
		_, err := c.EmptyCall(context.Background(), &testpb.Empty{})
		return err
	}
}

package loadbalance

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/balancer"
	"google.golang.org/grpc/credentials/insecure"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/tianshu-go/tianshu/rules"
)

// rulesPickerOver is pickerOver with the rules of store attached to the resolver state,
// and every endpoint of version v1 but the first ten, of v2.
func rulesPickerOver(b *testing.B, name string, n int, store *rules.Store) balancer.Picker {
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
		v := "v1"
		if i < 10 {
			v = "v2"
		}
		in := instance(50+50*(i%3), "", v, "")
		in.ID = fmt.Sprintf("i%d", i)
		eps[i] = endpointOf(&backend{addr: lis.Addr().String()}, in)
	}
	wrapped := "capture_" + name
	captured.Delete(wrapped)
	r := manual.NewBuilderWithScheme("lbrules")
	r.InitialState(WithRules(resolver.State{Endpoints: eps}, store, "svc"))
	cc, err := grpc.NewClient(r.Scheme()+":///svc", grpc.WithResolvers(r),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(ServiceConfig(wrapped)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cc.Close() })
	_ = emptyCall(context.Background(), testpb.NewTestServiceClient(cc))
	deadline := time.Now().Add(30 * time.Second)
	for {
		// 9 of the n endpoints are out of traffic.
		if p, ok := captured.Load(wrapped); ok && readyEndpoints(p.(balancer.Picker)) == n {
			return p.(balancer.Picker)
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: %d endpoints not all ready within 30s", name, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// BenchmarkPickerRules measures Pick + Done of the P2C and round-robin pickers over 100
// ready endpoints with 28 rules in force (18 instance overrides, 9 of them out of traffic,
// and 10 routes, the call matching the last), beside the same pickers without rules in the
// same run. The routes match on a metadata key the call carries, or on the call's tag
// (WithTag).
//
//	go test -run '^$' -bench PickerRules -benchmem -count=3 ./loadbalance/
func BenchmarkPickerRules(b *testing.B) {
	store := func(match func(i int) rules.Match) *rules.Store {
		var svc rules.Service
		for i := range 18 {
			in := rules.Instance{ID: fmt.Sprintf("i%d", 10+i*5), Weight: 70}
			if i%2 == 0 {
				in = rules.Instance{ID: in.ID, Out: true}
			}
			svc.Instances = append(svc.Instances, in)
		}
		for i := range 10 {
			svc.Routes = append(svc.Routes, rules.Route{
				Match: match(i),
				To:    []rules.Destination{{Version: "v2", Weight: 20}, {Version: "v1", Weight: 80}},
			})
		}
		st, err := rules.NewStore(&rules.Rules{Services: map[string]rules.Service{"svc": svc}})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	cases := []struct {
		name  string
		store *rules.Store
		ctx   context.Context
	}{
		{"none", nil, context.Background()},
		{"metadata_routes", store(func(i int) rules.Match { return rules.Match{Header: "x-canary", Value: fmt.Sprintf("c%d", i)} }),
			metadata.NewOutgoingContext(context.Background(), metadata.Pairs("x-canary", "c9"))},
		{"tag_routes", store(func(i int) rules.Match { return rules.Match{Tag: fmt.Sprintf("t%d", i)} }),
			WithTag(context.Background(), "t9")},
	}
	for _, name := range []string{P2C, RoundRobin} {
		for _, c := range cases {
			b.Run(fmt.Sprintf("%s/rules=%s", name, c.name), func(b *testing.B) {
				var p balancer.Picker
				if c.store != nil {
					p = rulesPickerOver(b, name, 100, c.store)
				} else {
					p = pickerOver(b, name, 100)
				}
				info := balancer.PickInfo{FullMethodName: "/grpc.testing.TestService/EmptyCall", Ctx: c.ctx}
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

package breaker

import (
	"context"
	"testing"
	"time"

	"github.com/afex/hystrix-go/hystrix"
	"google.golang.org/grpc"
)

// Benchmarks of one guarded call (Allow then done, the upstream answering at once and
// healthily), with their baselines and hystrix-go in this file so that the ratios come from
// one run on one machine:
//
//	go test -run '^$' -bench . -benchmem -benchtime=1s -count=3 ./breaker/

var sink bool

// BenchmarkBaselineNoBreaker is the floor: the call site's own func call.
func BenchmarkBaselineNoBreaker(b *testing.B) {
	done := func(ok bool) { sink = ok }
	for b.Loop() {
		done(true)
	}
}

// BenchmarkBaselineTimeNow is what reading the system clock once per call would add.
func BenchmarkBaselineTimeNow(b *testing.B) {
	for b.Loop() {
		sink = time.Now().IsZero()
	}
}

func benchBreaker(b *testing.B, br Breaker) {
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(true)
	}
}

func benchBreakerParallel(b *testing.B, br Breaker) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done, err := br.Allow()
			if err != nil {
				b.Error(err)
				return
			}
			done(true)
		}
	})
}

func newBenchAdaptive(b *testing.B, clk Clock) *Adaptive {
	br, err := NewAdaptive("bench", WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func newBenchCircuit(b *testing.B, clk Clock) *Circuit {
	br, err := NewCircuit("bench", WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	return br
}

func coarse(b *testing.B) Clock {
	c := NewCoarseClock(0)
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkAdaptive(b *testing.B) { benchBreaker(b, newBenchAdaptive(b, coarse(b))) }
func BenchmarkAdaptiveParallel(b *testing.B) {
	benchBreakerParallel(b, newBenchAdaptive(b, coarse(b)))
}

// BenchmarkAdaptiveSystemClock shows what the coarse clock saves: the same breaker reading the
// system clock in Allow and in done.
func BenchmarkAdaptiveSystemClock(b *testing.B) { benchBreaker(b, newBenchAdaptive(b, SystemClock())) }

func BenchmarkCircuit(b *testing.B) { benchBreaker(b, newBenchCircuit(b, coarse(b))) }
func BenchmarkCircuitParallel(b *testing.B) {
	benchBreakerParallel(b, newBenchCircuit(b, coarse(b)))
}

func BenchmarkCircuitCountWindow(b *testing.B) {
	br, err := NewCircuit("bench", WithClock(coarse(b)), WithCountWindow(100))
	if err != nil {
		b.Fatal(err)
	}
	benchBreaker(b, br)
}

// BenchmarkHystrixDo is hystrix-go's own API guarding the same empty call. Each Do starts two
// goroutines.
func BenchmarkHystrixDo(b *testing.B) {
	name := "bench-do-" + b.Name()
	hystrix.ConfigureCommand(name, hystrix.CommandConfig{Timeout: 10000, MaxConcurrentRequests: 10000})
	b.ReportAllocs()
	for b.Loop() {
		if err := hystrix.Do(name, func() error { return nil }, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHystrixDoParallel(b *testing.B) {
	name := "bench-do-parallel-" + b.Name()
	hystrix.ConfigureCommand(name, hystrix.CommandConfig{Timeout: 10000, MaxConcurrentRequests: 10000})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := hystrix.Do(name, func() error { return nil }, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkUnaryInterceptor is the interceptor's own cost around an invoker that returns at
// once: the group lookup by method, Allow, the failure check and done.
func BenchmarkUnaryInterceptor(b *testing.B) {
	g, err := NewGroup(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { g.Close() })
	ic := UnaryClientInterceptor(g)
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil }
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := ic(ctx, "/pkg.Service/Method", nil, nil, nil, invoker); err != nil {
			b.Fatal(err)
		}
	}
}

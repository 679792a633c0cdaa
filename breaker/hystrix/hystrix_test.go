package hystrix

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	hx "github.com/afex/hystrix-go/hystrix"
	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/breaker"
)

// hystrix-go starts two goroutines per circuit that never end; everything else must.
var hystrixForever = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/afex/hystrix-go/hystrix.(*metricExchange).Monitor"),
	goleak.IgnoreTopFunction("github.com/afex/hystrix-go/hystrix.(*poolMetrics).Monitor"),
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, hystrixForever...) }

// eventually polls cond for up to 10s: hystrix updates its metrics on a goroutine of its own.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10s: %s", what)
		}
	}
}

func TestAdapterOpensAfterHystrixVolumeOfFailures(t *testing.T) {
	b := New(t.Name(), &hx.CommandConfig{RequestVolumeThreshold: 5, ErrorPercentThreshold: 50, SleepWindow: 60000,
		MaxConcurrentRequests: 100, Timeout: 10000})
	var err error
	eventually(t, "the circuit has not opened", func() bool {
		var done func(bool)
		done, err = b.Allow()
		if err != nil {
			return true
		}
		done(false)
		return false
	})
	if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, hx.ErrCircuitOpen) {
		t.Fatalf("err = %v, want it to wrap breaker.ErrOpen and hystrix.ErrCircuitOpen", err)
	}
	var open *breaker.OpenError
	if !errors.As(err, &open) || open.Name != t.Name() {
		t.Fatalf("err = %v, want an OpenError naming %s", err, t.Name())
	}
	if s := b.Stats(); s.State != breaker.Open || s.Rejected == 0 {
		t.Fatalf("stats = %+v, want open with rejections", s)
	}
}

func TestAdapterHoldsAHystrixTicketUntilDone(t *testing.T) {
	b := New(t.Name(), &hx.CommandConfig{MaxConcurrentRequests: 2, Timeout: 60000})
	d1, err1 := b.Allow()
	d2, err2 := b.Allow()
	_, err3 := b.Allow()
	if err1 != nil || err2 != nil || !errors.Is(err3, hx.ErrMaxConcurrency) {
		t.Fatalf("errors %v, %v, %v; want two calls through and the third refused for concurrency", err1, err2, err3)
	}
	d1(true)
	eventually(t, "the ticket was not returned", func() bool {
		d, err := b.Allow()
		if err == nil {
			d(true)
		}
		return err == nil
	})
	d2(true)
}

func TestAdapterSurvivesManyConcurrentCalls(t *testing.T) {
	b := New(t.Name(), &hx.CommandConfig{MaxConcurrentRequests: 1000, Timeout: 60000})
	var wg sync.WaitGroup
	for i := range 500 {
		wg.Go(func() {
			if done, err := b.Allow(); err == nil {
				done(i%2 == 0)
			}
		})
	}
	wg.Wait()
}

func TestFactoryFeedsAGroup(t *testing.T) {
	g, err := breaker.NewGroup(Factory(nil))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	b, err := g.Get(t.Name())
	if err != nil {
		t.Fatal(err)
	}
	done, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	done(true)
}

// A hystrix command guarded by hand.
func ExampleNew() {
	b := New("example-inventory", &hx.CommandConfig{Timeout: 2000, MaxConcurrentRequests: 100})
	done, err := b.Allow()
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	done(true)
	fmt.Println(b.Stats().State)
	// Output: closed
}

// go test -run '^$' -bench . -benchmem -benchtime=1s -count=3 ./breaker/hystrix/
// The adapter against the native adaptive breaker it stands in for (hystrix-go's own Do is measured beside the
// native breakers in package breaker).

func BenchmarkNativeAdaptive(b *testing.B) {
	clk := breaker.NewCoarseClock(0)
	b.Cleanup(func() { clk.Close() })
	br, err := breaker.NewAdaptive("bench", breaker.WithClock(clk))
	if err != nil {
		b.Fatal(err)
	}
	benchGuard(b, br)
}

func BenchmarkAdapter(b *testing.B) {
	benchGuard(b, New("bench-adapter", &hx.CommandConfig{Timeout: 10000, MaxConcurrentRequests: 10000}))
}

func benchGuard(b *testing.B, br breaker.Breaker) {
	b.ReportAllocs()
	for b.Loop() {
		done, err := br.Allow()
		if err != nil {
			b.Fatal(err)
		}
		done(true)
	}
}

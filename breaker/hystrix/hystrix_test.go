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

// TestAdapterHoldsOneTicketPerConcurrentCallAndReturnsEach: as many calls as the command
// allows, all in flight at once, are all let through (one ticket each), and once every done
// has run, all the tickets come back for a second round.
func TestAdapterHoldsOneTicketPerConcurrentCallAndReturnsEach(t *testing.T) {
	const calls = 200
	// Half the calls fail; a volume threshold above the calls made keeps the circuit closed,
	// so that only the concurrency limit can refuse a call.
	// hystrix keeps a command's settings and tickets for the process: a name of its own per
	// run keeps -count=N from meeting the tickets of the run before.
	name := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	b := New(name, &hx.CommandConfig{MaxConcurrentRequests: calls, Timeout: 60000, RequestVolumeThreshold: 10 * calls})
	var wg sync.WaitGroup
	allIn := make(chan struct{})
	refused := make(chan error, calls)
	var admitted sync.WaitGroup
	admitted.Add(calls)
	for i := range calls {
		wg.Go(func() {
			done, err := b.Allow()
			admitted.Done()
			if err != nil {
				refused <- err
				return
			}
			<-allIn // hold the ticket until every call has asked for one
			done(i%2 == 0)
		})
	}
	admitted.Wait()
	close(allIn)
	wg.Wait()
	close(refused)
	for err := range refused {
		t.Fatalf("a call within MaxConcurrentRequests (%d) was refused: %v", calls, err)
	}
	if s := b.Stats(); s.State != breaker.Closed || s.Rejected != 0 {
		t.Fatalf("stats = %+v, want closed with no rejection", s)
	}

	// hystrix returns a ticket on its own goroutine after done; a ticket lost or held twice
	// would leave fewer than calls to take.
	eventually(t, "all the tickets were not returned", func() bool {
		var held []func(bool)
		defer func() {
			for _, done := range held {
				done(true)
			}
		}()
		for range calls {
			done, err := b.Allow()
			if err != nil {
				return false
			}
			held = append(held, done)
		}
		return true
	})
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

// go test -run '^$' -bench . -benchmem -benchtime=1s -count=3 ./breaker/hystrix/ The adapter
// against the native adaptive breaker it stands in for (hystrix-go's own Do is measured beside
// the native breakers in package breaker).

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

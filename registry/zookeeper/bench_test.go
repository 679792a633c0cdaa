package zookeeper_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// Each benchmark runs against the real ZooKeeper beside its baseline, the in-process memory
// registry: the difference is the cost of ZooKeeper (a write, a watch event, a read).

// BenchmarkRegisterToNotified measures the time from Register on a provider's Registry to
// the change being returned by Next of a watcher on a consumer's Registry, and reports its
// p50 and p99 (goal on loopback: p99 under 50 ms).
func BenchmarkRegisterToNotified(b *testing.B) {
	for _, name := range []string{"zookeeper", "memory-baseline"} {
		b.Run(name, func(b *testing.B) {
			var prov, cons registry.Registry
			if name == "zookeeper" {
				srv := zkServer.Get(b)
				prov, cons = open(b, srv.Addr), open(b, srv.Addr)
			} else {
				m := memory.New()
				b.Cleanup(func() { _ = m.Close() })
				prov, cons = m, m
			}
			ctx := context.Background()
			svc := registrytest.ServiceName(b)
			w, err := cons.Watch(ctx, svc)
			if err != nil {
				b.Fatal(err)
			}
			defer w.Stop()
			if _, err := w.Next(); err != nil {
				b.Fatal(err)
			}
			in := registrytest.NewInstance(svc, "i-1", 7001)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				in.Weight = i%1000 + 1 // every registration is a change
				start := time.Now()
				if err := prov.Register(ctx, in); err != nil {
					b.Fatal(err)
				}
				for {
					list, err := w.Next()
					if err != nil {
						b.Fatal(err)
					}
					if len(list) == 1 && list[0].Weight == in.Weight {
						break
					}
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	}
}

// BenchmarkScale registers 1,000 services of 5 instances each, then measures how long one
// new consumer takes to watch all of them until every watcher has returned its full list,
// and how much heap that consumer holds. Run it with -benchtime=1x; it is skipped with -short.
func BenchmarkScale(b *testing.B) {
	if testing.Short() {
		b.Skip("registers 5,000 instances")
	}
	const services, perService = 1000, 5
	for _, name := range []string{"zookeeper", "memory-baseline"} {
		b.Run(name, func(b *testing.B) {
			var prov registry.Registry
			var openConsumer func() registry.Registry
			if name == "zookeeper" {
				srv := zkServer.Get(b)
				prov = open(b, srv.Addr)
				openConsumer = func() registry.Registry { return open(b, srv.Addr) }
			} else {
				m := memory.New()
				b.Cleanup(func() { _ = m.Close() })
				prov, openConsumer = m, func() registry.Registry { return m }
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			prefix := registrytest.ServiceName(b)
			names := make([]string, services)
			var wg sync.WaitGroup
			sem := make(chan struct{}, 64)
			for s := range services {
				names[s] = fmt.Sprintf("%s-%04d", prefix, s)
				for i := range perService {
					sem <- struct{}{}
					wg.Go(func() {
						defer func() { <-sem }()
						if err := prov.Register(ctx, registrytest.NewInstance(names[s], fmt.Sprintf("i-%d", i), 7000+i)); err != nil {
							b.Error(err)
						}
					})
				}
			}
			wg.Wait()
			if b.Failed() {
				return
			}
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				b.StartTimer()
				start := time.Now()
				cons := openConsumer()
				watchers := make([]registry.Watcher, services)
				var wg sync.WaitGroup
				for s := range services {
					sem <- struct{}{}
					wg.Go(func() {
						defer func() { <-sem }()
						w, err := cons.Watch(ctx, names[s])
						if err != nil {
							b.Error(err)
							return
						}
						watchers[s] = w
						for {
							list, err := w.Next()
							if err != nil {
								b.Error(err)
								return
							}
							if len(list) == perService {
								return
							}
						}
					})
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				b.ReportMetric(elapsed.Seconds()*1000, "ms-to-full-lists")
				b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/(1<<20), "consumer-heap-MiB")
				for _, w := range watchers {
					if w != nil {
						_ = w.Stop()
					}
				}
				if name == "zookeeper" {
					_ = cons.Close()
				}
				b.StartTimer()
			}
		})
	}
}

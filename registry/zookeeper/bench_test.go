package zookeeper_test

import (
	"context"
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
			registrytest.ReportLatencies(b, "", lat)
		})
	}
}

// BenchmarkScale is registrytest's scale run on ZooKeeper: 1,000 services x 5 instances.
//
//	go test -run '^$' -bench Scale -benchtime=1x ./registry/zookeeper/
func BenchmarkScale(b *testing.B) {
	srv := zkServer.Get(b)
	registrytest.BenchmarkScale(b, registrytest.Scale{Services: 1000, PerService: 5}, "zookeeper",
		func(tb testing.TB) registry.Registry { return open(tb, srv.Addr) })
}

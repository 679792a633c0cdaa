package eureka_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/eureka"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// Figures on the 2-core development VM with the test server's settings, in the package
// documentation (doc.go) with the command that reproduces them.

// BenchmarkRegisterToNotified measures from the start of Register (an update of one
// instance's weight) to the consumer's Watcher.Next returning the new list, with the
// consumer fetching every 200 ms: about half that interval plus a round trip.
func BenchmarkRegisterToNotified(b *testing.B) {
	srv := springServers.Get(b)
	prov, cons := open(b, []string{srv.EurekaURL}), open(b, []string{srv.EurekaURL})
	svc := registrytest.ServiceName(b)
	in := registrytest.NewInstance(svc, "a", 7001)
	ctx := context.Background()
	w, err := cons.Watch(ctx, svc)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	if _, err := w.Next(); err != nil {
		b.Fatal(err)
	}
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in.Weight = i + 1
		// Samples taken back to back would start just after the fetch that ended the last
		// one and all wait a whole interval; changes land at random phases.
		b.StopTimer()
		time.Sleep(rand.N(fetchInterval))
		b.StartTimer()
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
		samples = append(samples, time.Since(start))
	}
	registrytest.ReportLatencies(b, "", samples)
	b.ReportMetric(0, "ns/op")
}

// BenchmarkScale is registrytest's 1,000 services x 5 instances row, on a server of its own.
// The provider renews every 30 s (Eureka's default: 5,000 renewals a second would measure
// the JVM); the consumer fetches every 200 ms. The server keeps changes in its delta for 5 s
// instead of 3 minutes: with the default, every delta fetched in the 3 minutes after the
// 5,000 registrations carries all of them (about 6 MB), and the notification figures
// measure that instead (p50 about 1 s, p99 about 3 s here).
func BenchmarkScale(b *testing.B) {
	srv := testenv.StartSpringServers(b,
		"--eureka.server.retention-time-in-m-s-in-delta-queue=5000",
		"--eureka.server.delta-retention-timer-interval-in-ms=1000")
	registrytest.BenchmarkScale(b, registrytest.Scale{Services: 1000, PerService: 5, Samples: 100, Dephase: fetchInterval}, "eureka",
		func(t testing.TB) registry.Registry {
			log, _ := newLog(t)
			opts := append(fast(log), eureka.WithRenewalInterval(eureka.DefaultRenewalInterval), eureka.WithLeaseDuration(eureka.DefaultLeaseDuration))
			r, err := eureka.New(context.Background(), []string{srv.EurekaURL}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = r.Close()
				if full, delta := eureka.FetchCounts(r); full+delta > 0 {
					t.Logf("a consumer made %d full and %d delta fetches", full, delta)
				}
			})
			return r
		})
}

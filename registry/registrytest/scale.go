package registrytest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
)

// Scale describes a scale run: how many services and instances a provider registers, and
// how many register-to-notified samples to take once a consumer watches them all.
type Scale struct {
	Services, PerService int
	// Samples is the number of register-to-notified measurements. Zero means 200.
	Samples int
	// Parallel bounds the concurrent Register and Watch calls. Zero means 32.
	Parallel int
	// Timeout bounds the whole run. Zero means 10 minutes.
	Timeout time.Duration
	// Dephase, for servers that push changes on a timer, is that timer's period: each
	// sample then waits a random part of it first, since samples taken back to back lock
	// onto the timer and all read its worst case.
	Dephase time.Duration
}

// BenchmarkScale registers s.Services x s.PerService instances through one handle (a
// provider process), then, b.N times, opens a new handle (a consumer process) that watches
// every service, and reports:
//
//   - ms-to-full-lists: from opening the consumer until every watcher has delivered its
//     service's full list;
//   - consumer-heap-MiB: the heap the consumer's handle and watchers hold once they have;
//   - notify-p50-ms, notify-p99-ms: while the consumer watches everything, the provider
//     changes one instance's weight (Register again), cycling through the services, and
//     each sample runs from the start of that Register to the consumer's watcher of that
//     service delivering the new weight.
//
// It runs as two sub-benchmarks: name, on handles from open (each a new handle onto the
// backend's store, as another process would open it; BenchmarkScale closes consumers, the
// caller's cleanup the rest), and memory-baseline, the same run on the in-process memory
// registry, which measures the harness itself.
func BenchmarkScale(b *testing.B, s Scale, name string, open func(testing.TB) registry.Registry) {
	if testing.Short() {
		b.Skip("a scale run registers thousands of instances; skipped under -short")
	}
	b.Run(name, func(b *testing.B) { benchmarkScale(b, s, open, true) })
	b.Run("memory-baseline", func(b *testing.B) {
		m := memory.New()
		b.Cleanup(func() { _ = m.Close() })
		benchmarkScale(b, s, func(testing.TB) registry.Registry { return m }, false)
	})
}

func benchmarkScale(b *testing.B, s Scale, open func(testing.TB) registry.Registry, closeConsumer bool) {
	if s.Samples == 0 {
		s.Samples = 200
	}
	if s.Parallel == 0 {
		s.Parallel = 32
	}
	if s.Timeout == 0 {
		s.Timeout = 10 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.Timeout)
	defer cancel()

	prov := open(b)
	prefix := ServiceName(b)
	names := make([]string, s.Services)
	instances := make([]*registry.Instance, s.Services) // the first of each, changed by the samples
	for i := range names {
		names[i] = fmt.Sprintf("%s-%04d", prefix, i)
	}
	seedStart := time.Now()
	parallel(s.Parallel, s.Services*s.PerService, func(k int) {
		svc, n := k/s.PerService, k%s.PerService
		in := NewInstance(names[svc], fmt.Sprintf("i-%d", n), 7000+n)
		if n == 0 {
			instances[svc] = in
		}
		if err := prov.Register(ctx, in); err != nil {
			b.Error(err)
		}
	})
	if b.Failed() {
		return
	}
	b.Logf("registered %d instances in %v", s.Services*s.PerService, time.Since(seedStart).Round(time.Millisecond))

	var fullMs, heapMiB float64
	var lat []time.Duration
	b.ResetTimer()
	for iter := 0; b.Loop(); iter++ {
		before := heapAlloc()
		start := time.Now()
		cons := open(b)
		watchers := make([]registry.Watcher, s.Services)
		parallel(s.Parallel, s.Services, func(i int) {
			w, err := cons.Watch(ctx, names[i])
			if err != nil {
				b.Error(err)
				return
			}
			watchers[i] = w
			for {
				list, err := w.Next()
				if err != nil {
					b.Errorf("%s: %v", names[i], err)
					return
				}
				if len(list) == s.PerService {
					return
				}
			}
		})
		fullMs += float64(time.Since(start).Milliseconds())
		after := heapAlloc()
		heapMiB += float64(after-min(before, after)) / (1 << 20)
		if b.Failed() {
			return
		}

		for k := range s.Samples {
			i := (k * 7919) % s.Services // spread over the services, a prime stride
			in := *instances[i]
			in.Weight = 1000*(iter+1) + k + 1
			if s.Dephase > 0 {
				b.StopTimer()
				time.Sleep(rand.N(s.Dephase))
				b.StartTimer()
			}
			begin := time.Now()
			if err := prov.Register(ctx, &in); err != nil {
				b.Fatal(err)
			}
			for {
				list, err := watchers[i].Next()
				if err != nil {
					b.Fatalf("%s: %v", names[i], err)
				}
				if j := slices.IndexFunc(list, func(x *registry.Instance) bool { return x.ID == in.ID }); j >= 0 && list[j].Weight == in.Weight {
					break
				}
			}
			lat = append(lat, time.Since(begin))
		}
		for _, w := range watchers {
			_ = w.Stop()
		}
		if closeConsumer {
			_ = cons.Close()
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(fullMs/n, "ms-to-full-lists")
	b.ReportMetric(heapMiB/n, "consumer-heap-MiB")
	ReportLatencies(b, "notify-", lat)
}

// ReportLatencies sorts lat and reports its median and 99th percentile (nearest rank) in
// milliseconds, as <prefix>p50-ms and <prefix>p99-ms. It reports nothing for no samples.
func ReportLatencies(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(p float64) float64 {
		return float64(lat[min(int(p*float64(len(lat))), len(lat)-1)]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
}

// parallel runs f(0..n-1) on at most width goroutines.
func parallel(width, n int, f func(int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(width, n) {
		wg.Go(func() {
			for k := range next {
				f(k)
			}
		})
	}
	for k := range n {
		next <- k
	}
	close(next)
	wg.Wait()
}

func heapAlloc() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

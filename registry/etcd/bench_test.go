package etcd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// Figures on the 2-core development VM, etcd-server 3.4.23 on loopback, in docs of the
// package (doc.go) with the command that reproduces them.

// reportPercentiles reports the p50 and p99 of the samples in milliseconds.
func reportPercentiles(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	at := func(p float64) float64 {
		i := min(int(p*float64(len(samples))), len(samples)-1)
		return float64(samples[i]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkRegisterToNotified measures from the start of Register (an update of one
// instance's weight) to the consumer's Watcher.Next returning the new list; the goal is a
// p99 under 50 ms on loopback.
func BenchmarkRegisterToNotified(b *testing.B) {
	srv := testenv.StartEtcd(b)
	prov, cons := open(b, srv), open(b, srv)
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
	reportPercentiles(b, samples)
}

// BenchmarkBaselineRawPutToWatch is the baseline: a bare etcd client's Put to another
// client's watch event on the same key, with no registry in between.
func BenchmarkBaselineRawPutToWatch(b *testing.B) {
	srv := testenv.StartEtcd(b)
	put, watch := rawClient(b, srv.Endpoint), rawClient(b, srv.Endpoint)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := watch.Watch(ctx, "/baseline/", clientv3.WithPrefix())
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		v := strconv.Itoa(i)
		start := time.Now()
		if _, err := put.Put(ctx, "/baseline/a", v); err != nil {
			b.Fatal(err)
		}
		for seen := false; !seen; {
			resp := <-ch
			for _, ev := range resp.Events {
				seen = seen || string(ev.Kv.Value) == v
			}
		}
		samples = append(samples, time.Since(start))
	}
	reportPercentiles(b, samples)
}

// BenchmarkScale1000Services5Instances measures one consumer starting to watch 1,000
// services of 5 instances each: the time until every watcher has its first full list, and
// the heap the consumer holds for them.
func BenchmarkScale1000Services5Instances(b *testing.B) {
	if testing.Short() {
		b.Skip("scale benchmark skipped under -short")
	}
	const services, perService = 1000, 5
	srv := testenv.StartEtcd(b)
	names := seedServices(b, srv, services, perService)
	ctx := context.Background()
	var full time.Duration
	var heapBytes float64
	for b.Loop() {
		before := heapInUse()
		start := time.Now()
		cons, err := etcd.New(ctx, []string{srv.Endpoint})
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, services)
		next := make(chan string)
		for range 16 {
			wg.Go(func() {
				for name := range next {
					w, err := cons.Watch(ctx, name)
					if err != nil {
						errs <- err
						continue
					}
					if list, err := w.Next(); err != nil || len(list) != perService {
						errs <- fmt.Errorf("first list of %s = %d instances, %v", name, len(list), err)
					}
				}
			})
		}
		for _, n := range names {
			next <- n
		}
		close(next)
		wg.Wait()
		full += time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		heapBytes += float64(heapInUse() - before)
		_ = cons.Close()
	}
	b.ReportMetric(float64(full.Milliseconds())/float64(b.N), "ms/full-list")
	b.ReportMetric(heapBytes/float64(b.N)/(1<<20), "MiB-heap")
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// seedServices writes services x perService instances directly, in transactions, as many
// providers would have registered them (the values are what Register stores).
func seedServices(b *testing.B, srv *testenv.Etcd, services, perService int) []string {
	cli := rawClient(b, srv.Endpoint)
	ctx := context.Background()
	names := make([]string, services)
	var ops []clientv3.Op
	flush := func() {
		if _, err := cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
		ops = ops[:0]
	}
	for s := range services {
		names[s] = fmt.Sprintf("scale-svc-%04d", s)
		for i := range perService {
			in := registrytest.NewInstance(names[s], fmt.Sprintf("i-%d", i), 7000+i)
			data, err := json.Marshal(in)
			if err != nil {
				b.Fatal(err)
			}
			ops = append(ops, clientv3.OpPut(etcd.DefaultPrefix+"/"+names[s]+"/"+in.ID, string(data)))
			if len(ops) == 100 {
				flush()
			}
		}
	}
	if len(ops) > 0 {
		flush()
	}
	return names
}

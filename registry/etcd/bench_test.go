package etcd_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// Figures on the 2-core development VM, etcd-server 3.4.23 on loopback, in docs of the
// package (doc.go) with the command that reproduces them.

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
	registrytest.ReportLatencies(b, "", samples)
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
	registrytest.ReportLatencies(b, "", samples)
}

// BenchmarkScale is registrytest's scale run on etcd: 1,000 services x 5 instances.
//
//	go test -run '^$' -bench Scale -benchtime=1x ./registry/etcd/
func BenchmarkScale(b *testing.B) {
	srv := testenv.StartEtcd(b)
	registrytest.BenchmarkScale(b, registrytest.Scale{Services: 1000, PerService: 5}, "etcd",
		func(tb testing.TB) registry.Registry { return open(tb, srv) })
}

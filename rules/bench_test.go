package rules_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/tianshu-go/tianshu/config"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/rules"
)

// The benchmarks below measure a rule written to the config center until a consumer's Store
// subscriber runs with it: the source's notification, decoding, strict key checks,
// validation and the swap. Each reports p50 and p99 over its iterations (use -benchtime=50x);
// the baselines in the same file are the same path without the rules (a one-field config
// value) and, for etcd, a bare put seen by a bare watch.

func reportLatencies(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // the latencies above are the result
}

// benchDoc is the package doc's document with the orders service's "*" timeout set to i ms,
// so that every write is a change a subscriber sees.
func benchDoc(i int) string {
	return strings.Replace(docGood, `"*": {timeout: 2s,`, fmt.Sprintf(`"*": {timeout: %dms,`, i), 1)
}

// measure writes b.N documents through write and waits for each at a Store subscriber.
func measure(b *testing.B, s *rules.Store, write func(data string)) {
	seen := make(chan time.Duration, 16)
	cancel := s.Subscribe(func(r *rules.Rules) {
		p, _ := r.PolicyFor("orders", "/shop.Orders/Cancel")
		seen <- p.Timeout
	})
	defer cancel()
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		write(benchDoc(i))
		for d := range seen {
			if d == time.Duration(i)*time.Millisecond {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	reportLatencies(b, lat)
}

func BenchmarkRuleWrittenToApplied(b *testing.B) {
	b.Run("file", func(b *testing.B) {
		benchFile(b)
	})
	b.Run("file-debounce-1ms", func(b *testing.B) {
		benchFile(b, file.WithDebounce(time.Millisecond))
	})
	b.Run("etcd", func(b *testing.B) {
		srv := testenv.StartEtcd(b)
		admin := etcdClient(b, srv.Endpoint)
		ctx := context.Background()
		if _, err := admin.Put(ctx, etcdKey, benchDoc(0)); err != nil {
			b.Fatal(err)
		}
		src, err := etcdconfig.New(etcdClient(b, srv.Endpoint), etcdKey)
		if err != nil {
			b.Fatal(err)
		}
		s, err := rules.Watch(ctx, []config.Source{src}, rules.WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		measure(b, s, func(data string) {
			if _, err := admin.Put(ctx, etcdKey, data); err != nil {
				b.Fatal(err)
			}
		})
	})
}

func benchFile(b *testing.B, opts ...file.Option) {
	path := filepath.Join(b.TempDir(), "rules.yaml")
	writeFile(b, path, benchDoc(0))
	s, err := rules.Watch(context.Background(), []config.Source{file.New(path, opts...)}, rules.WithLogger(quiet()))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	measure(b, s, func(data string) { writeFile(b, path, data) })
}

// BenchmarkBaselineConfigValue is the same write-to-observer path through config without
// the rules: a one-field value, on the same sources.
func BenchmarkBaselineConfigValue(b *testing.B) {
	type one struct{ N int }
	run := func(b *testing.B, src config.Source, write func(data string)) {
		cfg, err := config.New(context.Background(), []config.Source{src}, config.WithLogger(quiet()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cfg.Close() })
		v, err := config.Bind[one](cfg, "")
		if err != nil {
			b.Fatal(err)
		}
		seen := make(chan int, 16)
		v.OnChange(func(_, n *one) { seen <- n.N })
		var lat []time.Duration
		i := 0
		for b.Loop() {
			i++
			start := time.Now()
			write(fmt.Sprintf("n: %d\n", i))
			for n := range seen {
				if n == i {
					break
				}
			}
			lat = append(lat, time.Since(start))
		}
		reportLatencies(b, lat)
	}
	b.Run("file", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "app.yaml")
		writeFile(b, path, "n: 0\n")
		run(b, file.New(path), func(data string) { writeFile(b, path, data) })
	})
	b.Run("etcd", func(b *testing.B) {
		srv := testenv.StartEtcd(b)
		admin := etcdClient(b, srv.Endpoint)
		src, err := etcdconfig.New(etcdClient(b, srv.Endpoint), "/config/app.yaml")
		if err != nil {
			b.Fatal(err)
		}
		run(b, src, func(data string) {
			if _, err := admin.Put(context.Background(), "/config/app.yaml", data); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("etcd-bare-watch", func(b *testing.B) {
		srv := testenv.StartEtcd(b)
		admin, watcher := etcdClient(b, srv.Endpoint), etcdClient(b, srv.Endpoint)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		wch := watcher.Watch(ctx, "/bare")
		var lat []time.Duration
		i := 0
		for b.Loop() {
			i++
			start := time.Now()
			want := fmt.Sprint(i)
			if _, err := admin.Put(ctx, "/bare", want); err != nil {
				b.Fatal(err)
			}
			for resp := range wch {
				if slices.ContainsFunc(resp.Events, func(e *clientv3.Event) bool { return string(e.Kv.Value) == want }) {
					break
				}
			}
			lat = append(lat, time.Since(start))
		}
		reportLatencies(b, lat)
	})
}

package file_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// Each benchmark runs the file registry beside its baseline, the in-process memory registry:
// the difference is the cost of the directory (file writes, renames, scans, fsnotify).

// backends returns a provider and a consumer handle of each registry, sharing one store.
func benchBackends(b *testing.B) map[string]func(*testing.B) (prov, cons registry.Registry) {
	return map[string]func(*testing.B) (registry.Registry, registry.Registry){
		"file": func(b *testing.B) (registry.Registry, registry.Registry) {
			dir := b.TempDir()
			return open(b, dir), open(b, dir)
		},
		"memory-baseline": func(b *testing.B) (registry.Registry, registry.Registry) {
			r := memory.New()
			b.Cleanup(func() { _ = r.Close() })
			return r, r
		},
	}
}

// BenchmarkRegisterToNotified measures the time from Register (or Deregister) on one handle
// to the change being returned by Next of a watcher on another.
func BenchmarkRegisterToNotified(b *testing.B) {
	for _, name := range []string{"file", "memory-baseline"} {
		b.Run(name, func(b *testing.B) {
			prov, cons := benchBackends(b)[name](b)
			ctx := context.Background()
			w, err := cons.Watch(ctx, "orders")
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = w.Stop() })
			if _, err := w.Next(); err != nil {
				b.Fatal(err)
			}
			in := registrytest.NewInstance("orders", "a", 7001)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				op, want := prov.Register, 1
				if i%2 == 1 {
					op, want = prov.Deregister, 0
				}
				if err := op(ctx, in); err != nil {
					b.Fatal(err)
				}
				for {
					list, err := w.Next()
					if err != nil {
						b.Fatal(err)
					}
					if len(list) == want {
						break
					}
				}
			}
		})
	}
}

// BenchmarkGetService measures reading a service of five instances.
func BenchmarkGetService(b *testing.B) {
	for _, name := range []string{"file", "memory-baseline"} {
		b.Run(name, func(b *testing.B) {
			prov, cons := benchBackends(b)[name](b)
			ctx := context.Background()
			for i := range 5 {
				if err := prov.Register(ctx, registrytest.NewInstance("orders", fmt.Sprintf("i-%d", i), 7001+i)); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				list, err := cons.GetService(ctx, "orders")
				if err != nil || len(list) != 5 {
					b.Fatalf("GetService = %d instances, %v", len(list), err)
				}
			}
		})
	}
}

// BenchmarkScale is registrytest's scale run on one registry directory: 1,000 services x 5
// instances, each provider file heartbeated by the provider handle.
//
//	go test -run '^$' -bench Scale -benchtime=1x ./registry/file/
func BenchmarkScale(b *testing.B) {
	dir := b.TempDir()
	registrytest.BenchmarkScale(b, registrytest.Scale{Services: 1000, PerService: 5}, "file",
		func(tb testing.TB) registry.Registry { return open(tb, dir) })
}

// BenchmarkKilledProvider measures, with the default poll interval (0.5 s), how long a
// provider process killed with SIGKILL stays in the list of a watcher on its host: the figure
// the package documents as "within one poll interval". Each kill after the first follows, by
// the few milliseconds a provider process takes to start, the rescan that dropped the previous
// provider, so it waits nearly a whole interval for the next: the worst case, the bound
// itself. ns/op is the whole iteration; read drop-p50-ms and drop-max-ms.
//
//	go test -run '^$' -bench KilledProvider -benchtime=20x ./registry/file
func BenchmarkKilledProvider(b *testing.B) {
	dir := b.TempDir()
	cons := open(b, dir)
	w, err := cons.Watch(context.Background(), "orders")
	if err != nil {
		b.Fatal(err)
	}
	f := registrytest.NewFollow(b, w)
	f.Until(10*time.Second, "the first list", registrytest.HasIDs())
	var took []time.Duration
	for b.Loop() {
		cmd, id := startProvider(b, dir, "orders")
		f.Until(10*time.Second, "the new provider", registrytest.HasIDs(id))
		if err := cmd.Process.Kill(); err != nil {
			b.Fatal(err)
		}
		killed := time.Now()
		f.Until(10*time.Second, "no provider after the kill", registrytest.HasIDs())
		took = append(took, time.Since(killed))
		_ = cmd.Wait()
	}
	registrytest.ReportLatencies(b, "drop-", took)
	b.ReportMetric(float64(slices.Max(took))/float64(time.Millisecond), "drop-max-ms")
}

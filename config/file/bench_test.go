package file_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
)

func reportLatencies(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op") // wall time per op is the latency above
}

func writeAtomic(b *testing.B, path string, data []byte) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFileChangeToObserver measures the time from a file's rename-write
// to the moment a typed observer runs with the new value, through fsnotify,
// the debounce (20ms by default), decoding, validation and the swap.
func BenchmarkFileChangeToObserver(b *testing.B) {
	path := filepath.Join(b.TempDir(), "app.yaml")
	if err := os.WriteFile(path, []byte("n: 0\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg, err := config.New(context.Background(), []config.Source{file.New(path)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cfg.Close() })
	type conf struct{ N int }
	v, err := config.Bind[conf](cfg, "")
	if err != nil {
		b.Fatal(err)
	}
	seen := make(chan int, 1)
	v.OnChange(func(_, n *conf) { seen <- n.N })
	var lat []time.Duration
	i := 0
	for b.Loop() {
		i++
		start := time.Now()
		writeAtomic(b, path, fmt.Appendf(nil, "n: %d\n", i))
		for n := range seen {
			if n == i {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	reportLatencies(b, lat)
}

// BenchmarkFileChangeBaselineFsnotify is the floor: a bare fsnotify
// directory watch seeing the same rename-write, with no debounce or decoding.
func BenchmarkFileChangeBaselineFsnotify(b *testing.B) {
	dir := b.TempDir()
	path := filepath.Join(dir, "app.yaml")
	w, err := fsnotify.NewWatcher()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = w.Close() })
	if err := w.Add(dir); err != nil {
		b.Fatal(err)
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		writeAtomic(b, path, []byte("n: 1\n"))
		for ev := range w.Events {
			if ev.Name == path && ev.Has(fsnotify.Create) {
				break
			}
		}
		lat = append(lat, time.Since(start))
		// Drain the rest of this write's events before the next round.
		for drained := false; !drained; {
			select {
			case <-w.Events:
			case <-time.After(5 * time.Millisecond):
				drained = true
			}
		}
	}
	reportLatencies(b, lat)
}

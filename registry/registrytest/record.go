package registrytest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// Recorder keeps every list a watcher returns, with the time it came, so that a fault test
// can check afterwards that no list in a window lacked an instance (a published shrink).
type Recorder struct {
	mu    sync.Mutex
	lists [][]*registry.Instance
	times []time.Time
}

// Record reads w on a goroutine of its own until the test ends, when it stops w and waits
// for that goroutine. Errors other than ErrWatcherStopped are skipped.
func Record(t testing.TB, w registry.Watcher) *Recorder {
	rec := &Recorder{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			list, err := w.Next()
			if errors.Is(err, registry.ErrWatcherStopped) {
				return
			}
			if err == nil {
				rec.mu.Lock()
				rec.lists = append(rec.lists, list)
				rec.times = append(rec.times, time.Now())
				rec.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		_ = w.Stop()
		<-done
	})
	return rec
}

// Since returns the lists recorded from the i-th on, and their times.
func (rec *Recorder) Since(i int) ([][]*registry.Instance, []time.Time) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.lists[i:]), slices.Clone(rec.times[i:])
}

// Count returns how many lists were recorded so far.
func (rec *Recorder) Count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.lists)
}

// Last returns the latest list, nil before the first.
func (rec *Recorder) Last() []*registry.Instance {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.lists) == 0 {
		return nil
	}
	return rec.lists[len(rec.lists)-1]
}

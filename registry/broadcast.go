package registry

import (
	"slices"
	"sync"
)

// Broadcast holds the current instance list of one service and feeds any number of
// watchers. Backends keep one per watched service and call Set when the backend reports a
// change; each watcher then returns the newest list from Next, skipping lists it never saw
// if it falls behind, so a slow consumer never blocks the backend.
//
// The zero value is not usable; call NewBroadcast.
type Broadcast struct {
	mu      sync.Mutex
	list    []*Instance
	version uint64
	changed chan struct{} // closed and replaced on each change
	closed  bool
}

// NewBroadcast returns a Broadcast whose current list is initial (copied and sorted).
func NewBroadcast(initial []*Instance) *Broadcast {
	list := slices.Clone(initial)
	SortInstances(list)
	return &Broadcast{list: list, version: 1, changed: make(chan struct{})}
}

// Set replaces the current list and wakes the watchers, unless the list equals the current
// one. It sorts a copy; the caller may reuse list but must not change the instances in it.
// It reports whether the list changed.
func (b *Broadcast) Set(list []*Instance) bool {
	list = slices.Clone(list)
	SortInstances(list)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || EqualLists(b.list, list) {
		return false
	}
	b.list = list
	b.version++
	close(b.changed)
	b.changed = make(chan struct{})
	return true
}

// Get returns the current list. Callers must not change it.
func (b *Broadcast) Get() []*Instance {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.list
}

// Close stops every watcher of the Broadcast: their Next returns ErrWatcherStopped.
func (b *Broadcast) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.changed)
	}
}

// Watch returns a Watcher over the Broadcast. onStop, if not nil, runs once when the watcher
// is stopped, so that a backend can release the service's watch when its last watcher goes.
func (b *Broadcast) Watch(onStop func()) Watcher {
	return &broadcastWatcher{b: b, stop: make(chan struct{}), onStop: onStop}
}

type broadcastWatcher struct {
	b      *Broadcast
	seen   uint64
	stop   chan struct{}
	once   sync.Once
	onStop func()
}

func (w *broadcastWatcher) Next() ([]*Instance, error) {
	for {
		w.b.mu.Lock()
		list, version, changed, closed := w.b.list, w.b.version, w.b.changed, w.b.closed
		w.b.mu.Unlock()
		select {
		case <-w.stop:
			return nil, ErrWatcherStopped
		default:
		}
		if closed {
			return nil, ErrWatcherStopped
		}
		if version != w.seen {
			w.seen = version
			return list, nil
		}
		select {
		case <-changed:
		case <-w.stop:
			return nil, ErrWatcherStopped
		}
	}
}

func (w *broadcastWatcher) Stop() error {
	w.once.Do(func() {
		close(w.stop)
		if w.onStop != nil {
			w.onStop()
		}
	})
	return nil
}

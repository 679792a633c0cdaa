package breaker

import (
	"sync"
	"sync/atomic"
)

// Windows count finished calls as one int64 per bucket: the number of calls in the high 32
// bits and the number of marked calls (accepted ones for the adaptive breaker, failed ones for
// the circuit) in the low 32 bits, so that one atomic add records a call. A window holds far
// fewer than 2^31 calls, so the halves never carry into each other.
const (
	oneCall   = int64(1) << 32
	oneMarked = int64(1)
	lowMask   = int64(1)<<32 - 1
)

func unpack(v int64) (calls, marked uint64) {
	if v < 0 { // cannot happen with the invariants below; never report nonsense
		return 0, 0
	}
	return uint64(v >> 32), uint64(v & lowMask)
}

// window is what the circuit needs from a sliding window of finished calls.
type window interface {
	add(now int64, v int64)
	sum(now int64) int64
	reset()
}

// rolling is a time window of n buckets of width ns each. It keeps a running total beside the
// buckets so that reading the window costs one load instead of a sum over all buckets.
//
// Every add goes to the total first and to a bucket second, and expiring a bucket swaps it to
// zero and subtracts what it held from the total. So the total is never below the sum of the
// buckets and never negative, whatever the interleaving; a call racing with a bucket's expiry
// may be counted in the next lap of that bucket, which only shifts it in time by one bucket.
type rolling struct {
	width   int64
	n       int64
	epoch   atomic.Int64 // now/width of the newest bucket
	total   atomic.Int64
	mu      sync.Mutex // serialises expiry only
	buckets []atomic.Int64
}

func newRolling(span, width int64, now int64) *rolling {
	n := span / width
	w := &rolling{width: width, n: n, buckets: make([]atomic.Int64, n)}
	w.epoch.Store(now / width)
	return w
}

// advance expires the buckets that have left the window and returns the current epoch. The
// common case, time still in the newest bucket, is two loads and no lock.
func (w *rolling) advance(now int64) int64 {
	e := now / w.width
	if e == w.epoch.Load() {
		return e
	}
	return w.expire(e)
}

func (w *rolling) expire(e int64) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	cur := w.epoch.Load()
	if e <= cur {
		return cur
	}
	steps := min(e-cur, w.n)
	for i := int64(1); i <= steps; i++ {
		if x := w.buckets[(cur+i)%w.n].Swap(0); x != 0 {
			w.total.Add(-x)
		}
	}
	w.epoch.Store(e)
	return e
}

func (w *rolling) add(now int64, v int64) {
	e := w.advance(now)
	w.total.Add(v)
	w.buckets[e%w.n].Add(v)
}

func (w *rolling) sum(now int64) int64 {
	w.advance(now)
	return w.total.Load()
}

func (w *rolling) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range w.buckets {
		if x := w.buckets[i].Swap(0); x != 0 {
			w.total.Add(-x)
		}
	}
}

// counting is a window of the last n finished calls. Each call takes the next slot in a ring
// and replaces what the slot held; the total moves by the difference, so it always equals the
// sum of some recent state of the slots.
type counting struct {
	next  atomic.Uint64
	total atomic.Int64
	slots []atomic.Int64
}

func newCounting(n int) *counting { return &counting{slots: make([]atomic.Int64, n)} }

func (w *counting) add(_ int64, v int64) {
	i := (w.next.Add(1) - 1) % uint64(len(w.slots))
	if old := w.slots[i].Swap(v); old != v {
		w.total.Add(v - old)
	}
}

func (w *counting) sum(int64) int64 { return w.total.Load() }

func (w *counting) reset() {
	for i := range w.slots {
		if x := w.slots[i].Swap(0); x != 0 {
			w.total.Add(-x)
		}
	}
}

// Package stripe spreads values that every call writes over one cache line per processor,
// so that two cores serving calls do not take the line from each other on every write.
//
// On the 2-core machines of docs/benchmarks.md an atomic add to a line the other core
// wrote last costs 50-100 ns instead of a few; a call through Tianshu's client and server
// wrote such lines about ten times (in-flight counts, duration histograms). A writer picks
// the stripe of the scheduler's P it runs on; a reader sums every stripe.
package stripe

import (
	"runtime"
	"sync/atomic"
	_ "unsafe" // for go:linkname
)

// The runtime keeps procPin and procUnpin for packages outside it (go.dev/issue/67401
// lists those that use them); they are how sync.Pool finds its per-P shard. Pinning costs
// a few instructions and is undone at once: the P is a hint, and every stripe is written
// atomically, so a goroutine that moves to another P only writes a line that is not its
// own.
//
//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

// lineWords is a cache line in 8-byte words.
const lineWords = 8

// maxStripes bounds the stripes of one value: past 16 cores the memory of every striped
// histogram grows faster than the contention left to remove.
const maxStripes = 16

// Count returns the number of stripes for a value made now: GOMAXPROCS rounded up to a
// power of two, at most 16. A value keeps its count if GOMAXPROCS changes later.
func Count() int {
	n := 1
	for n < runtime.GOMAXPROCS(0) && n < maxStripes {
		n <<= 1
	}
	return n
}

// Index returns the stripe, among n (a power of two), of the P the caller runs on.
func Index(n int) int {
	p := procPin()
	procUnpin()
	return p & (n - 1)
}

// Stride returns the words a stripe of w words takes: w rounded up to whole cache lines.
func Stride(w int) int { return (w + lineWords - 1) / lineWords * lineWords }

// Int64 is a counter striped by P. Its zero value is not usable; make one with NewInt64.
type Int64 struct {
	cells []cell
}

type cell struct {
	v atomic.Int64
	_ [lineWords - 1]uint64
}

// NewInt64 returns a counter at zero with Count stripes.
func NewInt64() *Int64 { return &Int64{cells: make([]cell, Count())} }

// Add adds d to the counter.
func (c *Int64) Add(d int64) { c.cells[Index(len(c.cells))].v.Add(d) }

// Load returns the counter: the sum of its stripes, each read atomically, so a value
// written during the read may be counted or not.
func (c *Int64) Load() int64 {
	var n int64
	for i := range c.cells {
		n += c.cells[i].v.Load()
	}
	return n
}

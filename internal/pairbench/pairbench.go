// Package pairbench compares the throughput of two ways of making the same call on a noisy
// machine: it runs them in alternating rounds of closed-loop calls, so both see the same
// background load, and reports the median of the rounds' ratios, which a burst of load
// from elsewhere moves far less than a ratio of totals.
package pairbench

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Options configures Compare.
type Options struct {
	// Concurrency is the number of calls in flight (closed loop: each worker starts its
	// next call when its last returns). Zero means 100.
	Concurrency int
	// Rounds is the most rounds b.N calls are split into; fewer when b.N is small. Zero
	// means 30.
	Rounds int
	// Unit names the ratio metric, "x-" + Unit; for example "bare" reports x-bare.
	Unit string
}

// Compare makes b.N calls with subject, split into rounds, each paired with as many calls
// with base, the pair's order alternating from round to round so that neither always
// inherits the other's garbage. Both are warmed up first. It reports, for subject's rounds:
// calls/s, cpu-ns/call (the whole process's user and system CPU over the round), the
// allocations the benchmark framework counts, and x-<Unit>: the median over the rounds of
// subject's throughput over base's. A call that fails fails the benchmark.
func Compare(b *testing.B, o Options, base, subject func() error) {
	if o.Concurrency == 0 {
		o.Concurrency = 100
	}
	if o.Rounds == 0 {
		o.Rounds = 30
	}
	for _, call := range []func() error{base, subject} {
		ClosedLoop(b, o.Concurrency, 2*o.Concurrency, call)
	}
	rounds := min(o.Rounds, max(1, b.N/(10*o.Concurrency)))
	var subjectTime time.Duration
	var cpu time.Duration
	ratios := make([]float64, 0, rounds)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range rounds {
		n := b.N / rounds
		if i == rounds-1 {
			n = b.N - n*(rounds-1)
		}
		var tBase time.Duration
		runBase := func() {
			b.StopTimer()
			tBase = ClosedLoop(b, o.Concurrency, n, base)
			b.StartTimer()
		}
		if i%2 == 0 {
			runBase()
		}
		cpu0 := CPUTime()
		t := ClosedLoop(b, o.Concurrency, n, subject)
		cpu += CPUTime() - cpu0
		if i%2 == 1 {
			runBase()
		}
		subjectTime += t
		ratios = append(ratios, tBase.Seconds()/t.Seconds())
	}
	b.StopTimer()
	slices.Sort(ratios)
	b.ReportMetric(float64(b.N)/subjectTime.Seconds(), "calls/s")
	b.ReportMetric(ratios[len(ratios)/2], "x-"+o.Unit)
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/call")
}

// ClosedLoop makes n calls from concurrency goroutines, each starting its next call when
// its last returns, and returns the time they took. The first error fails tb and stops
// that worker.
func ClosedLoop(tb testing.TB, concurrency, n int, call func() error) time.Duration {
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := call(); err != nil {
					tb.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// CPUTime returns the CPU time this process has used, user and system; zero if the system
// cannot say.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Syscalls returns how many read and write system calls this process has made (syscr and
// syscw of /proc/self/io, which count every read- and write-family call, sockets included);
// zero where the system cannot say. With CPUTime it shows whether a cost per call is the
// work added or fewer messages per system call: grpc-go batches frames that queue while its
// writer is busy, so a slower call can change how many writes each call takes.
func Syscalls() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	var n int64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok || (k != "syscr" && k != "syscw") {
			continue
		}
		x, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err == nil {
			n += x
		}
	}
	return n
}

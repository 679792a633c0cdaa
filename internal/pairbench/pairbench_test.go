package pairbench_test

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/pairbench"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClosedLoopMakesExactlyNCallsWithBoundedConcurrency(t *testing.T) {
	var calls, inFlight, peak atomic.Int64
	call := func() error {
		calls.Add(1)
		n := inFlight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		inFlight.Add(-1)
		return nil
	}
	pairbench.ClosedLoop(t, 8, 1000, call)
	if calls.Load() != 1000 || peak.Load() > 8 {
		t.Fatalf("%d calls with at most %d in flight; want 1000 with at most 8", calls.Load(), peak.Load())
	}
}

func BenchmarkCompareOfACallWithItselfReadsOne(b *testing.B) {
	var n atomic.Int64
	call := func() error {
		if n.Add(1) < 0 {
			return errors.New("unreachable")
		}
		return nil
	}
	pairbench.Compare(b, pairbench.Options{Concurrency: 4, Unit: "self"}, call, call)
}

// On Linux Syscalls counts every write; elsewhere (no /proc/self/io) it says 0, as
// documented, which the program prints as 0.00 system calls a call.
func TestSyscallsCountsWrites(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "w"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	before := pairbench.Syscalls()
	for range 10 {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	got := pairbench.Syscalls() - before
	if runtime.GOOS != "linux" {
		if before != 0 || got != 0 {
			t.Fatalf("Syscalls on %s = %d then +%d, want 0 where /proc/self/io is missing", runtime.GOOS, before, got)
		}
		return
	}
	if got < 10 {
		t.Fatalf("Syscalls rose by %d over 10 writes, want at least 10", got)
	}
}

package pairbench_test

import (
	"errors"
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

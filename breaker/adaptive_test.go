package breaker

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

func newTestAdaptive(t *testing.T, clk Clock, opts ...AdaptiveOption) *Adaptive {
	t.Helper()
	b, err := NewAdaptive("orders", append([]AdaptiveOption{WithClock(clk)}, opts...)...)
	if err != nil {
		t.Fatalf("NewAdaptive: %v", err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	b.rnd = r.Float64
	t.Cleanup(func() { b.Close() })
	return b
}

func TestNewAdaptiveRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		opts []AdaptiveOption
	}{
		{"a K below one would shed a healthy upstream", []AdaptiveOption{WithK(0.5)}},
		{"a NaN K is refused", []AdaptiveOption{WithK(nanFloat())}},
		{"a zero window is refused", []AdaptiveOption{WithWindow(0, 10)}},
		{"zero buckets are refused", []AdaptiveOption{WithWindow(time.Second, 0)}},
		{"more buckets than nanoseconds are refused", []AdaptiveOption{WithWindow(5, 10)}},
		{"a negative minimum volume is refused", []AdaptiveOption{WithMinRequests(-1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := NewAdaptive("x", append(tt.opts, WithClock(&fakeClock{}))...)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
			if b != nil {
				t.Fatal("got a breaker along with the error")
			}
		})
	}
}

func nanFloat() float64 { z := 0.0; return z / z }

// drive makes calls for d of fake time, one every step, against an upstream that answers
// healthy(), and returns how many were rejected. reject, if set, is called for each rejection
// (to model breakers that count them).
func drive(b *Adaptive, clk *fakeClock, d, step time.Duration, healthy bool, onReject func()) (calls, rejected int) {
	for elapsed := time.Duration(0); elapsed < d; elapsed += step {
		clk.advance(step)
		calls++
		done, err := b.Allow()
		if err != nil {
			rejected++
			if onReject != nil {
				onReject()
			}
			continue
		}
		done(healthy)
	}
	return calls, rejected
}

func TestAdaptiveLetsEverythingThroughWhileHealthy(t *testing.T) {
	clk := &fakeClock{}
	b := newTestAdaptive(t, clk)
	if _, rejected := drive(b, clk, 30*time.Second, time.Millisecond, true, nil); rejected != 0 {
		t.Fatalf("rejected %d calls to a healthy upstream", rejected)
	}
	if s := b.Stats(); s.State != Closed || s.RejectRatio != 0 || s.Requests == 0 {
		t.Fatalf("stats = %+v, want closed with requests counted", s)
	}
}

func TestAdaptiveShedsMostCallsToAFailingUpstreamButKeepsProbing(t *testing.T) {
	clk := &fakeClock{}
	b := newTestAdaptive(t, clk)
	drive(b, clk, 5*time.Second, time.Millisecond, true, nil)
	drive(b, clk, 20*time.Second, time.Millisecond, false, nil)
	calls, rejected := drive(b, clk, 5*time.Second, time.Millisecond, false, nil)
	if ratio := float64(rejected) / float64(calls); ratio < 0.9 || rejected == calls {
		t.Fatalf("rejected %d of %d calls during an outage, want over 90%% but not all", rejected, calls)
	}
	s := b.Stats()
	if s.State != Throttling || s.Rejected == 0 || s.Failures == 0 || s.Failures > s.Requests {
		t.Fatalf("stats = %+v, want throttling with failures and rejections counted", s)
	}
}

func TestAdaptiveNeverShedsBelowTheMinimumVolume(t *testing.T) {
	clk := &fakeClock{}
	b := newTestAdaptive(t, clk, WithMinRequests(50))
	for i := range 49 {
		done, err := b.Allow()
		if err != nil {
			t.Fatalf("call %d rejected with %d failures in the window, under the minimum of 50", i, i)
		}
		done(false)
	}
}

// TestAdaptiveRecoversAsSoonAsTheUpstreamDoes reproduces the scenario of Kratos issue 2777 and
// go-zero issue 4101: the upstream fails everything for a while, then recovers. A breaker that
// counts its own rejections as failed requests keeps shedding for about a whole window after
// the recovery; this one must be back to letting nearly everything through within two seconds
// of a ten-second window. The peers' behaviour is modelled on the same breaker by recording
// each rejection as a failed request, to show the test would catch the bug.
func TestAdaptiveRecoversAsSoonAsTheUpstreamDoes(t *testing.T) {
	const step = time.Millisecond // 1000 calls a second
	recoveryTime := func(t *testing.T, countRejections bool) time.Duration {
		clk := &fakeClock{}
		b := newTestAdaptive(t, clk)
		var onReject func()
		if countRejections {
			onReject = func() { b.record(false) }
		}
		drive(b, clk, 5*time.Second, step, true, onReject)
		drive(b, clk, 20*time.Second, step, false, onReject)
		// The upstream is back. Find the first 100 ms slice in which under 5% of calls are
		// rejected.
		for elapsed := time.Duration(0); elapsed < 30*time.Second; elapsed += 100 * time.Millisecond {
			calls, rejected := drive(b, clk, 100*time.Millisecond, step, true, onReject)
			if float64(rejected) < 0.05*float64(calls) {
				return elapsed
			}
		}
		return time.Hour
	}

	ours := recoveryTime(t, false)
	peers := recoveryTime(t, true)
	t.Logf("recovered after %v; counting rejections as failures: %v", ours, peers)
	if ours > 2*time.Second {
		t.Errorf("took %v to recover after the upstream did, want at most 2s of a 10s window", ours)
	}
	if peers < 5*time.Second {
		t.Errorf("the peers' model recovered after %v; the test no longer shows the difference", peers)
	}
}

func TestAdaptiveSurvivesThousandsOfConcurrentCalls(t *testing.T) {
	clk := NewCoarseClock(time.Millisecond)
	t.Cleanup(func() { clk.Close() })
	b, err := NewAdaptive("concurrent", WithClock(clk), WithWindow(100*time.Millisecond, 10))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 500 {
				done, err := b.Allow()
				if err != nil {
					if !errors.Is(err, ErrOpen) {
						t.Errorf("Allow error %v does not wrap ErrOpen", err)
					}
					continue
				}
				done((g+i)%3 != 0)
			}
		})
	}
	wg.Wait()
	s := b.Stats()
	if s.Failures > s.Requests {
		t.Fatalf("stats = %+v: more failures than requests", s)
	}
}

func TestAdaptiveRejectionNamesTheBreakerAndWrapsErrOpen(t *testing.T) {
	clk := &fakeClock{}
	b := newTestAdaptive(t, clk, WithMinRequests(0))
	b.rnd = func() float64 { return 0 } // reject whenever the ratio is above zero
	done, _ := b.Allow()
	done(false)
	_, err := b.Allow()
	var open *OpenError
	if !errors.As(err, &open) || open.Name != "orders" || !errors.Is(err, ErrOpen) {
		t.Fatalf("err = %v, want an *OpenError named orders wrapping ErrOpen", err)
	}
	if err.Error() != "breaker orders is open" {
		t.Fatalf("message = %q", err.Error())
	}
}

func TestAdaptiveForgetsOldFailuresAfterTheWindow(t *testing.T) {
	clk := &fakeClock{}
	b := newTestAdaptive(t, clk, WithMinRequests(0))
	for range 100 {
		done, err := b.Allow()
		if err == nil {
			done(false)
		}
	}
	clk.advance(DefaultAdaptiveWindow + time.Second)
	if s := b.Stats(); s.Requests != 0 || s.RejectRatio != 0 {
		t.Fatalf("stats a window later = %+v, want an empty window", s)
	}
}

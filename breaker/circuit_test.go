package breaker

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"
)

type transition struct{ from, to State }

func newTestCircuit(t *testing.T, clk Clock, opts ...CircuitOption) (*Circuit, *[]transition) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []transition
	)
	hook := WithOnStateChange(func(name string, from, to State) {
		if name != "orders" {
			t.Errorf("hook got name %q", name)
		}
		mu.Lock()
		seen = append(seen, transition{from, to})
		mu.Unlock()
	})
	b, err := NewCircuit("orders", append([]CircuitOption{WithClock(clk), hook}, opts...)...)
	if err != nil {
		t.Fatalf("NewCircuit: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b, &seen
}

// call makes one call through b against an upstream answering ok, and reports whether b let it
// through.
func call(b Breaker, ok bool) bool {
	done, err := b.Allow()
	if err != nil {
		return false
	}
	done(ok)
	return true
}

func TestNewCircuitRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name string
		opts []CircuitOption
	}{
		{"a failure ratio of zero is refused", []CircuitOption{WithFailureRatio(0)}},
		{"a failure ratio above one is refused", []CircuitOption{WithFailureRatio(1.5)}},
		{"a zero sleep window is refused", []CircuitOption{WithSleepWindow(0)}},
		{"zero probes are refused", []CircuitOption{WithHalfOpenProbes(0)}},
		{"a negative minimum volume is refused", []CircuitOption{WithMinRequests(-3)}},
		{"a count window smaller than the minimum volume is refused", []CircuitOption{WithMinRequests(20), WithCountWindow(10)}},
		{"a negative count window is refused", []CircuitOption{WithCountWindow(-1)}},
		{"a zero time window is refused", []CircuitOption{WithWindow(0, 1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCircuit("x", append(tt.opts, WithClock(&fakeClock{}))...)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

func TestCircuitGoesThroughEveryState(t *testing.T) {
	windows := []struct {
		name string
		opt  CircuitOption
	}{
		{"with a time window", WithWindow(10*time.Second, 10)},
		{"with a count window", WithCountWindow(50)},
	}
	for _, w := range windows {
		t.Run(w.name, func(t *testing.T) {
			clk := &fakeClock{}
			b, seen := newTestCircuit(t, clk, w.opt, WithMinRequests(10), WithFailureRatio(0.5),
				WithSleepWindow(5*time.Second), WithHalfOpenProbes(2))

			// Nine failures stay under the minimum volume of ten.
			for range 9 {
				call(b, false)
			}
			if b.State() != Closed {
				t.Fatalf("opened under the minimum volume")
			}
			call(b, false)
			if b.State() != Open {
				t.Fatalf("state after 10 failures of 10 = %v, want open", b.State())
			}
			if call(b, true) {
				t.Fatal("an open circuit let a call through")
			}

			clk.advance(5 * time.Second)
			d1, err1 := b.Allow()
			d2, err2 := b.Allow()
			_, err3 := b.Allow()
			if err1 != nil || err2 != nil || !errors.Is(err3, ErrOpen) {
				t.Fatalf("half-open with 2 probes let through: %v %v %v; want two calls and a rejection", err1, err2, err3)
			}
			if b.State() != HalfOpen {
				t.Fatalf("state = %v, want half-open", b.State())
			}
			d1(true)
			d2(true)
			if b.State() != Closed {
				t.Fatalf("state after 2 successful probes = %v, want closed", b.State())
			}
			if s := b.Stats(); s.Requests != 0 {
				t.Fatalf("window after closing = %+v, want it reset", s)
			}

			want := []transition{{Closed, Open}, {Open, HalfOpen}, {HalfOpen, Closed}}
			if !slices.Equal(*seen, want) {
				t.Fatalf("hooks saw %v, want %v", *seen, want)
			}
		})
	}
}

func TestCircuitOpensAgainOnAFailedProbe(t *testing.T) {
	clk := &fakeClock{}
	b, seen := newTestCircuit(t, clk, WithMinRequests(1), WithSleepWindow(time.Second))
	call(b, false)
	clk.advance(time.Second)
	if !call(b, false) {
		t.Fatal("no probe let through after the sleep window")
	}
	if b.State() != Open || call(b, true) {
		t.Fatalf("state after a failed probe = %v, want open and refusing", b.State())
	}
	want := []transition{{Closed, Open}, {Open, HalfOpen}, {HalfOpen, Open}}
	if !slices.Equal(*seen, want) {
		t.Fatalf("hooks saw %v, want %v", *seen, want)
	}
}

func TestCircuitIgnoresAProbeFromAnEarlierHalfOpenSpell(t *testing.T) {
	clk := &fakeClock{}
	b, _ := newTestCircuit(t, clk, WithMinRequests(1), WithSleepWindow(time.Second), WithHalfOpenProbes(2))
	call(b, false)
	clk.advance(time.Second)
	late, err := b.Allow() // a slow probe
	if err != nil {
		t.Fatal(err)
	}
	call(b, false) // a fast probe fails: open again
	clk.advance(time.Second)
	fresh, err := b.Allow()
	if err != nil {
		t.Fatal(err)
	}
	late(true) // must not count towards closing the new half-open spell
	fresh(true)
	if b.State() != HalfOpen {
		t.Fatalf("state = %v, want still half-open: one of two probes has succeeded in this spell", b.State())
	}
}

func TestCircuitDoesNotOpenWhileTheFailureRatioIsUnderTheThreshold(t *testing.T) {
	clk := &fakeClock{}
	b, _ := newTestCircuit(t, clk, WithMinRequests(10), WithFailureRatio(0.5))
	for i := range 1000 {
		clk.advance(time.Millisecond)
		if !call(b, i%3 != 0) { // one failure in three
			t.Fatalf("call %d rejected at a failure ratio of 1/3", i)
		}
	}
}

func TestCircuitSurvivesThousandsOfConcurrentCalls(t *testing.T) {
	clk := NewCoarseClock(time.Millisecond)
	t.Cleanup(func() { clk.Close() })
	var changes sync.Map
	b, err := NewCircuit("concurrent", WithClock(clk), WithSleepWindow(time.Millisecond), WithMinRequests(5),
		WithOnStateChange(func(_ string, from, to State) { changes.Store(transition{from, to}, true) }))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 64 {
		wg.Go(func() {
			for i := range 500 {
				call(b, (g+i)%2 == 0)
				_ = b.Stats()
			}
		})
	}
	wg.Wait()
	if _, ok := changes.Load(transition{Closed, Open}); !ok {
		t.Fatal("half the calls failed and the circuit never opened")
	}
}

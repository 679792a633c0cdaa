package pick

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Outcome is how a call ended, as far as the health of its endpoint goes.
type Outcome int

const (
	// Success: the endpoint answered, whatever the answer (a NotFound is a success here).
	Success Outcome = iota
	// Failure: the endpoint failed the call itself (internal error, deadline, overload).
	Failure
	// Unreachable: the call never got a real answer (connection refused or reset,
	// Unavailable). Enough of these in a row eject the endpoint.
	Unreachable
	// Neutral: the call says nothing about the endpoint (the caller cancelled it, or it was
	// never sent). Only the in-flight count changes.
	Neutral
)

// successAlpha is the weight of one call in the success-rate average: about the last 16
// calls count.
const successAlpha = 1.0 / 16

// Stats are the live figures of one endpoint. They are safe for concurrent use and meant to
// outlive pickers: build each new snapshot with the Stats of the endpoints it keeps.
//
// Record every call picked: Begin when it starts, then End (or EndTimed, for algorithms that
// weigh latency) exactly once when it finishes.
type Stats struct {
	o *options

	inflight atomic.Int64
	latency  atomic.Uint64 // float64 bits: average round trip in ns; 0 until the first timed call
	success  atomic.Uint64 // float64 bits: success rate in [0, 1]
	observed atomic.Int64  // clock reading of the last timed call's end
	picked   atomic.Int64  // clock reading of the last P2C pick

	failures     atomic.Int32 // consecutive Unreachable outcomes
	ejections    atomic.Int32 // ejections in a row, for the back-off
	ejected      atomic.Bool
	ejectedUntil atomic.Int64 // clock reading when the next probe may go

	mu sync.Mutex // serialises the latency average, whose update reads then writes two words
}

// NewStats returns the figures of an endpoint that has taken no call yet. The clock,
// decay and ejection options apply; the others are ignored.
func NewStats(opts ...Option) *Stats {
	return newStats(newOptions(opts))
}

func newStats(o *options) *Stats {
	s := &Stats{o: o}
	s.success.Store(math.Float64bits(1))
	return s
}

// InFlight returns the number of calls begun and not yet ended.
func (s *Stats) InFlight() int64 { return s.inflight.Load() }

// Latency returns the decaying average round trip of timed calls, zero before the first.
func (s *Stats) Latency() time.Duration {
	return time.Duration(math.Float64frombits(s.latency.Load()))
}

// SuccessRate returns the recent share of calls that succeeded, 1 before any call.
func (s *Stats) SuccessRate() float64 { return math.Float64frombits(s.success.Load()) }

// Ejected reports whether the endpoint is ejected (waiting out its back-off or being probed).
func (s *Stats) Ejected() bool { return s.ejected.Load() }

// Begin records the start of a call.
func (s *Stats) Begin() { s.inflight.Add(1) }

// End records the end of a call begun with Begin.
func (s *Stats) End(o Outcome) {
	s.inflight.Add(-1)
	s.record(o)
}

// EndTimed records the end of a call begun with Begin at clock reading start, adding its
// round trip to the latency average. Only calls the endpoint answered add latency (a
// deadline exceeded counts, and shows the endpoint slow); a refused or unsent call says
// nothing of its speed, and a fast refusal must not make it look quick.
func (s *Stats) EndTimed(o Outcome, start time.Duration) {
	s.inflight.Add(-1)
	if o == Success || o == Failure {
		s.observe(s.o.clock(), start)
	}
	s.record(o)
}

// observe folds one round trip into the latency average. It follows Finagle's peak EWMA: a
// slower call than the average replaces it at once, a faster one pulls it down with a weight
// that grows with the time since the previous observation.
func (s *Stats) observe(now, start time.Duration) {
	rtt := float64(max(now-start, 1))
	s.mu.Lock()
	defer s.mu.Unlock()
	avg := math.Float64frombits(s.latency.Load())
	if avg == 0 || rtt > avg {
		avg = rtt
	} else {
		dt := float64(max(int64(now)-s.observed.Load(), 0))
		w := math.Exp(-dt / float64(s.o.decay))
		avg = avg*w + rtt*(1-w)
	}
	s.latency.Store(math.Float64bits(avg))
	s.observed.Store(int64(now))
}

func (s *Stats) record(o Outcome) {
	switch o {
	case Success, Failure:
		x := 1.0
		if o == Failure {
			x = 0
		}
		s.addSuccess(x)
		// The endpoint answered, so it is reachable: forget transport failures. Loads
		// before stores keep the shared cache line clean on the common path.
		if s.failures.Load() != 0 {
			s.failures.Store(0)
		}
		if s.ejected.Load() {
			s.ejected.Store(false)
			s.ejections.Store(0)
		}
	case Unreachable:
		s.addSuccess(0)
		// A failed probe ejects again at once, for a longer back-off.
		after, base, maximum := s.o.ejection()
		if after <= 0 {
			// Ejection is off (WithEjectionFrom): an ejected endpoint comes back.
			s.failures.Store(0)
			if s.ejected.Load() {
				s.ejected.Store(false)
				s.ejections.Store(0)
			}
			return
		}
		if int(s.failures.Add(1)) >= after || s.ejected.Load() {
			s.eject(base, maximum)
		}
	}
}

func (s *Stats) addSuccess(x float64) {
	for {
		old := s.success.Load()
		v := math.Float64frombits(old)
		if s.success.CompareAndSwap(old, math.Float64bits(v+successAlpha*(x-v))) {
			return
		}
	}
}

func (s *Stats) eject(base, maximum time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures.Store(0)
	n := min(s.ejections.Add(1), 31)
	backoff := base
	for i := int32(1); i < n && backoff < maximum; i++ {
		backoff *= 2
	}
	backoff = min(backoff, maximum)
	s.ejectedUntil.Store(int64(s.o.clock() + backoff))
	s.ejected.Store(true)
}

// usable reports whether a call may go to the endpoint now. An ejected endpoint whose back-off
// is over lets exactly one caller through as a probe (probe is then true) and stays ejected
// for the others until that probe succeeds; if the probe is lost, the next one goes after
// another back-off.
func (s *Stats) usable() (ok, probe bool) {
	if !s.ejected.Load() {
		return true, false
	}
	after, base, maximum := s.o.ejection()
	if after <= 0 {
		return true, false // ejection turned off while the endpoint was out
	}
	until := s.ejectedUntil.Load()
	now := int64(s.o.clock())
	if now < until {
		return false, false
	}
	backoff := min(base<<min(s.ejections.Load(), 20), maximum)
	if s.ejectedUntil.CompareAndSwap(until, now+int64(backoff)) {
		return true, true
	}
	return false, false
}

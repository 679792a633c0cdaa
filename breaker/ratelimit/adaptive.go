package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the adaptive limiter, and why.
const (
	// DefaultWindow of one second in ten buckets: capacity is measured per 100 ms bucket, and
	// the best bucket of the last second stands for what the server can do now.
	DefaultWindow  = time.Second
	DefaultBuckets = 10
	// DefaultHeadroom admits up to 1.5 times the measured capacity, so ordinary bursts above
	// the steady in-flight count pass and only a real pile-up is shed.
	DefaultHeadroom = 1.5
	// DefaultMinInFlight never sheds below 16 calls in flight: at low load the measurements
	// are noise.
	DefaultMinInFlight = 16
)

// Adaptive sheds load the way BBR-style limiters do: it measures, per bucket of a sliding
// window, how many calls completed and their mean latency; by Little's law the server's
// capacity in flight is the best throughput times the best latency. While the overload signal
// is on, a call arriving with more calls in flight than headroom times that capacity is
// refused. It is safe for concurrent use.
type Adaptive struct {
	inflight atomic.Int64
	signal   func() bool
	headroom float64
	floor    int64
	width    time.Duration
	now      func() time.Duration

	mu      sync.Mutex
	buckets []bbrBucket
	epoch   int64 // index of the newest bucket
	start   int64 // first epoch measured, to tell a full window from warm-up
}

type bbrBucket struct {
	epoch  int64
	passed int64
	rtSum  time.Duration
}

// AdaptiveOption configures [NewAdaptive].
type AdaptiveOption func(*Adaptive)

// WithOverloadSignal arms the limiter only while signal returns true, for example while CPU
// use is above 80%; it is called on each call that would be refused, so it must be cheap.
// Without it the limiter is always armed.
func WithOverloadSignal(signal func() bool) AdaptiveOption {
	return func(a *Adaptive) { a.signal = signal }
}

// WithHeadroom sets the multiple of measured capacity admitted in flight (at least 1).
func WithHeadroom(h float64) AdaptiveOption { return func(a *Adaptive) { a.headroom = h } }

// WithMinInFlight sets the in-flight count under which nothing is shed (at least 1).
func WithMinInFlight(n int) AdaptiveOption { return func(a *Adaptive) { a.floor = int64(n) } }

// WithAdaptiveWindow sets the measuring window and its bucket count.
func WithAdaptiveWindow(d time.Duration, buckets int) AdaptiveOption {
	return func(a *Adaptive) {
		a.buckets = make([]bbrBucket, max(buckets, 0))
		if buckets > 0 {
			a.width = d / time.Duration(buckets)
		} else {
			a.width = 0
		}
	}
}

// NewAdaptive returns an adaptive limiter. It returns an error wrapping [ErrInvalidConfig] for
// a headroom below 1, a floor below 1, or a window that does not split into buckets of at
// least a millisecond.
func NewAdaptive(opts ...AdaptiveOption) (*Adaptive, error) {
	base := time.Now()
	a := &Adaptive{headroom: DefaultHeadroom, floor: DefaultMinInFlight, now: func() time.Duration { return time.Since(base) }}
	WithAdaptiveWindow(DefaultWindow, DefaultBuckets)(a)
	for _, o := range opts {
		o(a)
	}
	switch {
	case !(a.headroom >= 1):
		return nil, fmt.Errorf("%w: headroom %v, want at least 1", ErrInvalidConfig, a.headroom)
	case a.floor < 1:
		return nil, fmt.Errorf("%w: minimum in flight %d, want at least 1", ErrInvalidConfig, a.floor)
	case len(a.buckets) == 0 || a.width < time.Millisecond:
		return nil, fmt.Errorf("%w: window must split into buckets of at least 1ms", ErrInvalidConfig)
	}
	a.start = int64(a.now() / a.width)
	a.epoch = a.start
	for i := range a.buckets {
		a.buckets[i].epoch = -1
	}
	return a, nil
}

// Allow implements [Limiter].
func (a *Adaptive) Allow() (func(), bool) {
	n := a.inflight.Add(1)
	if n > a.floor && n > a.Limit() && (a.signal == nil || a.signal()) {
		a.inflight.Add(-1)
		return nil, false
	}
	start := a.now()
	return func() {
		a.inflight.Add(-1)
		a.record(start, a.now())
	}, true
}

func (a *Adaptive) record(start, end time.Duration) {
	e := int64(end / a.width)
	a.mu.Lock()
	defer a.mu.Unlock()
	b := &a.buckets[e%int64(len(a.buckets))]
	if b.epoch != e {
		*b = bbrBucket{epoch: e}
	}
	b.passed++
	b.rtSum += end - start
	a.epoch = max(a.epoch, e)
}

// Limit returns the in-flight count above which calls are refused while armed: headroom times
// the best completed throughput times the best mean latency over the window's finished
// buckets. During the first window, and when no call has completed within it, the limit is
// unbounded.
func (a *Adaptive) Limit() int64 {
	cur := int64(a.now() / a.width)
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur-a.start <= int64(len(a.buckets)) {
		return math.MaxInt64 // still warming up
	}
	var maxPass int64
	minRT := time.Duration(math.MaxInt64)
	for _, b := range a.buckets {
		if b.epoch < 0 || b.epoch >= cur || cur-b.epoch > int64(len(a.buckets)) || b.passed == 0 {
			continue // empty, still filling, or out of the window
		}
		maxPass = max(maxPass, b.passed)
		minRT = min(minRT, b.rtSum/time.Duration(b.passed))
	}
	if maxPass == 0 {
		return math.MaxInt64
	}
	return int64(math.Ceil(a.headroom * float64(maxPass) * float64(minRT) / float64(a.width)))
}

// InFlight returns how many admitted calls have not called done yet.
func (a *Adaptive) InFlight() int64 { return a.inflight.Load() }

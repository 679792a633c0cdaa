package breaker

import (
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// Defaults of the adaptive breaker, and why.
const (
	// DefaultK lets calls through freely until requests exceed twice the accepted calls. The
	// SRE book suggests 2: the upstream then sees at most about twice the load it can answer,
	// which spends some of its capacity on calls it will fail but keeps enough traffic flowing
	// to notice recovery at once.
	DefaultK = 2.0
	// DefaultAdaptiveWindow is ten seconds: long enough that a single slow second does not
	// start shedding, short enough that an outage leaves the window soon after it ends.
	DefaultAdaptiveWindow = 10 * time.Second
	// DefaultAdaptiveBuckets splits the window into 250 ms buckets, so old calls fade out in
	// small steps rather than all at once.
	DefaultAdaptiveBuckets = 40
	// DefaultMinRequests is the volume under which nothing is shed: with fewer finished calls
	// in the window the ratio says little, and a quiet method should not be cut off by one or
	// two failures.
	DefaultMinRequests = 20
)

// Adaptive is client-side throttling after Google's SRE book ("Handling Overload"). Over a
// sliding window it counts the calls that went out (requests) and those the upstream answered
// healthily (accepts), and rejects each new call with probability
//
//	max(0, (requests - K*accepts) / (requests + 1))
//
// so a healthy upstream sees every call and a failing one sees a trickle that shrinks as
// failures mount but never stops.
//
// Unlike the book's sketch and two well-known Go implementations (Kratos issue 2777, go-zero
// issue 4101), calls it rejects locally are not counted as requests. Counting them makes the
// rejections feed themselves: the window fills with calls that never reached the upstream, and
// the breaker keeps shedding for a whole window after the upstream has recovered. Here the
// window holds only the upstream's answers, so the first successes after an outage pull the
// drop probability down at once.
//
// The hot path (Allow then done while nothing is shed) reads the clock through [Clock] and
// does two atomic adds; it allocates nothing. Adaptive is safe for concurrent use.
type Adaptive struct {
	name     string
	k        float64
	minReq   uint64
	win      *rolling
	clock    Clock
	owned    *CoarseClock
	rejected atomic.Uint64
	done     func(bool)
	err      *OpenError
	rnd      func() float64
}

// NewAdaptive returns an adaptive breaker named name (the name appears in its rejections),
// configured by [WithClock], [WithWindow], [WithK] and [WithMinRequests]. Without WithClock it
// starts its own [CoarseClock], which Close stops.
//
// It returns an error wrapping [ErrInvalidConfig] when K is below 1, the window or bucket
// count is not positive, or the minimum volume is negative.
func NewAdaptive(name string, opts ...AdaptiveOption) (*Adaptive, error) {
	cfg := config{k: DefaultK, window: DefaultAdaptiveWindow, buckets: DefaultAdaptiveBuckets, minRequests: DefaultMinRequests}
	for _, o := range opts {
		o.applyAdaptive(&cfg)
	}
	if err := checkWindow(cfg.window, cfg.buckets); err != nil {
		return nil, err
	}
	if !(cfg.k >= 1) {
		return nil, fmt.Errorf("%w: K is %v, want at least 1", ErrInvalidConfig, cfg.k)
	}
	if cfg.minRequests < 0 {
		return nil, fmt.Errorf("%w: minimum requests is %d, want zero or more", ErrInvalidConfig, cfg.minRequests)
	}
	b := &Adaptive{
		name:   name,
		k:      cfg.k,
		minReq: uint64(cfg.minRequests),
		clock:  cfg.clock,
		err:    &OpenError{Name: name},
		rnd:    rand.Float64,
	}
	if b.clock == nil {
		b.owned = NewCoarseClock(0)
		b.clock = b.owned
	}
	width := int64(cfg.window) / int64(cfg.buckets)
	b.win = newRolling(int64(cfg.window), width, int64(b.clock.Now()))
	b.done = b.record
	return b, nil
}

// Allow implements [Breaker].
func (b *Adaptive) Allow() (func(success bool), error) {
	p := b.dropRatio(b.win.sum(int64(b.clock.Now())))
	if p > 0 && b.rnd() < p {
		b.rejected.Add(1)
		return nil, b.err
	}
	return b.done, nil
}

func (b *Adaptive) dropRatio(sum int64) float64 {
	req, acc := unpack(sum)
	if req < b.minReq {
		return 0
	}
	excess := float64(req) - b.k*float64(acc)
	if excess <= 0 {
		return 0
	}
	return excess / float64(req+1)
}

func (b *Adaptive) record(success bool) {
	v := oneCall
	if success {
		v |= oneMarked
	}
	b.win.add(int64(b.clock.Now()), v)
}

// Stats implements [Reporter]. Failures are requests minus accepts; State is [Throttling]
// while the drop probability is above zero.
func (b *Adaptive) Stats() Stats {
	sum := b.win.sum(int64(b.clock.Now()))
	req, acc := unpack(sum)
	s := Stats{Name: b.name, Requests: req, Failures: req - min(acc, req), Rejected: b.rejected.Load(), RejectRatio: b.dropRatio(sum)}
	if s.RejectRatio > 0 {
		s.State = Throttling
	}
	return s
}

// Close stops the clock the breaker started for itself, if any. The breaker keeps working
// after Close, reading the system clock instead.
func (b *Adaptive) Close() error {
	if b.owned != nil {
		return b.owned.Close()
	}
	return nil
}

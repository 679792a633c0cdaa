package pick

import (
	"math/rand/v2"
	"time"
)

// Clock returns monotonic time elapsed since an origin of its choosing. Every Stats and
// picker that compare times must share one Clock.
type Clock func() time.Duration

// origin is the zero of the default clock. It is set once at start-up and never changes.
var origin = time.Now()

// MonotonicClock is the default Clock. It reads only the monotonic clock, which costs about
// half of time.Now.
func MonotonicClock() time.Duration { return time.Since(origin) }

// Defaults of the options.
const (
	DefaultVirtualNodes = 100
	DefaultProbeAfter   = time.Second
	DefaultDecay        = time.Second
	DefaultEjectAfter   = 2
	DefaultEjectBase    = time.Second
	DefaultEjectMax     = 30 * time.Second
)

// options collects what the Option functions set.
type options struct {
	clock        Clock
	rand         func() uint64
	virtualNodes int
	probeAfter   time.Duration
	decay        time.Duration
	ejectAfter   int
	ejectBase    time.Duration
	ejectMax     time.Duration
	ejectFrom    func() (failures int, base, maximum time.Duration, ok bool)
}

// Option tunes an algorithm or a Stats.
type Option func(*options)

func newOptions(opts []Option) *options {
	o := &options{
		clock:        MonotonicClock,
		rand:         rand.Uint64,
		virtualNodes: DefaultVirtualNodes,
		probeAfter:   DefaultProbeAfter,
		decay:        DefaultDecay,
		ejectAfter:   DefaultEjectAfter,
		ejectBase:    DefaultEjectBase,
		ejectMax:     DefaultEjectMax,
	}
	for _, opt := range opts {
		opt(o)
	}
	o.ejectMax = max(o.ejectMax, o.ejectBase)
	return o
}

// WithClock sets the clock used for latency, probing and ejection back-off. Tests pass a
// fake clock to make time-dependent behaviour deterministic.
func WithClock(c Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithRand sets the source of random numbers. It must be safe for concurrent use when picks
// are concurrent; the default, math/rand/v2's Uint64, is. Tests pass a seeded source to
// make a distribution reproducible.
func WithRand(r func() uint64) Option {
	return func(o *options) {
		if r != nil {
			o.rand = r
		}
	}
}

// WithVirtualNodes sets how many points an endpoint of average weight gets on the
// consistent-hash ring (default 100). More points spread keys more evenly and cost memory
// and build time.
func WithVirtualNodes(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.virtualNodes = n
		}
	}
}

// WithProbeAfter sets how long P2C lets an endpoint go unpicked before it sends it one call
// to learn whether it has recovered (default 1s).
func WithProbeAfter(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.probeAfter = d
		}
	}
}

// WithDecay sets the time constant of the latency average (default 1s): an observation
// d old weighs exp(-d/decay) of a fresh one.
func WithDecay(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.decay = d
		}
	}
}

// WithEjection sets when an endpoint is ejected: after failures consecutive calls fail at
// the transport level, for base, doubling on each ejection in a row up to maximum.
func WithEjection(failures int, base, maximum time.Duration) Option {
	return func(o *options) {
		if failures > 0 {
			o.ejectAfter = failures
		}
		if base > 0 {
			o.ejectBase = base
		}
		if maximum > 0 {
			o.ejectMax = maximum
		}
	}
}

// WithEjectionFrom makes a Stats read its ejection thresholds from f each time an endpoint
// fails at the transport or is ejected, so that they can change while the Stats live (the
// governance rules' outlier policy does). When f's ok is false, WithEjection's (or the
// default) thresholds apply; otherwise failures of 0 turns ejection off, and a base or
// maximum of 0 keeps WithEjection's. f must be fast and safe for concurrent use; it is not
// called on the path of a call that succeeds.
func WithEjectionFrom(f func() (failures int, base, maximum time.Duration, ok bool)) Option {
	return func(o *options) { o.ejectFrom = f }
}

// ejection returns the thresholds in force: failures in a row (0: never eject), the
// first back-off and the longest.
func (o *options) ejection() (after int, base, maximum time.Duration) {
	after, base, maximum = o.ejectAfter, o.ejectBase, o.ejectMax
	if o.ejectFrom == nil {
		return after, base, maximum
	}
	f, b, m, ok := o.ejectFrom()
	if !ok {
		return after, base, maximum
	}
	if b > 0 {
		base = b
	}
	if m > 0 {
		maximum = m
	}
	return f, base, max(maximum, base)
}

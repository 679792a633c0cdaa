package breaker

import (
	"fmt"
	"log/slog"
	"time"
)

// AdaptiveOption configures a breaker made by [NewAdaptive] or [AdaptiveFactory].
type AdaptiveOption interface{ applyAdaptive(*config) }

// CircuitOption configures a breaker made by [NewCircuit] or [CircuitFactory].
type CircuitOption interface{ applyCircuit(*config) }

// Option configures either breaker: it is both an [AdaptiveOption] and a [CircuitOption]. An
// option only one breaker reads has that breaker's type, so passing it to the other does not
// compile instead of being ignored.
type Option interface {
	AdaptiveOption
	CircuitOption
}

type config struct {
	clock        Clock
	window       time.Duration
	buckets      int
	countWindow  int
	k            float64
	minRequests  int
	failureRatio float64
	sleepWindow  time.Duration
	probes       int
	onChange     func(name string, from, to State)
	logger       *slog.Logger
}

// bothOption, adaptiveOption and circuitOption carry an option's effect; their method sets
// decide which constructors accept them.
type (
	bothOption     func(*config)
	adaptiveOption func(*config)
	circuitOption  func(*config)
)

func (f bothOption) applyAdaptive(c *config)     { f(c) }
func (f bothOption) applyCircuit(c *config)      { f(c) }
func (f adaptiveOption) applyAdaptive(c *config) { f(c) }
func (f circuitOption) applyCircuit(c *config)   { f(c) }

// WithClock makes the breaker read time from c instead of starting a [CoarseClock] of its own.
// The breaker does not close c.
func WithClock(c Clock) Option { return bothOption(func(cfg *config) { cfg.clock = c }) }

// WithWindow sets the sliding window to d split into buckets; counts older than d are
// forgotten one bucket at a time. For the circuit it replaces a count window.
func WithWindow(d time.Duration, buckets int) Option {
	return bothOption(func(cfg *config) { cfg.window, cfg.buckets, cfg.countWindow = d, buckets, 0 })
}

// WithMinRequests sets the volume under which the breaker never rejects: with fewer finished
// calls in the window nothing is shed, so one failure on a quiet method does not cut it off.
func WithMinRequests(n int) Option { return bothOption(func(cfg *config) { cfg.minRequests = n }) }

// WithK sets the adaptive breaker's multiplier K: it lets calls through freely while requests
// stay under K times the accepted calls. K must be at least 1; lower K sheds sooner.
func WithK(k float64) AdaptiveOption { return adaptiveOption(func(cfg *config) { cfg.k = k }) }

// WithCountWindow makes the circuit judge the last n finished calls instead of a time window.
func WithCountWindow(n int) CircuitOption {
	return circuitOption(func(cfg *config) { cfg.countWindow, cfg.window, cfg.buckets = n, 0, 0 })
}

// WithFailureRatio sets the share of failed calls in the window, in (0, 1], at which the
// circuit opens.
func WithFailureRatio(r float64) CircuitOption {
	return circuitOption(func(cfg *config) { cfg.failureRatio = r })
}

// WithSleepWindow sets how long the circuit stays open before it lets probes through.
func WithSleepWindow(d time.Duration) CircuitOption {
	return circuitOption(func(cfg *config) { cfg.sleepWindow = d })
}

// WithHalfOpenProbes sets how many calls the half-open circuit lets through at once; that many
// successes in a row close it, one failure opens it again.
func WithHalfOpenProbes(n int) CircuitOption {
	return circuitOption(func(cfg *config) { cfg.probes = n })
}

// WithOnStateChange registers f to hear each state change of the circuit, in order, one call
// at a time, on the goroutine that caused the change. f must not block and must not call Allow
// on the same breaker (Stats is fine). The adaptive breaker has no discrete states to
// announce; read its Stats instead.
func WithOnStateChange(f func(name string, from, to State)) CircuitOption {
	return circuitOption(func(cfg *config) { cfg.onChange = f })
}

// WithLogger sets where the circuit logs its state changes at Info; nil (the default) logs
// nothing.
func WithLogger(l *slog.Logger) CircuitOption {
	return circuitOption(func(cfg *config) { cfg.logger = l })
}

func checkWindow(d time.Duration, buckets int) error {
	if d <= 0 || buckets <= 0 || d/time.Duration(buckets) <= 0 {
		return fmt.Errorf("%w: window %v in %d buckets: both must be positive and each bucket at least 1ns",
			ErrInvalidConfig, d, buckets)
	}
	return nil
}

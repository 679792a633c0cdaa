package breaker

import (
	"fmt"
	"log/slog"
	"time"
)

// Option configures a breaker made by [NewAdaptive] or [NewCircuit]. Each option says which breakers read it;
// the others ignore it.
type Option func(*config)

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

// WithClock makes the breaker read time from c instead of starting a [CoarseClock] of its own. The breaker does not
// close c. Both breakers.
func WithClock(c Clock) Option { return func(cfg *config) { cfg.clock = c } }

// WithWindow sets the sliding window to d split into buckets; counts older than d are forgotten one bucket at a
// time. Both breakers; for the circuit it replaces a count window.
func WithWindow(d time.Duration, buckets int) Option {
	return func(cfg *config) { cfg.window, cfg.buckets, cfg.countWindow = d, buckets, 0 }
}

// WithCountWindow makes the circuit judge the last n finished calls instead of a time window. Circuit only.
func WithCountWindow(n int) Option {
	return func(cfg *config) { cfg.countWindow, cfg.window, cfg.buckets = n, 0, 0 }
}

// WithK sets the adaptive breaker's multiplier K: it lets calls through freely while requests stay under K times
// the accepted calls. K must be at least 1; lower K sheds sooner. Adaptive only.
func WithK(k float64) Option { return func(cfg *config) { cfg.k = k } }

// WithMinRequests sets the volume under which the breaker never rejects: with fewer finished calls in the window
// nothing is shed, so one failure on a quiet method does not cut it off. Both breakers.
func WithMinRequests(n int) Option { return func(cfg *config) { cfg.minRequests = n } }

// WithFailureRatio sets the share of failed calls in the window, in (0, 1], at which the circuit opens. Circuit only.
func WithFailureRatio(r float64) Option { return func(cfg *config) { cfg.failureRatio = r } }

// WithSleepWindow sets how long the circuit stays open before it lets probes through. Circuit only.
func WithSleepWindow(d time.Duration) Option { return func(cfg *config) { cfg.sleepWindow = d } }

// WithHalfOpenProbes sets how many calls the half-open circuit lets through at once; that many successes in a row
// close it, one failure opens it again. Circuit only.
func WithHalfOpenProbes(n int) Option { return func(cfg *config) { cfg.probes = n } }

// WithOnStateChange registers f to hear each state change, in order, one call at a time, on the goroutine that
// caused the change. f must not block and must not call Allow on the same breaker (Stats is fine). Circuit only:
// the adaptive breaker has no discrete states to announce; read its Stats.
func WithOnStateChange(f func(name string, from, to State)) Option {
	return func(cfg *config) { cfg.onChange = f }
}

// WithLogger sets where the circuit logs its state changes at Info; nil (the default) logs nothing. Circuit only.
func WithLogger(l *slog.Logger) Option { return func(cfg *config) { cfg.logger = l } }

func checkWindow(d time.Duration, buckets int) error {
	if d <= 0 || buckets <= 0 || d/time.Duration(buckets) <= 0 {
		return fmt.Errorf("%w: window %v in %d buckets: both must be positive and each bucket at least 1ns",
			ErrInvalidConfig, d, buckets)
	}
	return nil
}

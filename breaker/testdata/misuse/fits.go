// Package misuse holds calls of the breaker constructors that must not compile. Each wrong use
// sits behind its own build tag; TestOptionsMeantForOneBreakerDoNotCompileForTheOther builds
// the package once per tag and expects the compiler to refuse it. This file, with no tag,
// holds the right uses, so that the package builds when no wrong use is selected.
package misuse

import (
	"time"

	"github.com/tianshu-go/tianshu/breaker"
)

// Fits uses every option with a constructor that reads it; options read by both breakers go to
// both.
func Fits(clk breaker.Clock) {
	shared := []breaker.Option{breaker.WithClock(clk), breaker.WithWindow(time.Second, 10), breaker.WithMinRequests(5)}
	_, _ = breaker.NewAdaptive("a", breaker.WithK(2), shared[0], shared[1], shared[2])
	_, _ = breaker.NewCircuit("c", shared[0], shared[1], shared[2],
		breaker.WithCountWindow(10), breaker.WithFailureRatio(.5), breaker.WithSleepWindow(time.Second),
		breaker.WithHalfOpenProbes(1), breaker.WithOnStateChange(nil), breaker.WithLogger(nil))
	_ = breaker.AdaptiveFactory(breaker.WithK(3), breaker.WithMinRequests(1))
	_ = breaker.CircuitFactory(breaker.WithFailureRatio(.2), breaker.WithMinRequests(1))
}

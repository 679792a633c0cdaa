// Package rulespolicy turns the call policy of the governance rules (package rules) into
// the settings of the packages that apply it, one way for every consumer: a retry budget
// of package breaker/retry, the options of a circuit of package breaker.
package rulespolicy

import (
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/rules"
)

// BudgetBurst is the retries a rule's budget saves up: as retry.DefaultBudget's, so that a
// quiet method can still retry the odd failure.
const BudgetBurst = 10

// Budget returns a full budget of a rule's share of calls: 0 (unset) is
// retry.DefaultBudget's 10%.
func Budget(share float64) *retry.Budget {
	if share == 0 {
		return retry.DefaultBudget()
	}
	b, err := retry.NewBudget(share, BudgetBurst)
	if err != nil { // rules.Validate keeps share from 0 to 1
		return retry.DefaultBudget()
	}
	return b
}

// CircuitOptions returns the options of a circuit (breaker.NewCircuit,
// breaker.CircuitFactory) with the thresholds of b. A zero MinRequests, Window or
// SleepWindow keeps the circuit's default (breaker.DefaultMinRequests,
// breaker.DefaultCircuitWindow, breaker.DefaultSleepWindow); the window keeps its ten
// buckets. The circuits read the system clock, which needs no goroutine to stop.
func CircuitOptions(b rules.Breaker) []breaker.CircuitOption {
	opts := []breaker.CircuitOption{breaker.WithClock(breaker.SystemClock()), breaker.WithFailureRatio(b.FailureRatio)}
	if b.MinRequests > 0 {
		opts = append(opts, breaker.WithMinRequests(b.MinRequests))
	}
	if b.Window > 0 {
		buckets := breaker.DefaultCircuitBuckets
		if b.Window < time.Duration(buckets) {
			buckets = 1 // a bucket must last 1ns at least
		}
		opts = append(opts, breaker.WithWindow(b.Window, buckets))
	}
	if b.SleepWindow > 0 {
		opts = append(opts, breaker.WithSleepWindow(b.SleepWindow))
	}
	return opts
}

// Cache holds what a consumer built from a rule (a budget, a breaker), by key (a method, a
// route's rule), so that it lasts while the rule stays and is built again when it changes.
// Reads take no lock. The zero Cache is empty and ready.
type Cache[T any] struct{ m sync.Map } // key -> *T

// Get returns what the cache holds for key when current says it still fits the rule in
// force; otherwise build makes the next one from the one held (nil when none), which is put
// in its place. When two calls build at once, one's result wins and both return it.
func (c *Cache[T]) Get(key string, current func(*T) bool, build func(old *T) *T) *T {
	v, _ := c.m.Load(key)
	cur, _ := v.(*T)
	if cur != nil && current(cur) {
		return cur
	}
	next := build(cur)
	if cur == nil {
		won, _ := c.m.LoadOrStore(key, next)
		return won.(*T)
	}
	if !c.m.CompareAndSwap(key, cur, next) {
		if won, ok := c.m.Load(key); ok {
			return won.(*T)
		}
	}
	return next
}

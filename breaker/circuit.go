package breaker

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the circuit, and why. They match hystrix's, so teams moving from hystrix-go keep
// their intuition.
const (
	// DefaultCircuitWindow is the time window the circuit judges: ten seconds in ten buckets.
	DefaultCircuitWindow  = 10 * time.Second
	DefaultCircuitBuckets = 10
	// DefaultFailureRatio opens the circuit when half the calls in the window failed.
	DefaultFailureRatio = 0.5
	// DefaultSleepWindow keeps the circuit open five seconds: long enough for a restarting
	// instance to come back, short enough that callers do not wait long after it has.
	DefaultSleepWindow = 5 * time.Second
	// DefaultHalfOpenProbes lets three calls test the upstream; three successes in a row are a
	// stronger signal than one lucky call, and three calls cannot hurt an upstream that is
	// still down.
	DefaultHalfOpenProbes = 3
)

// Circuit is a three-state circuit breaker. Closed, it lets every call through and counts the
// finished calls in a sliding window (of time or of the last n calls); when the window holds
// at least the minimum volume and the share of failures reaches the threshold, it opens. Open,
// it rejects every call for the sleep window, then turns half-open: it lets a bounded number
// of probes through at once, closes after that many successes in a row, and opens again on the
// first failed probe.
//
// A closed circuit's hot path (Allow then done) is one atomic load in Allow and, in done, a
// clock read and two atomic adds; it allocates nothing. Probes allocate. Circuit is safe for
// concurrent use.
type Circuit struct {
	name     string
	state    atomic.Int32
	openedAt atomic.Int64
	win      window
	minReq   uint64
	ratio    float64
	sleep    int64
	probes   int
	clock    Clock
	owned    *CoarseClock
	rejected atomic.Uint64
	done     func(bool)
	err      *OpenError
	onChange func(name string, from, to State)
	logger   *slog.Logger

	mu        sync.Mutex // guards state changes and the fields below
	gen       uint64     // bumped on every change, so a late probe cannot count in a later half-open spell
	inflight  int
	successes int

	hookMu sync.Mutex // held while announcing a change, so announcements keep their order
}

// NewCircuit returns a three-state breaker named name, configured by [WithClock],
// [WithWindow], [WithCountWindow], [WithMinRequests], [WithFailureRatio], [WithSleepWindow],
// [WithHalfOpenProbes], [WithOnStateChange] and [WithLogger]. Without WithClock it starts its
// own [CoarseClock], which Close stops.
//
// It returns an error wrapping [ErrInvalidConfig] when a setting is out of range, including a
// count window smaller than the minimum volume (the circuit could then never open).
func NewCircuit(name string, opts ...CircuitOption) (*Circuit, error) {
	cfg := config{
		window: DefaultCircuitWindow, buckets: DefaultCircuitBuckets, minRequests: DefaultMinRequests,
		failureRatio: DefaultFailureRatio, sleepWindow: DefaultSleepWindow, probes: DefaultHalfOpenProbes,
	}
	for _, o := range opts {
		o.applyCircuit(&cfg)
	}
	switch {
	case cfg.countWindow == 0:
		if err := checkWindow(cfg.window, cfg.buckets); err != nil {
			return nil, err
		}
	case cfg.countWindow < 0 || cfg.countWindow < cfg.minRequests:
		return nil, fmt.Errorf("%w: count window %d must be positive and at least the minimum volume %d",
			ErrInvalidConfig, cfg.countWindow, cfg.minRequests)
	}
	if cfg.minRequests < 0 {
		return nil, fmt.Errorf("%w: minimum requests is %d, want zero or more", ErrInvalidConfig, cfg.minRequests)
	}
	if !(cfg.failureRatio > 0 && cfg.failureRatio <= 1) {
		return nil, fmt.Errorf("%w: failure ratio is %v, want more than 0 and at most 1", ErrInvalidConfig, cfg.failureRatio)
	}
	if cfg.sleepWindow <= 0 {
		return nil, fmt.Errorf("%w: sleep window is %v, want more than zero", ErrInvalidConfig, cfg.sleepWindow)
	}
	if cfg.probes <= 0 {
		return nil, fmt.Errorf("%w: half-open probes is %d, want at least 1", ErrInvalidConfig, cfg.probes)
	}
	b := &Circuit{
		name:     name,
		minReq:   uint64(cfg.minRequests),
		ratio:    cfg.failureRatio,
		sleep:    int64(cfg.sleepWindow),
		probes:   cfg.probes,
		clock:    cfg.clock,
		err:      &OpenError{Name: name},
		onChange: cfg.onChange,
		logger:   cfg.logger,
	}
	if b.clock == nil {
		b.owned = NewCoarseClock(0)
		b.clock = b.owned
	}
	if cfg.countWindow > 0 {
		b.win = newCounting(cfg.countWindow)
	} else {
		b.win = newRolling(int64(cfg.window), int64(cfg.window)/int64(cfg.buckets), int64(b.clock.Now()))
	}
	b.done = b.record
	return b, nil
}

// Allow implements [Breaker].
func (b *Circuit) Allow() (func(success bool), error) {
	switch State(b.state.Load()) {
	case Closed:
		return b.done, nil
	case Open:
		if int64(b.clock.Now())-b.openedAt.Load() < b.sleep {
			b.rejected.Add(1)
			return nil, b.err
		}
	}
	return b.allowProbe()
}

func (b *Circuit) allowProbe() (func(success bool), error) {
	b.mu.Lock()
	switch State(b.state.Load()) {
	case Closed:
		b.mu.Unlock()
		return b.done, nil
	case Open:
		if int64(b.clock.Now())-b.openedAt.Load() < b.sleep {
			b.mu.Unlock()
			b.rejected.Add(1)
			return nil, b.err
		}
		b.setLocked(HalfOpen) // unlocks
		b.mu.Lock()
		if State(b.state.Load()) != HalfOpen { // changed again while announcing
			b.mu.Unlock()
			return b.Allow()
		}
	}
	if b.inflight >= b.probes {
		b.mu.Unlock()
		b.rejected.Add(1)
		return nil, b.err
	}
	b.inflight++
	gen := b.gen
	b.mu.Unlock()
	return func(success bool) { b.probeDone(gen, success) }, nil
}

func (b *Circuit) probeDone(gen uint64, success bool) {
	b.mu.Lock()
	if gen != b.gen || State(b.state.Load()) != HalfOpen {
		b.mu.Unlock()
		return
	}
	b.inflight--
	if !success {
		b.setLocked(Open)
		return
	}
	b.successes++
	if b.successes >= b.probes {
		b.setLocked(Closed)
		return
	}
	b.mu.Unlock()
}

// record is the done of calls let through while closed. A call that ends after the circuit has
// opened is dropped: its answer predates the decision and the window is reset on closing
// anyway.
func (b *Circuit) record(success bool) {
	if State(b.state.Load()) != Closed {
		return
	}
	now := int64(b.clock.Now())
	if success {
		b.win.add(now, oneCall)
		return
	}
	b.win.add(now, oneCall|oneMarked)
	calls, failures := unpack(b.win.sum(now))
	if calls >= b.minReq && calls > 0 && float64(failures) >= b.ratio*float64(calls) {
		b.mu.Lock()
		if State(b.state.Load()) != Closed {
			b.mu.Unlock()
			return
		}
		b.setLocked(Open)
	}
}

// setLocked moves to state to; b.mu must be held and is released. The hook runs after b.mu is
// released (so it may call Stats) but under hookMu taken before the release, so hooks see
// changes in the order they happened.
func (b *Circuit) setLocked(to State) {
	from := State(b.state.Load())
	b.gen++
	b.inflight, b.successes = 0, 0
	switch to {
	case Open:
		b.openedAt.Store(int64(b.clock.Now()))
	case Closed:
		b.win.reset()
	}
	b.state.Store(int32(to))
	if b.onChange == nil && b.logger == nil {
		b.mu.Unlock()
		return
	}
	b.hookMu.Lock()
	b.mu.Unlock()
	defer b.hookMu.Unlock()
	if b.logger != nil {
		b.logger.Info("breaker state changed", slog.String("breaker", b.name),
			slog.String("from", from.String()), slog.String("to", to.String()))
	}
	if b.onChange != nil {
		b.onChange(b.name, from, to)
	}
}

// State returns the circuit's state. An open circuit whose sleep window has passed reports
// [Open] until the next Allow turns it half-open.
func (b *Circuit) State() State { return State(b.state.Load()) }

// Stats implements [Reporter]. RejectRatio is 1 while open and 0 otherwise.
func (b *Circuit) Stats() Stats {
	calls, failures := unpack(b.win.sum(int64(b.clock.Now())))
	s := Stats{Name: b.name, State: b.State(), Requests: calls, Failures: failures, Rejected: b.rejected.Load()}
	if s.State == Open {
		s.RejectRatio = 1
	}
	return s
}

// Close stops the clock the breaker started for itself, if any. The breaker keeps working
// after Close, reading the system clock instead.
func (b *Circuit) Close() error {
	if b.owned != nil {
		return b.owned.Close()
	}
	return nil
}

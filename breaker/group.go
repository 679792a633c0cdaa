package breaker

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Factory makes the breaker for one key of a [Group]. clk is the group's shared clock; pass it
// on with [WithClock] so that all breakers of a group share one refreshing goroutine.
type Factory func(name string, clk Clock) (Breaker, error)

// AdaptiveFactory returns a [Factory] of [NewAdaptive] breakers with opts.
func AdaptiveFactory(opts ...AdaptiveOption) Factory {
	return func(name string, clk Clock) (Breaker, error) {
		return NewAdaptive(name, append(slices.Clip(opts), WithClock(clk))...)
	}
}

// CircuitFactory returns a [Factory] of [NewCircuit] breakers with opts.
func CircuitFactory(opts ...CircuitOption) Factory {
	return func(name string, clk Clock) (Breaker, error) {
		return NewCircuit(name, append(slices.Clip(opts), WithClock(clk))...)
	}
}

// GroupOption configures a [Group].
type GroupOption func(*groupConfig)

type groupConfig struct {
	resolution time.Duration
	clock      Clock
}

// WithResolution sets how often the group's [CoarseClock] refreshes ([DefaultResolution] by
// default).
func WithResolution(d time.Duration) GroupOption { return func(c *groupConfig) { c.resolution = d } }

// WithGroupClock makes the group hand c to its breakers instead of starting a [CoarseClock].
// The group does not close c.
func WithGroupClock(c Clock) GroupOption { return func(c2 *groupConfig) { c2.clock = c } }

// Group holds one breaker per key, made on first use: the interceptors key it by full gRPC
// method name, and a balancer can key it by endpoint address. Looking a key up takes no lock
// and allocates nothing. Group is safe for concurrent use; Close it when done to stop its
// clock.
type Group struct {
	factory Factory
	clock   Clock
	owned   *CoarseClock
	mu      sync.Mutex // serialises inserts
	entries atomic.Pointer[map[string]*entry]
	closed  bool
}

type entry struct {
	b   Breaker
	rej error // the status error the interceptors return when b rejects, built once
}

// NewGroup returns a group whose breakers come from factory ([AdaptiveFactory] with defaults
// if nil). It builds one breaker to check the factory's settings and returns that error,
// wrapped, if it fails.
func NewGroup(factory Factory, opts ...GroupOption) (*Group, error) {
	var cfg groupConfig
	for _, o := range opts {
		o(&cfg)
	}
	if factory == nil {
		factory = AdaptiveFactory()
	}
	g := &Group{factory: factory, clock: cfg.clock}
	if g.clock == nil {
		g.owned = NewCoarseClock(cfg.resolution)
		g.clock = g.owned
	}
	trial, err := factory("config-check", g.clock)
	if err != nil {
		g.Close()
		return nil, fmt.Errorf("breaker: group factory: %w", err)
	}
	closeBreaker(trial)
	empty := map[string]*entry{}
	g.entries.Store(&empty)
	return g, nil
}

// Get returns the breaker for key, making it if needed. It fails only if the factory fails for
// this key or the group is closed ([ErrClosed]).
func (g *Group) Get(key string) (Breaker, error) {
	e, err := g.get(key)
	if err != nil {
		return nil, err
	}
	return e.b, nil
}

// ErrClosed is returned by [Group.Get] for a new key after [Group.Close].
var ErrClosed = errors.New("breaker: group closed")

func (g *Group) get(key string) (*entry, error) {
	if e, ok := (*g.entries.Load())[key]; ok {
		return e, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	old := *g.entries.Load()
	if e, ok := old[key]; ok {
		return e, nil
	}
	if g.closed {
		return nil, ErrClosed
	}
	b, err := g.factory(key, g.clock)
	if err != nil {
		return nil, fmt.Errorf("breaker: making breaker %q: %w", key, err)
	}
	e := &entry{b: b, rej: newRejection(key)}
	next := make(map[string]*entry, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = e
	g.entries.Store(&next)
	return e, nil
}

// Stats returns the stats of every breaker in the group that implements [Reporter], sorted by
// name.
func (g *Group) Stats() []Stats {
	m := *g.entries.Load()
	out := make([]Stats, 0, len(m))
	for _, e := range m {
		if r, ok := e.b.(Reporter); ok {
			out = append(out, r.Stats())
		}
	}
	slices.SortFunc(out, func(a, b Stats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// Close closes every breaker that implements io.Closer and stops the group's clock. Breakers
// already handed out keep working (reading the system clock); Get fails for new keys.
func (g *Group) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	var errs []error
	if p := g.entries.Load(); p != nil {
		for _, e := range *p {
			errs = append(errs, closeBreaker(e.b))
		}
	}
	if g.owned != nil {
		errs = append(errs, g.owned.Close())
	}
	return errors.Join(errs...)
}

func closeBreaker(b Breaker) error {
	if c, ok := b.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

// Rejection is the error the interceptors return for a call a breaker refused: its gRPC status
// is codes.Unavailable with a message naming the breaker, and it wraps the breaker's
// [*OpenError] (so errors.Is(err, ErrOpen) holds). It never crosses the wire: the call was not
// sent.
type Rejection struct {
	open *OpenError
	st   *status.Status
}

func newRejection(key string) *Rejection {
	open := &OpenError{Name: key}
	return &Rejection{open: open, st: status.New(codes.Unavailable, open.Error()+"; call not sent")}
}

// Error returns the status message.
func (r *Rejection) Error() string { return "rpc error: code = Unavailable desc = " + r.st.Message() }

// GRPCStatus returns codes.Unavailable with a message naming the breaker.
func (r *Rejection) GRPCStatus() *status.Status { return r.st }

// Unwrap returns the breaker's [*OpenError].
func (r *Rejection) Unwrap() error { return r.open }

package hystrix

import (
	"context"
	"errors"
	"sync/atomic"

	hx "github.com/afex/hystrix-go/hystrix"

	"github.com/tianshu-go/tianshu/breaker"
)

// Breaker is one hystrix-go command seen as a [breaker.Breaker]. Each Allow runs hystrix.GoC
// with a function that waits for done, so hystrix's concurrency limit, timeout and error
// accounting apply to the whole call.
type Breaker struct {
	name     string
	rejected atomic.Uint64
}

// New returns the adapter for the hystrix command name. With a non-nil cfg it first calls
// hystrix.ConfigureCommand(name, *cfg), which changes process-wide settings: every other user
// of that command name sees them too, and MaxConcurrentRequests is fixed once the command has
// run. With a nil cfg the command keeps whatever settings it has (hystrix's defaults, if none:
// 1 s timeout, 10 concurrent calls, volume 20, 50% errors, 5 s sleep window).
func New(name string, cfg *hx.CommandConfig) *Breaker {
	if cfg != nil {
		hx.ConfigureCommand(name, *cfg)
	}
	return &Breaker{name: name}
}

// Factory returns a [breaker.Factory] of adapters sharing cfg, for a [breaker.Group]. The
// group's clock is unused: hystrix keeps its own time. Every distinct key becomes a hystrix
// circuit with two goroutines that never stop, so keep keys to a fixed set such as method
// names, never endpoint addresses.
func Factory(cfg *hx.CommandConfig) breaker.Factory {
	return func(name string, _ breaker.Clock) (breaker.Breaker, error) {
		return New(name, cfg), nil
	}
}

// errAbandoned ends a run function whose call was already refused, should hystrix start it
// late.
var errAbandoned = errors.New("hystrix adapter: call abandoned")

// errFailed is what the run function returns to hystrix for a call that failed.
var errFailed = errors.New("hystrix adapter: call failed")

// Allow implements [breaker.Breaker]. It blocks until hystrix has either started the command,
// which returns done, or refused it (circuit open, too many concurrent calls), which returns a
// [*RejectedError]. done must be called exactly once: until then a hystrix goroutine waits for
// it and the call holds one of the command's concurrency tickets.
func (b *Breaker) Allow() (func(success bool), error) {
	started := make(chan struct{})
	verdict := make(chan error, 1)
	errs := hx.GoC(context.Background(), b.name, func(context.Context) error {
		close(started)
		return <-verdict
	}, nil)
	select {
	case <-started:
		return func(success bool) {
			if success {
				verdict <- nil
			} else {
				verdict <- errFailed
			}
		}, nil
	case err := <-errs:
		verdict <- errAbandoned
		b.rejected.Add(1)
		return nil, &RejectedError{Name: b.name, Cause: err}
	}
}

// Stats implements [breaker.Reporter]. hystrix-go does not expose its window counts, so only
// State and Rejected are filled.
func (b *Breaker) Stats() breaker.Stats {
	s := breaker.Stats{Name: b.name, Rejected: b.rejected.Load()}
	if c, _, err := hx.GetCircuit(b.name); err == nil && c.IsOpen() {
		s.State, s.RejectRatio = breaker.Open, 1
	}
	return s
}

// RejectedError is hystrix's refusal. It matches errors.Is(err, breaker.ErrOpen), errors.As to
// a [*breaker.OpenError] naming the command, and errors.Is against hystrix's own errors such
// as hystrix.ErrCircuitOpen and hystrix.ErrMaxConcurrency.
type RejectedError struct {
	Name  string
	Cause error
}

// Error names the command and hystrix's reason.
func (e *RejectedError) Error() string { return "breaker " + e.Name + " is open: " + e.Cause.Error() }

// Unwrap returns the [breaker.OpenError] and hystrix's error.
func (e *RejectedError) Unwrap() []error { return []error{&breaker.OpenError{Name: e.Name}, e.Cause} }

package breaker

import (
	"errors"
	"fmt"
)

// Breaker decides whether a call may go out and learns from how it ended.
//
// Allow is called before each call, from any goroutine, and must not block. When it returns a
// nil error the caller must make the call and then invoke done exactly once with success
// reporting whether the upstream answered healthily (see [IsFailure] for what counts as a
// failure). When Allow returns an error the call must not be made, done is nil, and the
// rejection is not fed back into the breaker: a breaker learns only from the upstream's
// answers, never from its own refusals, so it recovers as soon as the upstream does.
//
// The error from Allow wraps [ErrOpen] and is an [*OpenError] naming the breaker.
type Breaker interface {
	Allow() (done func(success bool), err error)
}

// Reporter is implemented by breakers whose state and counts can be read. Every breaker in
// this module implements it.
type Reporter interface {
	Stats() Stats
}

// ErrOpen is wrapped by every rejection from a breaker in this module.
var ErrOpen = errors.New("breaker: open")

// ErrInvalidConfig is wrapped by the errors of constructors given a setting out of range.
var ErrInvalidConfig = errors.New("breaker: invalid config")

// OpenError is the rejection a breaker returns from Allow. It is built once per breaker, so
// rejecting allocates nothing.
type OpenError struct {
	// Name is the breaker's name, for a [Group] the key it was created for (the gRPC method).
	Name string
}

// Error names the breaker.
func (e *OpenError) Error() string { return "breaker " + e.Name + " is open" }

// Unwrap returns [ErrOpen].
func (e *OpenError) Unwrap() error { return ErrOpen }

// State is where a breaker stands. The adaptive breaker is [Closed] while it sheds nothing and
// [Throttling] while it sheds a part of the calls; the circuit moves between [Closed], [Open]
// and [HalfOpen].
type State int32

// States.
const (
	Closed State = iota
	Open
	HalfOpen
	Throttling
)

// String returns the state's lower-case name.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	case Throttling:
		return "throttling"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Stats is a snapshot of a breaker, for metrics and debugging. Window counts cover the
// breaker's current sliding window; Rejected is cumulative since the breaker was made.
type Stats struct {
	Name  string
	State State
	// Requests and Failures are the calls that went out and ended in the current window, and
	// how many of those failed. Calls rejected locally are not in either.
	Requests uint64
	Failures uint64
	// Rejected counts the calls refused by the breaker since it was made.
	Rejected uint64
	// RejectRatio is the probability that the next call is refused: for the adaptive breaker
	// its drop probability, for the circuit 0 when closed and 1 when open.
	RejectRatio float64
}

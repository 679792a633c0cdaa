package retry

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/internal/backoff"
)

// ErrInvalidPolicy is wrapped by the errors for a policy or budget out of range.
var ErrInvalidPolicy = errors.New("retry: invalid policy")

// Policy says how one method is retried.
type Policy struct {
	// MaxAttempts is the most attempts a call makes, the first included; 1 means never retry.
	MaxAttempts int
	// InitialBackoff is the wait before the first retry; each later wait is Multiplier times
	// the one before, up to MaxBackoff.
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	Multiplier     float64
	// Jitter spreads each wait uniformly over ±Jitter of itself (0 to 1), so that clients
	// failed by the same outage do not come back in step.
	Jitter float64
	// Codes are the status codes worth another attempt.
	Codes []codes.Code
	// Idempotent must be true for the method to be retried at all: an attempt that failed may
	// still have taken effect on the server, so only methods safe to run twice are retried.
	Idempotent bool
	// PerAttemptTimeout, when above zero, bounds each attempt; the caller's deadline still
	// bounds the whole call.
	PerAttemptTimeout time.Duration
}

// DefaultPolicy returns 3 attempts, waits from 50 ms doubling up to 1 s with 20% jitter,
// retrying Unavailable only (the code grpc-go gives when no connection could carry the call,
// the case most likely to succeed elsewhere or a moment later), for an idempotent method.
// Unavailable is also what a breaker's refusal carries, but refusals are never retried.
func DefaultPolicy() Policy {
	return Policy{
		MaxAttempts: 3, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second, Multiplier: 2, Jitter: 0.2,
		Codes: []codes.Code{codes.Unavailable}, Idempotent: true,
	}
}

func (p Policy) validate(method string) error {
	switch {
	case p.MaxAttempts < 1:
		return fmt.Errorf("%w: %s: MaxAttempts is %d, want at least 1", ErrInvalidPolicy, method, p.MaxAttempts)
	case p.MaxAttempts == 1:
		return nil
	case p.InitialBackoff <= 0 || p.MaxBackoff < p.InitialBackoff:
		return fmt.Errorf("%w: %s: backoff from %v to %v, want 0 < initial <= max", ErrInvalidPolicy, method,
			p.InitialBackoff, p.MaxBackoff)
	case !(p.Multiplier >= 1):
		return fmt.Errorf("%w: %s: Multiplier is %v, want at least 1", ErrInvalidPolicy, method, p.Multiplier)
	case !(p.Jitter >= 0 && p.Jitter <= 1):
		return fmt.Errorf("%w: %s: Jitter is %v, want 0 to 1", ErrInvalidPolicy, method, p.Jitter)
	case len(p.Codes) == 0:
		return fmt.Errorf("%w: %s: no retryable Codes", ErrInvalidPolicy, method)
	case slices.Contains(p.Codes, codes.OK):
		return fmt.Errorf("%w: %s: OK is not an error to retry", ErrInvalidPolicy, method)
	case p.PerAttemptTimeout < 0:
		return fmt.Errorf("%w: %s: PerAttemptTimeout is %v", ErrInvalidPolicy, method, p.PerAttemptTimeout)
	}
	return nil
}

// Backoff returns the wait before retry number n (1 for the first retry): InitialBackoff times
// Multiplier^(n-1), capped at MaxBackoff, spread by Jitter, and never above MaxBackoff.
func (p Policy) Backoff(n int) time.Duration {
	d := float64(p.InitialBackoff) * math.Pow(p.Multiplier, float64(n-1))
	d = min(d, float64(p.MaxBackoff))
	d *= 1 + p.Jitter*(2*rand.Float64()-1)
	return time.Duration(min(d, float64(p.MaxBackoff)))
}

// Budget caps retries at a share of calls, so that an upstream that fails everything sees at
// most that much extra load instead of MaxAttempts times its traffic. Every call adds Ratio of
// a token, up to Burst tokens; every retry takes a whole one or does not happen. Over any
// stretch of time, retries are at most Burst + Ratio × calls. A Budget is safe for concurrent
// use; share one among the methods that hit the same upstream.
type Budget struct {
	perCall int64 // in thousandths of a token
	max     int64
	tokens  atomic.Int64
}

const milli = 1000

// NewBudget returns a full budget allowing retries for ratio (0 to 1) of calls, with up to
// burst retries saved up.
func NewBudget(ratio float64, burst int) (*Budget, error) {
	if !(ratio >= 0 && ratio <= 1) || burst < 0 {
		return nil, fmt.Errorf("%w: budget ratio %v and burst %d, want 0 <= ratio <= 1 and burst >= 0",
			ErrInvalidPolicy, ratio, burst)
	}
	b := &Budget{perCall: int64(ratio * milli), max: int64(burst) * milli}
	b.max = max(b.max, milli) // at least one retry can be saved up, or a small ratio could never pay for one
	b.tokens.Store(b.max)
	return b, nil
}

// DefaultBudget returns a budget of 10% of calls with a burst of 10: a failing upstream gets
// at most 1.1 times its usual calls, and a quiet method can still retry the odd failure.
func DefaultBudget() *Budget {
	b, _ := NewBudget(0.1, 10)
	return b
}

// Deposit credits the budget for one call, as the interceptor does once per call (not per
// attempt); for callers outside gRPC, such as package rest's HTTP client.
func (b *Budget) Deposit() { b.deposit() }

// Withdraw takes a whole token for one retry and reports whether there was one; when it
// returns false the retry must not happen.
func (b *Budget) Withdraw() bool { return b.withdraw() }

func (b *Budget) deposit() {
	for {
		t := b.tokens.Load()
		if t >= b.max || b.perCall == 0 {
			return
		}
		if b.tokens.CompareAndSwap(t, min(t+b.perCall, b.max)) {
			return
		}
	}
}

func (b *Budget) withdraw() bool {
	for {
		t := b.tokens.Load()
		if t < milli {
			return false
		}
		if b.tokens.CompareAndSwap(t, t-milli) {
			return true
		}
	}
}

// Option configures [UnaryClientInterceptor].
type Option func(*config)

type config struct {
	methods map[string]Policy
	def     *Policy
	budget  *Budget
}

// WithMethod sets the policy of one method, by full name ("/pkg.Service/Method").
func WithMethod(method string, p Policy) Option {
	return func(c *config) { c.methods[method] = p }
}

// WithDefaultPolicy sets the policy of the methods without their own. Without it such methods
// are never retried: the interceptor cannot know they are idempotent.
func WithDefaultPolicy(p Policy) Option {
	return func(c *config) { c.def = &p }
}

// WithBudget sets the budget all the interceptor's retries draw on; [DefaultBudget] if not
// set.
func WithBudget(b *Budget) Option {
	return func(c *config) { c.budget = b }
}

// UnaryClientInterceptor retries failed unary calls by policy. A call is retried only when its
// method is idempotent, its error's code is in the policy's Codes, it has attempts left, the
// budget has a token, and the wait before the retry ends before the caller's deadline;
// otherwise the last attempt's error is returned as it is. Every attempt runs under the
// caller's context, so its deadline and cancellation reach each attempt and no retry outlives
// them. A breaker's refusal ([breaker.ErrOpen]) is never retried.
//
// Put it outside the breaker interceptor, so that each attempt passes the breaker. Streams are
// not retried: a stream's messages cannot be replayed safely by a generic interceptor. Do not
// also enable grpc-go's own retries (service config retryPolicy) for the same methods, or
// attempts multiply.
//
// It returns an error wrapping [ErrInvalidPolicy] for a policy or budget out of range.
func UnaryClientInterceptor(opts ...Option) (grpc.UnaryClientInterceptor, error) {
	cfg := config{methods: map[string]Policy{}}
	for _, o := range opts {
		o(&cfg)
	}
	for m, p := range cfg.methods {
		if err := p.validate(m); err != nil {
			return nil, err
		}
	}
	if cfg.def != nil {
		if err := cfg.def.validate("default policy"); err != nil {
			return nil, err
		}
	}
	if cfg.budget == nil {
		cfg.budget = DefaultBudget()
	}
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		p, ok := cfg.methods[method]
		if !ok && cfg.def != nil {
			p, ok = *cfg.def, true
		}
		if !ok || !p.Idempotent || p.MaxAttempts <= 1 || ctx.Value(handledKey{}) != nil {
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}
		cfg.budget.deposit()
		for attempt := 1; ; attempt++ {
			err := attemptOnce(ctx, p.PerAttemptTimeout, func(actx context.Context) error {
				return invoker(actx, method, req, reply, cc, callOpts...)
			})
			if err == nil || attempt >= p.MaxAttempts || !retryable(err, p.Codes) || ctx.Err() != nil {
				return err
			}
			wait := p.Backoff(attempt)
			if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) <= wait {
				return err // the retry could not finish before the caller stops waiting
			}
			if !cfg.budget.withdraw() {
				return err
			}
			if !backoff.Sleep(ctx, wait) {
				return err
			}
		}
	}, nil
}

type handledKey struct{}

// Handled returns ctx marked as one attempt of a call that an outer layer retries (rpc's
// retries from the governance rules): UnaryClientInterceptor sends a marked call once, so
// that the application's policy and the outer one do not multiply each other's attempts.
func Handled(ctx context.Context) context.Context {
	return context.WithValue(ctx, handledKey{}, true)
}

func attemptOnce(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	if timeout <= 0 {
		return f(ctx)
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return f(actx)
}

func retryable(err error, cs []codes.Code) bool {
	if errors.Is(err, breaker.ErrOpen) {
		return false
	}
	return slices.Contains(cs, status.Code(err))
}

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Limiter admits or refuses one incoming call. Allow is called before the handler, from any
// goroutine, and must not block. When it returns true the caller must call done exactly once
// when the handler returns; when it returns false done is nil and the call must be refused.
type Limiter interface {
	Allow() (done func(), ok bool)
}

// ErrInvalidConfig is wrapped by the errors of constructors given a setting out of range.
var ErrInvalidConfig = errors.New("ratelimit: invalid config")

func noop() {}

// TokenBucket admits calls at a steady rate with bursts: it holds up to burst tokens, gains
// rate tokens a second, and each call takes one. It is safe for concurrent use.
type TokenBucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per nanosecond
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// NewTokenBucket returns a full bucket admitting rate calls a second with bursts of up to
// burst. It returns an error wrapping [ErrInvalidConfig] unless rate > 0 and burst >= 1.
func NewTokenBucket(rate float64, burst int) (*TokenBucket, error) {
	if !(rate > 0) || burst < 1 {
		return nil, fmt.Errorf("%w: token bucket of rate %v/s and burst %d, want rate > 0 and burst >= 1",
			ErrInvalidConfig, rate, burst)
	}
	b := &TokenBucket{rate: rate / float64(time.Second), burst: float64(burst), tokens: float64(burst), now: time.Now}
	b.last = b.now()
	return b, nil
}

// Allow implements [Limiter]. It reads the clock once per call: on the server side that is
// small beside decoding a request.
func (b *TokenBucket) Allow() (func(), bool) {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if elapsed := now.Sub(b.last); elapsed > 0 {
		b.tokens = min(b.burst, b.tokens+float64(elapsed)*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return nil, false
	}
	b.tokens--
	return noop, true
}

// Option configures the server interceptors.
type Option func(*config)

type config struct {
	methods map[string]Limiter
	all     Limiter
}

// ForMethod limits one method, by full name ("/pkg.Service/Method"), with l.
func ForMethod(method string, l Limiter) Option { return func(c *config) { c.methods[method] = l } }

// ForAll limits every call with l, after any per-method limiter has admitted it. One
// [Adaptive] limiter for the whole server is the usual choice: overload is a property of the
// process, not of a method.
func ForAll(l Limiter) Option { return func(c *config) { c.all = l } }

func newConfig(opts []Option) *config {
	c := &config{methods: map[string]Limiter{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// admit runs the method's limiter and then the server-wide one, and returns the done to call
// after the handler.
func (c *config) admit(method string) (func(), error) {
	var first func()
	if l, ok := c.methods[method]; ok {
		d, ok := l.Allow()
		if !ok {
			return nil, status.Errorf(codes.ResourceExhausted, "ratelimit: %s is over its rate limit", method)
		}
		first = d
	}
	if c.all != nil {
		d, ok := c.all.Allow()
		if !ok {
			if first != nil {
				first()
			}
			return nil, status.Errorf(codes.ResourceExhausted, "ratelimit: server overloaded, %s refused", method)
		}
		if first == nil {
			return d, nil
		}
		return func() { d(); first() }, nil
	}
	if first == nil {
		return noop, nil
	}
	return first, nil
}

// UnaryServerInterceptor refuses calls over their limits with codes.ResourceExhausted, before
// the handler runs.
func UnaryServerInterceptor(opts ...Option) grpc.UnaryServerInterceptor {
	c := newConfig(opts)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		done, err := c.admit(info.FullMethod)
		if err != nil {
			return nil, err
		}
		defer done()
		return handler(ctx, req)
	}
}

// StreamServerInterceptor refuses streams over their limits with codes.ResourceExhausted; an
// admitted stream counts as in flight until its handler returns.
func StreamServerInterceptor(opts ...Option) grpc.StreamServerInterceptor {
	c := newConfig(opts)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		done, err := c.admit(info.FullMethod)
		if err != nil {
			return err
		}
		defer done()
		return handler(srv, ss)
	}
}

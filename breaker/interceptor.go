package breaker

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// IsFailure reports whether err is the upstream's fault and so should count against it: codes
// Unavailable, DeadlineExceeded, ResourceExhausted, Internal, Unknown and DataLoss. A nil
// error, the caller's own mistakes (InvalidArgument, NotFound, AlreadyExists,
// PermissionDenied, Unauthenticated, FailedPrecondition, OutOfRange, Unimplemented, Aborted)
// and Canceled are not failures: the upstream answered, or the caller gave up. A breaker's own
// [Rejection] is not a failure either, so rejections never feed back into a breaker.
func IsFailure(err error) bool {
	if err == nil {
		return false
	}
	var rej *Rejection
	if errors.As(err, &rej) {
		return false
	}
	code := status.Code(err)
	if code == codes.Unknown {
		code = status.FromContextError(err).Code() // a bare context error from the caller's side
	}
	switch code {
	case codes.Unavailable, codes.DeadlineExceeded, codes.ResourceExhausted, codes.Internal, codes.Unknown,
		codes.DataLoss:
		return true
	}
	return false
}

// UnaryFallback answers a call its breaker refused. err is the [*Rejection] (codes.Unavailable
// naming the breaker). Returning nil means the fallback filled reply; returning an error gives
// that error to the caller.
type UnaryFallback func(ctx context.Context, method string, req, reply any, err error) error

// StreamFallback answers a stream its breaker refused, as [UnaryFallback] does for unary
// calls.
type StreamFallback func(ctx context.Context, desc *grpc.StreamDesc, method string, err error) (grpc.ClientStream, error)

// InterceptorOption configures the client interceptors.
type InterceptorOption func(*interceptorConfig)

type interceptorConfig struct {
	unaryFallback  UnaryFallback
	streamFallback StreamFallback
	isFailure      func(error) bool
	key            func(ctx context.Context, method string) string
}

// WithUnaryFallback calls f for unary calls the breaker refuses. Fallbacks run only on
// refusals, not on failed calls: a failed call's error is the upstream's answer and goes back
// to the caller as it is.
func WithUnaryFallback(f UnaryFallback) InterceptorOption {
	return func(c *interceptorConfig) { c.unaryFallback = f }
}

// WithStreamFallback calls f for streams the breaker refuses.
func WithStreamFallback(f StreamFallback) InterceptorOption {
	return func(c *interceptorConfig) { c.streamFallback = f }
}

// WithFailureClassifier replaces [IsFailure] for deciding which call errors count against the
// upstream.
func WithFailureClassifier(f func(error) bool) InterceptorOption {
	return func(c *interceptorConfig) { c.isFailure = f }
}

// WithKey picks the breaker for a call; the default is the full method name
// ("/pkg.Service/Method"). Use it to share one breaker among methods that fail together, or to
// split one method by something in ctx. Keys must come from a small set: each new key makes a
// breaker that lives as long as the group.
func WithKey(f func(ctx context.Context, method string) string) InterceptorOption {
	return func(c *interceptorConfig) { c.key = f }
}

func newInterceptorConfig(opts []InterceptorOption) interceptorConfig {
	c := interceptorConfig{isFailure: IsFailure}
	for _, o := range opts {
		o(&c)
	}
	return c
}

func (c *interceptorConfig) keyOf(ctx context.Context, method string) string {
	if c.key != nil {
		return c.key(ctx, method)
	}
	return method
}

// UnaryClientInterceptor guards unary calls with one breaker per method from g. A refused call
// is not sent and gets the fallback's answer or, without one, a [*Rejection]:
// codes.Unavailable with a message naming the breaker. Put it inside a retry interceptor so
// that each attempt is judged on its own.
func UnaryClientInterceptor(g *Group, opts ...InterceptorOption) grpc.UnaryClientInterceptor {
	cfg := newInterceptorConfig(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, callOpts ...grpc.CallOption) error {
		if ctx.Value(handledKey{}) != nil {
			return invoker(ctx, method, req, reply, cc, callOpts...)
		}
		e, err := g.get(cfg.keyOf(ctx, method))
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
		done, err := e.b.Allow()
		if err != nil {
			if cfg.unaryFallback != nil {
				return cfg.unaryFallback(ctx, method, req, reply, e.rej)
			}
			return e.rej
		}
		err = invoker(ctx, method, req, reply, cc, callOpts...)
		done(!cfg.isFailure(err))
		return err
	}
}

type handledKey struct{}

// Handled returns ctx marked as a call that an outer breaker judges (rpc's breaker from the
// governance rules): UnaryClientInterceptor lets a marked call through without asking its
// own, so that the rules' thresholds replace the application's instead of adding to them.
func Handled(ctx context.Context) context.Context {
	return context.WithValue(ctx, handledKey{}, true)
}

// StreamClientInterceptor guards streams with one breaker per method from g. A stream's
// outcome is its final status: io.EOF from RecvMsg is a success, another error is judged like
// a unary error. A stream abandoned by cancelling its context counts as a success (the caller
// gave up; the upstream did nothing wrong), so a breaker never waits forever on a stream
// nobody reads.
func StreamClientInterceptor(g *Group, opts ...InterceptorOption) grpc.StreamClientInterceptor {
	cfg := newInterceptorConfig(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, callOpts ...grpc.CallOption) (grpc.ClientStream, error) {
		e, err := g.get(cfg.keyOf(ctx, method))
		if err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
		done, err := e.b.Allow()
		if err != nil {
			if cfg.streamFallback != nil {
				return cfg.streamFallback(ctx, desc, method, e.rej)
			}
			return nil, e.rej
		}
		cs, err := streamer(ctx, desc, cc, method, callOpts...)
		if err != nil {
			done(!cfg.isFailure(err))
			return nil, err
		}
		s := &guardedStream{ClientStream: cs, done: done, isFailure: cfg.isFailure, unaryReply: !desc.ServerStreams}
		s.stop = context.AfterFunc(ctx, func() { s.finish(nil, false) })
		return s, nil
	}
}

type guardedStream struct {
	grpc.ClientStream
	done       func(bool)
	isFailure  func(error) bool
	unaryReply bool
	finished   atomic.Bool
	stop       func() bool
}

// finish reports the outcome once. stop is false when called from the AfterFunc, which must
// not read s.stop: it may run before the field is set.
func (s *guardedStream) finish(err error, stop bool) {
	if s.finished.CompareAndSwap(false, true) {
		if stop {
			s.stop()
		}
		s.done(!s.isFailure(err))
	}
}

// RecvMsg reports the stream's end to the breaker.
func (s *guardedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	switch {
	case err == io.EOF:
		s.finish(nil, true)
	case err != nil:
		s.finish(err, true)
	case s.unaryReply:
		s.finish(nil, true)
	}
	return err
}

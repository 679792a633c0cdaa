package rpc

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/breaker/ratelimit"
	"github.com/tianshu-go/tianshu/rules"
)

// WithServerRules applies the providers' limits of store's rules (rules.LimitFor of the
// server's service, WithService) to the server's calls: each method limited there gets a
// token bucket of its own, the rate and burst of its entry (or of "*"), and a call over
// it is refused with codes.ResourceExhausted before its handler runs. A change of the
// rules applies to the next call; the buckets then start full. NewServer panics when store
// is nil.
func WithServerRules(store *rules.Store) ServerOption {
	return func(o *serverOptions) { o.rules, o.rulesSet = store, true }
}

// serverLimits admits calls by the rules in force.
type serverLimits struct {
	store   *rules.Store
	service string
	cur     atomic.Pointer[limitSet]
}

// limitSet holds the buckets of one rules document, made on each method's first call.
type limitSet struct {
	doc     *rules.Rules
	buckets sync.Map // method -> *ratelimit.TokenBucket, or noLimit
}

type noLimit struct{}

func newServerLimits(store *rules.Store, service string) *serverLimits {
	l := &serverLimits{store: store, service: service}
	l.cur.Store(&limitSet{doc: store.Load()})
	return l
}

// admit returns nil when the call may go on, else the status error refusing it.
func (l *serverLimits) admit(method string) error {
	set := l.cur.Load()
	if doc := l.store.Load(); doc != set.doc {
		// New rules: new buckets. Whoever swaps first wins; the others use its set.
		next := &limitSet{doc: doc}
		if !l.cur.CompareAndSwap(set, next) {
			next = l.cur.Load()
		}
		set = next
	}
	b, ok := set.buckets.Load(method)
	if !ok {
		b = noLimit{}
		if lim, found := set.doc.LimitFor(l.service, method); found {
			// The rules are validated: rate > 0; a burst of 0 means one call at a time.
			if tb, err := ratelimit.NewTokenBucket(lim.Rate, max(lim.Burst, 1)); err == nil {
				b = tb
			}
		}
		b, _ = set.buckets.LoadOrStore(method, b)
	}
	if tb, ok := b.(*ratelimit.TokenBucket); ok {
		if _, ok := tb.Allow(); !ok {
			return status.Errorf(codes.ResourceExhausted, "rpc: %s is over its rate limit (governance rules of %q)", method, l.service)
		}
	}
	return nil
}

func (l *serverLimits) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := l.admit(info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (l *serverLimits) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := l.admit(info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

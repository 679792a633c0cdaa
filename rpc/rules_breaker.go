package rpc

import (
	"context"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/breaker"
	"github.com/tianshu-go/tianshu/internal/rulespolicy"
	"github.com/tianshu-go/tianshu/rules"
)

// rulesBreakers guards the unary calls of one connection's service with a circuit per
// method whose policy has a breaker rule (rules.PolicyFor), read per call. A method's
// circuit lasts while its rule's thresholds stay; new thresholds start a closed circuit.
type rulesBreakers struct {
	store   *rules.Store
	service string
	log     func(method string, err error)
	methods rulespolicy.Cache[methodBreaker] // by method
}

// methodBreaker is the breaker interceptor of one method under one rule; call is nil when
// the circuit could not be made.
type methodBreaker struct {
	rule rules.Breaker
	call grpc.UnaryClientInterceptor
}

// intercept sends a call with no breaker rule as it comes, so that the application's own
// breaker interceptor judges it. A call with one is judged here, and marked
// breaker.Handled so that the application's interceptor lets it through: the rule's
// thresholds replace the application's.
func (r *rulesBreakers) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	p, ok := r.store.Load().PolicyFor(r.service, method)
	if !ok || p.Breaker == nil {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	mb := r.forMethod(method, *p.Breaker)
	if mb.call == nil {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	return mb.call(ctx, method, req, reply, cc, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		return invoker(breaker.Handled(ctx), method, req, reply, cc, opts...)
	}, opts...)
}

func (r *rulesBreakers) forMethod(method string, rule rules.Breaker) *methodBreaker {
	return r.methods.Get(method, func(cur *methodBreaker) bool { return cur.rule == rule }, func(*methodBreaker) *methodBreaker {
		next := &methodBreaker{rule: rule}
		// A group of one circuit, so that a refusal is what package breaker's interceptor
		// returns: Unavailable naming the method, wrapping breaker.ErrOpen, never retried.
		// Its circuits read the system clock: the group needs no Close.
		g, err := breaker.NewGroup(breaker.CircuitFactory(rulespolicy.CircuitOptions(rule)...),
			breaker.WithGroupClock(breaker.SystemClock()))
		if err != nil { // rules.Validate keeps the thresholds in range
			r.log(method, err)
			return next
		}
		next.call = breaker.UnaryClientInterceptor(g)
		return next
	})
}

package rpc

import (
	"context"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/breaker/retry"
	"github.com/tianshu-go/tianshu/internal/rulespolicy"
	"github.com/tianshu-go/tianshu/rules"
)

// rulesRetrier retries the unary calls of one connection's service by the retries of their
// method's policy (rules.PolicyFor), read per call. Each method has its own budget, kept
// while the rules' share for it stays the same, so that a change of attempts does not
// refill it and a change of share starts a budget of the new share.
type rulesRetrier struct {
	store   *rules.Store
	service string
	methods rulespolicy.Cache[methodRetry] // by method
}

// methodRetry is the retry of one method under one rule: the retry package's interceptor
// built with the rule's attempts and a budget of its share.
type methodRetry struct {
	attempts int
	share    float64
	budget   *retry.Budget
	call     grpc.UnaryClientInterceptor // nil when attempts is 1
}

func newRulesRetrier(store *rules.Store, service string) *rulesRetrier {
	return &rulesRetrier{store: store, service: service}
}

// intercept sends a call with no retries rule as it comes, so that the application's own
// retries (an interceptor of package retry in WithUnaryClientInterceptors) apply to it.
// A call with one is retried here and marked retry.Handled, so that the application's
// interceptor sends each attempt once: the rule replaces the application's policy.
func (r *rulesRetrier) intercept(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	p, ok := r.store.Load().PolicyFor(r.service, method)
	if !ok || p.Retries == nil {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	mr := r.forMethod(method, *p.Retries)
	if mr.call == nil {
		return invoker(retry.Handled(ctx), method, req, reply, cc, opts...)
	}
	return mr.call(ctx, method, req, reply, cc, func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
		return invoker(retry.Handled(ctx), method, req, reply, cc, opts...)
	}, opts...)
}

// forMethod returns the retry of method under rule rt, building it when the rule changed.
func (r *rulesRetrier) forMethod(method string, rt rules.Retries) *methodRetry {
	return r.methods.Get(method, func(cur *methodRetry) bool {
		return cur.attempts == rt.Attempts && cur.share == rt.Budget
	}, func(cur *methodRetry) *methodRetry {
		next := &methodRetry{attempts: rt.Attempts, share: rt.Budget}
		if cur != nil && cur.share == rt.Budget {
			next.budget = cur.budget
		} else {
			next.budget = rulespolicy.Budget(rt.Budget)
		}
		if rt.Attempts > 1 {
			// The rule says the method may be sent again; the backoff and the codes worth
			// another attempt (Unavailable) are the retry package's defaults.
			p := retry.DefaultPolicy()
			p.MaxAttempts = rt.Attempts
			call, err := retry.UnaryClientInterceptor(retry.WithDefaultPolicy(p), retry.WithBudget(next.budget))
			if err == nil { // the rules' checks (attempts 1 or more) keep p valid
				next.call = call
			}
		}
		return next
	})
}

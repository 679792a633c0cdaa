package rpc

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/rules"
)

// BenchmarkRulesPolicyInterceptors measures what WithRules adds to a unary call that
// succeeds: the policy read per call by the timeout, retry and breaker interceptors.
func BenchmarkRulesPolicyInterceptors(b *testing.B) {
	for _, bc := range []struct {
		name   string
		policy map[string]rules.Policy
	}{
		{"no-policy", nil},
		{"timeout+retries+breaker", map[string]rules.Policy{"/a.B/C": {
			Timeout: time.Minute, Retries: &rules.Retries{Attempts: 3, Budget: 0.1},
			Breaker: &rules.Breaker{FailureRatio: 0.5},
		}}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := rules.NewStore(&rules.Rules{Services: map[string]rules.Service{"svc": {Methods: bc.policy}}})
			if err != nil {
				b.Fatal(err)
			}
			brk := &rulesBreakers{store: st, service: "svc", log: func(string, error) {}}
			chain := []grpc.UnaryClientInterceptor{rulesTimeout(st, "svc"), newRulesRetrier(st, "svc").intercept, brk.intercept}
			var invoke grpc.UnaryInvoker = func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error {
				return nil
			}
			for i := len(chain) - 1; i >= 0; i-- {
				ic, next := chain[i], invoke
				invoke = func(ctx context.Context, m string, req, reply any, cc *grpc.ClientConn, opts ...grpc.CallOption) error {
					return ic(ctx, m, req, reply, cc, next, opts...)
				}
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := invoke(ctx, "/a.B/C", nil, nil, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

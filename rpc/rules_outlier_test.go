package rpc_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/rpc"
	"github.com/tianshu-go/tianshu/rules"
)

func outlier(o rules.Outlier) rules.Service {
	return rules.Service{Methods: map[string]rules.Policy{"*": {Outlier: &o}}}
}

func TestRulesOutlierEjectsByTheServicesRule(t *testing.T) {
	reg := newRegistry(t)
	ruledProvider(t, reg, "a", 0)
	ruledProvider(t, reg, "b", 0, rpc.WithUnaryServerInterceptors(
		func(context.Context, any, *grpc.UnaryServerInfo, grpc.UnaryHandler) (any, error) {
			return nil, status.Error(codes.Unavailable, "b is failing")
		}))
	st := newStore(t, outlier(rules.Outlier{Failures: 1000}))
	c := dialReady(t, reg, st)
	callUntil(t, c, "a", func(s map[string]int) bool { return s["a"] > 0 })
	failures := func(n int) int {
		bad := 0
		for range n {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			if _, err := c.Echo(ctx, &testpb.EchoRequest{}); err != nil {
				bad++
			}
			cancel()
		}
		return bad
	}
	if bad := failures(20); bad < 5 {
		t.Fatalf("failures 1000: %d of 20 calls failed, want about half (b is never ejected)", bad)
	}
	setRules(t, st, outlier(rules.Outlier{Failures: 1, Base: time.Hour}))
	if bad := failures(20); bad > 1 {
		t.Fatalf("failures 1: %d of 20 calls failed, want 1 at most (b ejected for an hour)", bad)
	}
	if bad := failures(20); bad != 0 {
		t.Fatalf("b ejected: %d of 20 calls failed, want none", bad)
	}
	setRules(t, st, outlier(rules.Outlier{}))
	if bad := failures(20); bad < 5 {
		t.Fatalf("ejection off: %d of 20 calls failed, want about half (b back in)", bad)
	}
}

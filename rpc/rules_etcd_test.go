package rpc_test

import (
	"context"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/rules"
)

// Against a real etcd: a provider that restarts re-registers under its ID with a new lease
// and a new port, and the override naming that ID applies to it again. The ID travels
// through etcd's encoding and watch events, which the in-memory registry skips.
func TestRulesSurviveAProviderRestartOnEtcd(t *testing.T) {
	srv := testenv.StartEtcd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	open := func() *etcd.Registry {
		r, err := etcd.New(ctx, []string{srv.Endpoint}, etcd.WithTTL(2*time.Second))
		if err != nil {
			t.Fatalf("etcd.New(%s): %v", srv.Endpoint, err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	provider, consumer := open(), open()
	_, stopA := ruledProvider(t, provider, "a", 0)
	ruledProvider(t, provider, "b", 0)
	st := newStore(t, rules.Service{Instances: []rules.Instance{{ID: "a", Weight: 300}}})
	c := dialRules(t, consumer, st, loadbalance.RoundRobin)
	callUntil(t, c, "a and b", func(s map[string]int) bool { return s["a"] > 0 && s["b"] > 0 })
	checkShares(t, served(t, context.Background(), c, 2000), map[string]float64{"a": 0.75, "b": 0.25})

	stopA()
	callUntil(t, c, "b alone", func(s map[string]int) bool { return s["b"] > 20 && s["a"] == 0 })
	ruledProvider(t, provider, "a", 0)
	callUntil(t, c, "the new a", func(s map[string]int) bool { return s["a"] > 0 })
	checkShares(t, served(t, context.Background(), c, 2000), map[string]float64{"a": 0.75, "b": 0.25})
}

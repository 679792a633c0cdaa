package rules_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/tianshu-go/tianshu/config"
	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	etcdregistry "github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/rules"
)

const etcdKey = "/config/orders/rules.yaml"

// etcdClient returns a plain client on endpoint, closed when the test ends.
func etcdClient(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func put(t testing.TB, cli *clientv3.Client, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, etcdKey, data); err != nil {
		t.Fatalf("put %s: %v", etcdKey, err)
	}
}

// watchEtcd starts a Watch over the rules key through a client of its own, as a consumer
// process does; the store is closed when the test ends.
func watchEtcd(t *testing.T, endpoint string, opts ...rules.WatchOption) *rules.Store {
	t.Helper()
	src, err := etcdconfig.New(etcdClient(t, endpoint), etcdKey, etcdconfig.WithRetry(50*time.Millisecond, 500*time.Millisecond), etcdconfig.WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := rules.Watch(ctx, []config.Source{src}, append([]rules.WatchOption{rules.WithLogger(quiet())}, opts...)...)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestWatchEtcd(t *testing.T) {
	srv := testenv.StartEtcd(t)
	admin := etcdClient(t, srv.Endpoint)
	put(t, admin, docGood)

	var got errs
	s := watchEtcd(t, srv.Endpoint, rules.WithErrorHandler(got.add))
	if p, _ := s.Load().PolicyFor("orders", "/shop.Orders/PlaceOrder"); p.Timeout != 500*time.Millisecond {
		t.Fatalf("first rules: PlaceOrder timeout %v, want 500ms", p.Timeout)
	}
	var mu sync.Mutex
	calls := 0
	cancel := s.Subscribe(func(*rules.Rules) { mu.Lock(); calls++; mu.Unlock() })
	defer cancel()
	callCount := func() int { mu.Lock(); defer mu.Unlock(); return calls }

	put(t, admin, docTimeout("1s"))
	eventually(t, "a valid change applies", func() bool { return timeoutOf(s) == time.Second })
	good := s.Load()

	t.Run("a malformed document is rejected and the last good rules stay", func(t *testing.T) {
		for _, bad := range []string{"rules:\n  services: ]\n", docTimeout("-1s"), docTimeout("1s") + "  overrides: {}\n"} {
			before := len(got.list())
			put(t, admin, bad)
			eventually(t, "the bad document is reported", func() bool { return len(got.list()) > before })
			if s.Load() != good {
				t.Fatalf("the bad document %q changed the rules in force", bad)
			}
			put(t, admin, bad) // the same mistake again: not reported again
		}
		put(t, admin, docTimeout("1s")) // the good rules back: no change, so no call
		time.Sleep(500 * time.Millisecond)
		if n := len(got.list()); n != 3 {
			t.Errorf("%d errors reported for 3 bad documents written twice each: %q", n, got.list())
		}
		if s.Load() != good {
			t.Error("the rules in force moved")
		}
	})

	t.Run("with etcd stopped the last good rules stay, and a change after it is back applies", func(t *testing.T) {
		srv.Kill()
		// The etcd client retries on its own (the source's watcher sees a quiet watch, not an
		// error), so there is nothing to wait for but time: 2 s are four of the source's
		// longest retry intervals, and many of the client's.
		time.Sleep(2 * time.Second)
		if s.Load() != good {
			t.Fatal("the rules in force moved while etcd was down")
		}
		srv.Start(t)
		put(t, admin, docTimeout("4s"))
		eventually(t, "a change after etcd came back applies", func() bool { return timeoutOf(s) == 4*time.Second })
	})

	t.Run("the rules survive a provider's restart", func(t *testing.T) {
		put(t, admin, "rules:\n  services:\n    orders:\n      instances:\n        - {address: 127.0.0.1:18080, out: true}\n")
		eventually(t, "the drain applies", func() bool { return len(s.Load().For("orders").Instances) == 1 })
		n := callCount()
		// The provider registers, stops (its lease revoked, its entry gone) and comes back:
		// registry entries are its own, the rules are the operator's and stay.
		in := &registry.Instance{ID: "orders-1", Service: "orders", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 18080}}}
		for range 2 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			reg, err := etcdregistry.New(ctx, []string{srv.Endpoint}, etcdregistry.WithTTL(2*time.Second), etcdregistry.WithLogger(quiet()))
			if err != nil {
				cancel()
				t.Fatalf("registry: %v", err)
			}
			if err := reg.Register(ctx, in); err != nil {
				t.Errorf("Register: %v", err)
			}
			cancel()
			if err := reg.Close(); err != nil {
				t.Errorf("registry Close: %v", err)
			}
		}
		time.Sleep(300 * time.Millisecond)
		if in := s.Load().For("orders").Instances; len(in) != 1 || !in[0].Out || callCount() != n {
			t.Errorf("after the provider's restart: instances %+v, %d more changes", in, callCount()-n)
		}
		// A consumer that restarts reads the same rules from etcd.
		again := watchEtcd(t, srv.Endpoint)
		if in := again.Load().For("orders").Instances; len(in) != 1 || in[0].Address != "127.0.0.1:18080" || !in[0].Out {
			t.Errorf("a restarted consumer reads instances %+v", in)
		}
	})
}

func TestWatchEtcdFailsWhenTheRulesCannotBeRead(t *testing.T) {
	srv := testenv.StartEtcd(t)
	put(t, etcdClient(t, srv.Endpoint), strings.Replace(docGood, "rate: 200", "rate: 0", 1))
	src, err := etcdconfig.New(etcdClient(t, srv.Endpoint), etcdKey)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if s, err := rules.Watch(ctx, []config.Source{src}, rules.WithLogger(quiet())); !errors.Is(err, rules.ErrInvalid) {
		t.Fatalf("Watch of an invalid document = %v, %v; want ErrInvalid", s, err)
	}
}

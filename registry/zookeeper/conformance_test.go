package zookeeper_test

import (
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

func TestRegistryConformance(t *testing.T) {
	srv := zkServer.Get(t)
	registrytest.Run(t, registrytest.Backend{
		Open: func(t testing.TB) registry.Registry { return open(t, srv.Addr) },
		Restart: func(t testing.TB) {
			// Only the restart subtest makes the clients reconnect with watches set, where
			// go-zookeeper races with itself; the rest of the suite runs under -race.
			testenv.SkipUnderRaceLocally(t, zkRaceMessage)
			srv.Restart(t, true)
		},
		Timeout: 20 * time.Second,
		Down: func(t testing.TB) (func(testing.TB) registry.Registry, func(testing.TB)) {
			down := testenv.NewZooKeeper(t)
			return func(t testing.TB) registry.Registry { return open(t, down.Addr) }, down.Start
		},
		// open's reconnection backoff, plus the second go-zookeeper waits between rounds.
		BackoffCap: testReconnectMax + time.Second,
		Refusals: func(t testing.TB) []registrytest.Refusal {
			root := "/" + registrytest.ServiceName(t)
			// The owner creates the root with a digest ACL that only it passes.
			open(t, srv.Addr, zookeeper.WithRoot(root), zookeeper.WithAuth("ops", "s3cret"))
			base := "zookeeper://" + srv.Addr
			return []registrytest.Refusal{
				{URL: base + "/a//b", Err: zookeeper.ErrInvalidConfig},
				{URL: base + root + "?session_timeout=soon", Err: zookeeper.ErrInvalidConfig},
				{URL: base + root + "?user=ops&password=guess", Err: zookeeper.ErrNoAuth},
				{URL: base + root, Err: zookeeper.ErrNoAuth},
			}
		},
	})
}

func TestConformanceOfTheDubboLayout(t *testing.T) {
	srv := zkServer.Get(t)
	registrytest.Run(t, registrytest.Backend{
		Open: func(t testing.TB) registry.Registry {
			return open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot("/dubbo-conformance"))
		},
		Timeout: 20 * time.Second,
	})
}

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

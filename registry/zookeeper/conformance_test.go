package zookeeper_test

import (
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

func TestConformance(t *testing.T) {
	srv := zkServer.Get(t)
	registrytest.Run(t, registrytest.Backend{
		Open:    func(t testing.TB) registry.Registry { return open(t, srv.Addr) },
		Restart: func(t testing.TB) { srv.Restart(t, true) },
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

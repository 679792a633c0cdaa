package zookeeper_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

func TestListServices(t *testing.T) {
	srv := zkServer.Get(t)
	registrytest.RunServiceLister(t, func(t testing.TB) registry.Registry { return open(t, srv.Addr) }, 0)
}

func TestListServicesOfTheDubboLayout(t *testing.T) {
	srv := zkServer.Get(t)
	registrytest.RunServiceLister(t, func(t testing.TB) registry.Registry {
		return open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot("/dubbo-list"))
	}, 0)
}

// Children of the root that hold no provider (a service whose last instance left, a
// config node) are not listed.
func TestListServicesSkipsNodesWithoutProviders(t *testing.T) {
	srv := zkServer.Get(t)
	raw := rawConn(t, srv.Addr)
	for _, p := range []string{"/list-skip", "/list-skip/emptied", "/list-skip/emptied/providers", "/list-skip/config"} {
		if _, err := raw.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
	}
	r := open(t, srv.Addr, zookeeper.WithRoot("/list-skip"))
	if err := r.Register(context.Background(), registrytest.NewInstance("orders", "orders-1", 9000)); err != nil {
		t.Fatal(err)
	}
	got, err := r.ListServices(context.Background())
	if err != nil || !slices.Equal(got, []string{"orders"}) {
		t.Fatalf("ListServices = %v, %v; want [orders]", got, err)
	}
}

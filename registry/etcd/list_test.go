package etcd_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestListServices(t *testing.T) {
	srv := testenv.StartEtcd(t)
	registrytest.RunServiceLister(t, func(t testing.TB) registry.Registry { return open(t, srv) }, 0)
}

// Keys under the prefix that are no instance keys (the prefix's own key, a key with no ID,
// another prefix that merely starts the same) name no service.
func TestListServicesSkipsKeysThatAreNoInstances(t *testing.T) {
	srv := testenv.StartEtcd(t)
	r := open(t, srv, etcd.WithPrefix("/list"))
	ctx := ctxFor(t)
	for _, k := range []string{"/list/", "/list/lonely", "/list/bad name/x", "/listing/orders/x"} {
		if _, err := r.Client().Put(ctx, k, "{}"); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Register(ctx, registrytest.NewInstance("orders", "orders-1", 9000)); err != nil {
		t.Fatal(err)
	}
	got, err := r.ListServices(context.Background())
	if err != nil || !slices.Equal(got, []string{"orders"}) {
		t.Fatalf("ListServices = %v, %v; want [orders]", got, err)
	}
}

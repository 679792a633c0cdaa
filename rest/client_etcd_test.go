package rest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/rest"
)

// Against a real etcd: instances registered there are reached, and a deregistered one
// leaves the client's list on etcd's watch event.
func TestInstancesFromEtcd(t *testing.T) {
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
	c := newClient(t, consumer)
	a, b := startBackend(t, "a"), startBackend(t, "b")
	register(t, provider, a.instance("orders"))
	register(t, provider, b.instance("orders"))
	eventually(t, "both instances reached", func() bool {
		s := seen(t, c, "http://orders/", 20)
		return s["a"] > 0 && s["b"] > 0
	})
	deregister(t, provider, a.instance("orders"))
	eventually(t, "only b reached", func() bool { return seen(t, c, "http://orders/", 20)["b"] == 20 })
	deregister(t, provider, b.instance("orders"))
	eventually(t, "no instance left", func() bool {
		_, err := get(c, "http://orders/")
		return errors.Is(err, rest.ErrNoInstances)
	})
}

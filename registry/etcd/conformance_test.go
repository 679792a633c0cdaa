package etcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/etcd"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestConformance(t *testing.T) {
	srv := testenv.StartEtcd(t)
	newHandle := func(t testing.TB, endpoint string) registry.Registry {
		log, _ := newLog(t)
		// Not open(): the suite closes its handles itself, some before the test ends.
		r, err := etcd.New(context.Background(), []string{endpoint}, fast(log)...)
		if err != nil {
			t.Fatalf("etcd.New: %v", err)
		}
		return r
	}
	registrytest.Run(t, registrytest.Backend{
		Open:    func(t testing.TB) registry.Registry { return newHandle(t, srv.Endpoint) },
		Restart: func(t testing.TB) { srv.Restart(t, true) },
		Timeout: 15 * time.Second,
		Down: func(t testing.TB) (func(testing.TB) registry.Registry, func(testing.TB)) {
			down := testenv.NewEtcd(t)
			return func(t testing.TB) registry.Registry { return newHandle(t, down.Endpoint) }, down.Start
		},
		BackoffCap: fastRetryMax,
		Refusals: func(t testing.TB) []registrytest.Refusal {
			auth := testenv.StartEtcd(t)
			enableAuth(t, auth)
			return []registrytest.Refusal{
				{URL: "etcd://" + srv.Addr + "/x?ttl=100ms", Err: etcd.ErrInvalidConfig},
				{URL: "etcd://" + auth.Addr + "/x?username=root&password=wrong", Err: etcd.ErrAuth},
				{URL: "etcd://" + auth.Addr + "/x?username=nobody&password=nobodypw", Err: etcd.ErrAuth},
				{URL: "etcd://" + auth.Addr + "/x", Err: etcd.ErrAuth},
			}
		},
	})
}

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
	registrytest.Run(t, registrytest.Backend{
		Open: func(t testing.TB) registry.Registry {
			log, _ := newLog(t)
			// Not open(): the suite closes its handles itself, some before the test ends.
			r, err := etcd.New(context.Background(), []string{srv.Endpoint}, fast(log)...)
			if err != nil {
				t.Fatalf("etcd.New: %v", err)
			}
			return r
		},
		Restart: func(t testing.TB) { srv.Restart(t, true) },
		Timeout: 15 * time.Second,
	})
}

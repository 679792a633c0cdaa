package eureka_test

import (
	"context"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/eureka"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestListServices(t *testing.T) {
	srv := springServers.Get(t)
	registrytest.RunServiceLister(t, func(t testing.TB) registry.Registry {
		log, _ := newLog(t)
		r, err := eureka.New(context.Background(), []string{srv.EurekaURL}, fast(log)...)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}, 10*time.Second)
}

package eureka_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/eureka"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestConformance(t *testing.T) {
	srv := testenv.StartSpringServers(t)
	newHandle := func(t testing.TB, server string) registry.Registry {
		log, _ := newLog(t)
		// Not open(): the suite closes its handles itself, some before the test ends.
		r, err := eureka.New(context.Background(), []string{server}, fast(log)...)
		if err != nil {
			t.Fatalf("eureka.New: %v", err)
		}
		return r
	}
	host := strings.TrimPrefix(srv.EurekaURL, "http://")
	registrytest.Run(t, registrytest.Backend{
		Open:    func(t testing.TB) registry.Registry { return newHandle(t, srv.EurekaURL) },
		Restart: func(t testing.TB) { srv.Restart(t, true) },
		Timeout: 20 * time.Second,
		Down: func(t testing.TB) (func(testing.TB) registry.Registry, func(testing.TB)) {
			down := testenv.NewSpringServers(t)
			return func(t testing.TB) registry.Registry { return newHandle(t, down.EurekaURL) }, down.Start
		},
		// The fetch interval (200 ms) is under the backoff cap.
		BackoffCap: fastRetryMax,
		Refusals: func(t testing.TB) []registrytest.Refusal {
			addr := strings.TrimSuffix(host, "/eureka")
			return []registrytest.Refusal{
				{URL: "eureka://" + addr + "/eureka?renewal_interval=1m&lease_duration=30s", Err: eureka.ErrInvalidConfig},
				{URL: "eureka://" + addr + "/eureka?status=GONE", Err: eureka.ErrInvalidConfig},
				// A running server, but no Eureka API under that path.
				{URL: "eureka://" + addr + "/not-eureka", Err: eureka.ErrInvalidConfig},
			}
		},
	})
}


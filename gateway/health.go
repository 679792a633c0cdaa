package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

// checker runs a target's active health check and publishes the URLs passing it to the
// Broadcast rest's client watches, so that a URL leaves and rejoins the balance the way a
// registry instance does.
type checker struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startChecker(h HealthCheck, all []*registry.Instance, b *registry.Broadcast, tr *http.Transport, log *slog.Logger) *checker {
	if h.Failures == 0 {
		h.Failures = 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &checker{cancel: cancel}
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	failed := make([]int, len(all))
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer tr.CloseIdleConnections()
		t := time.NewTicker(h.Interval)
		defer t.Stop()
		for {
			healthy := make([]*registry.Instance, 0, len(all))
			for i, in := range all {
				if probe(ctx, client, in.Endpoints[0], h) {
					if failed[i] >= h.Failures {
						log.Info("gateway: upstream URL passes its health check again", "url", in.Endpoints[0].String())
					}
					failed[i] = 0
				} else if failed[i]++; failed[i] == h.Failures {
					log.Warn("gateway: upstream URL fails its health check; out of the balance", "url", in.Endpoints[0].String())
				}
				if failed[i] < h.Failures {
					healthy = append(healthy, in)
				}
			}
			if len(healthy) == 0 {
				healthy = all // fail open: see HealthCheck
			}
			b.Set(healthy)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return c
}

func probe(ctx context.Context, c *http.Client, ep registry.Endpoint, h HealthCheck) bool {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ep.Scheme+"://"+ep.Addr()+h.Path, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

func (c *checker) stop() {
	c.cancel()
	c.wg.Wait()
}

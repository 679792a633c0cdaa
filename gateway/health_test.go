package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tianshu-go/tianshu/gateway"
)

// healthServer answers /healthz by its flag and every other path with its name.
func healthServer(t *testing.T, name string, healthy *atomic.Bool) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		_, _ = io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHealthCheckTakesFailingURLsOutAndBack(t *testing.T) {
	var aOK, bOK atomic.Bool
	aOK.Store(true)
	a, b := healthServer(t, "a", &aOK), healthServer(t, "b", &bOK)
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: checked
      match: {path: {prefix: /}}
      target:
        urls: [%q, %q]
        healthCheck: {path: /healthz, interval: 100ms, timeout: 50ms, failures: 1}
`, a.URL, b.URL), gateway.WithLogger(quiet()))
	served := func(n int) map[string]int {
		m := map[string]int{}
		for i := 0; i < n; i++ {
			got := do(t, nil, "GET", base+"/x", nil, "")
			m[strings.TrimSpace(got.body)]++
		}
		return m
	}
	waitFor(t, "b leaves the balance", func() bool { return served(20)["b"] == 0 })
	bOK.Store(true)
	waitFor(t, "b comes back", func() bool { return served(40)["b"] > 0 })
	aOK.Store(false)
	waitFor(t, "a leaves the balance", func() bool { return served(20)["a"] == 0 })
	bOK.Store(false)
	// Both fail: both stay in, rather than no upstream at all.
	waitFor(t, "both serve when both fail their checks", func() bool { m := served(40); return m["a"] > 0 && m["b"] > 0 })
}

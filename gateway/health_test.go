package gateway_test

import (
	"context"
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
	g, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: checked
      match: {path: {prefix: /}}
      target:
        urls: [%q, %q]
        healthCheck: {path: /healthz, interval: 100ms, timeout: 50ms, failures: 1}
`, a.URL, b.URL), gateway.WithLogger(quiet()))
	// The URLs in the balance, as the admin API lists them.
	listed := func() string {
		var ports []string
		for _, u := range g.Upstreams(context.Background()) {
			for _, in := range u.Instances {
				ports = append(ports, fmt.Sprint(in.Endpoints[0].Port))
			}
		}
		return strings.Join(ports, ",")
	}
	port := func(s *httptest.Server) string { return s.URL[strings.LastIndexByte(s.URL, ':')+1:] }
	both := port(a) + "," + port(b)
	waitFor(t, "b leaves the balance", func() bool { return listed() == port(a) })
	for i := 0; i < 10; i++ {
		if got := do(t, nil, "GET", base+"/x", nil, ""); got.body != "a" {
			t.Fatalf("with b out of the balance, a request went to %q", got.body)
		}
	}
	bOK.Store(true)
	waitFor(t, "b comes back", func() bool { return listed() == both })
	aOK.Store(false)
	waitFor(t, "a leaves the balance", func() bool { return listed() == port(b) })
	for i := 0; i < 10; i++ {
		if got := do(t, nil, "GET", base+"/x", nil, ""); got.body != "b" {
			t.Fatalf("with a out of the balance, a request went to %q", got.body)
		}
	}
	bOK.Store(false)
	// Both fail: both stay in, rather than no upstream at all.
	waitFor(t, "both stay when both fail their checks", func() bool { return listed() == both })
}

package gateway_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// flaky answers 503 to every other request it gets, counting them.
func flaky(t *testing.T) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if n.Add(1)%2 == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestRetriesOnlyIdempotentRequestsWithinTheBudget(t *testing.T) {
	up, hits := flaky(t)
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: generous
      match: {path: {prefix: /generous}}
      target: {urls: [%q]}
      retries: {attempts: 2, budget: 1}
      breaker: {failureRatio: 1, minRequests: 1000} # half the attempts fail: keep the breaker out of it
    - name: tight
      match: {path: {prefix: /tight}}
      target: {urls: [%q]}
      retries: {attempts: 2, budget: 0.01}
      breaker: {failureRatio: 1, minRequests: 1000}
    - name: none
      match: {path: {prefix: /none}}
      target: {urls: [%q]}
      breaker: {failureRatio: 1, minRequests: 1000}
`, up.URL, up.URL, up.URL))
	count := func(method, path string, n int) (ok int) {
		for i := 0; i < n; i++ {
			body := ""
			if method == "POST" {
				body = "x"
			}
			if got := do(t, nil, method, base+path, nil, body); got.status == 200 {
				ok++
			}
		}
		return ok
	}
	hits.Store(0)
	if ok := count("GET", "/generous", 40); ok != 40 {
		t.Errorf("GETs retried with a budget of 100%%: %d of 40 succeeded, want all", ok)
	}
	if h := hits.Load(); h != 80 {
		t.Errorf("the upstream saw %d requests for 40 GETs each failing once, want 80", h)
	}
	hits.Store(0)
	if ok := count("POST", "/generous", 40); ok < 19 || ok > 21 {
		t.Errorf("POSTs: %d of 40 succeeded, want 20 (never retried)", ok)
	}
	hits.Store(0)
	// 10 retries saved up, plus 1%% of requests: most of 100 GETs are not retried.
	if ok := count("GET", "/tight", 100); ok < 50 || ok > 65 {
		t.Errorf("GETs under a 1%% budget: %d of 100 succeeded, want 50 plus about 11 retries", ok)
	}
	if ok := count("GET", "/none", 40); ok < 19 || ok > 21 {
		t.Errorf("GETs on a route without retries: %d of 40 succeeded, want 20", ok)
	}
}

func TestBreakerOpensOnAFailingUpstream(t *testing.T) {
	var hits atomic.Int64
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer down.Close()
	_, base := newGateway(t, fmt.Sprintf(`
gateway:
  routes:
    - name: fragile
      match: {path: {prefix: /}}
      target: {urls: [%q]}
      breaker: {failureRatio: 0.5, minRequests: 5, sleepWindow: 1m}
`, down.URL))
	var open int
	for i := 0; i < 20; i++ {
		got := do(t, nil, "GET", base+"/x", nil, "")
		if got.status == 503 && got.err.Code == "UNAVAILABLE" && strings.Contains(got.err.Message, "breaker open") {
			open++
		}
	}
	if open == 0 || hits.Load() >= 20 {
		t.Errorf("20 requests to an upstream answering 500: %d refused by the breaker, %d reached it", open, hits.Load())
	}
}

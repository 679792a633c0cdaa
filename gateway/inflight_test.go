package gateway_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/gateway"
)

// TestInFlightRequestsFinishOnTheirTable removes a route, and with it its upstream, while
// a request on it is in flight: the request finishes; new ones get 404.
func TestInFlightRequestsFinishOnTheirTable(t *testing.T) {
	up := startEcho(t, "up")
	other := startEcho(t, "other")
	doc := func(withSlow bool) string {
		d := fmt.Sprintf("gateway:\n  routes:\n    - {name: other, match: {path: {prefix: /other}}, target: {urls: [%q]}}\n", other.srv.URL)
		if withSlow {
			d += fmt.Sprintf("    - {name: slow, match: {path: {prefix: /slow}}, target: {urls: [%q]}}\n", up.srv.URL)
		}
		return d
	}
	for _, drain := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("drain ", drain), func(t *testing.T) {
			c, err := gateway.Parse([]byte(doc(true)))
			if err != nil {
				t.Fatal(err)
			}
			g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithDrain(drain))
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Apply(c); err != nil {
				t.Fatal(err)
			}
			base := startGateway(t, g)
			result := make(chan answer, 1)
			go func() { result <- do(t, nil, "GET", base+"/slow", map[string]string{"X-Sleep": "700ms"}, "") }()
			waitFor(t, "the slow request reaches the upstream", func() bool { return up.hits.Load() > 0 })
			c2, err := gateway.Parse([]byte(doc(false)))
			if err != nil {
				t.Fatal(err)
			}
			if err := g.Apply(c2); err != nil {
				t.Fatal(err)
			}
			if got := do(t, nil, "GET", base+"/slow", nil, ""); got.status != 404 {
				t.Errorf("a new request on the removed route: %d, want 404", got.status)
			}
			if got := <-result; got.status != 200 {
				t.Errorf("the request in flight when its route was removed: %d %s, want 200", got.status, got.body)
			}
			up.hits.Store(0)
		})
	}
}

func TestTLSToUpstreams(t *testing.T) {
	up := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "tls %v", r.TLS != nil)
	}))
	defer up.Close()
	pool := x509.NewCertPool()
	pool.AddCert(up.Certificate())
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, ServerName: "example.com"} // httptest's certificate name
	_, base := newGateway(t, fmt.Sprintf("gateway:\n  routes:\n    - {name: secure, match: {path: {prefix: /}}, target: {urls: [%q]}}\n", up.URL),
		gateway.WithUpstreamTransport(tr))
	if got := do(t, nil, "GET", base+"/", nil, ""); got.status != 200 || got.body != "tls true" {
		t.Errorf("through TLS: %d %q", got.status, got.body)
	}
}

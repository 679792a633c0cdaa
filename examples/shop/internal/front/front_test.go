package front

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/file"
	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
	"github.com/tianshu-go/tianshu/gateway"
)

// The routes the demo ships are read as the front door reads them: strictly, beside the
// process's own settings in the same file.
func TestTheShippedRoutesParseStrictly(t *testing.T) {
	c, err := gateway.Read(context.Background(), []config.Source{file.New("../../config/gateway.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, r := range c.Routes {
		names[r.Name] = r.Target.Service
	}
	if names["orders"] != api.Service || names["status"] != api.Service {
		t.Errorf("routes %v, want orders and status to shop-api", names)
	}
}

// Via names the front door to the API, whatever a client claimed.
func TestViaNamesTheFrontDoorInstanceUpstream(t *testing.T) {
	var got []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Values(api.GatewayHeader)...)
	}))
	defer up.Close()
	g, err := gateway.New(gateway.WithoutTelemetry(), gateway.WithMiddleware(Via("gateway-7")),
		gateway.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	cfg, err := gateway.Parse([]byte("gateway:\n  routes:\n    - {name: all, match: {path: {prefix: /}}, target: {urls: [" + up.URL + "]}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(g)
	defer front.Close()
	req, _ := http.NewRequest(http.MethodGet, front.URL+"/orders", nil)
	req.Header.Set(api.GatewayHeader, "spoofed")
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	front.Client().CloseIdleConnections()
	if resp.StatusCode != http.StatusOK || len(got) != 1 || got[0] != "gateway-7" {
		t.Errorf("answer %d, upstream saw %s %q; want 200 and gateway-7 alone", resp.StatusCode, api.GatewayHeader, got)
	}
}

func TestAnAccessSampleOutsideZeroToOneIsRejected(t *testing.T) {
	for _, s := range []float64{-0.1, 1.5} {
		c := Config{HTTP: "127.0.0.1:0", AccessSample: s}
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("access_sample %v: %v, want ErrConfig", s, err)
		}
	}
}

package gateway_test

import (
	"context"
	"encoding/json"
	"io"

	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/gateway"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/memory"
)

// echo is an upstream that answers with what it saw, and counts its requests.
type echo struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
}

type seen struct {
	Name   string      `json:"name"`
	Method string      `json:"method"`
	Host   string      `json:"host"`
	Path   string      `json:"path"`
	Query  string      `json:"query"`
	Header http.Header `json:"header"`
	Body   string      `json:"body"`
}

func startEcho(t testing.TB, name string) *echo {
	t.Helper()
	e := &echo{name: name}
	e.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		if d := r.Header.Get("X-Sleep"); d != "" {
			dur, _ := time.ParseDuration(d)
			select {
			case <-time.After(dur):
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Name: name, Method: r.Method, Host: r.Host, Path: r.URL.Path,
			Query: r.URL.RawQuery, Header: r.Header, Body: string(b)})
	}))
	t.Cleanup(e.srv.Close)
	return e
}

// startGateway serves g on a loopback port with its HTTPServer and returns the base URL.
func startGateway(t testing.TB, g *gateway.Gateway) string {
	t.Helper()
	base, _ := startGatewayCounting(t, g)
	return base
}

// startGatewayCounting is startGateway that also counts the connections closed.
func startGatewayCounting(t testing.TB, g *gateway.Gateway) (string, *atomic.Int64) {
	t.Helper()
	closed := new(atomic.Int64)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := g.HTTPServer("")
	srv.ReadHeaderTimeout = 2 * time.Second
	srv.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed || s == http.StateHijacked {
			closed.Add(1)
		}
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = g.Close()
	})
	return "http://" + lis.Addr().String(), closed
}

// newGateway returns a gateway with doc applied and its base URL.
func newGateway(t testing.TB, doc string, opts ...gateway.Option) (*gateway.Gateway, string) {
	t.Helper()
	c, err := gateway.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(append([]gateway.Option{gateway.WithoutTelemetry(), gateway.WithDrain(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Apply(c); err != nil {
		t.Fatal(err)
	}
	return g, startGateway(t, g)
}

type answer struct {
	status int
	header http.Header
	body   string
	seen   seen
	err    errBody
}

type errBody struct {
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Details []json.RawMessage `json:"details"`
}

func do(t testing.TB, c *http.Client, method, url string, hdr map[string]string, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.StatusCode == 200 {
		_ = json.Unmarshal(b, &a.seen)
	} else {
		_ = json.Unmarshal(b, &a.err)
	}
	return a
}

// startGRPC serves the echo service as id on a loopback port with opts (its TLS credentials,
// say) until the test ends, and returns the port.
func startGRPC(t testing.TB, id string, opts ...grpc.ServerOption) int {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(opts...)
	testpb.RegisterEchoServer(s, echoServer{id: id})
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().(*net.TCPAddr).Port
}

// registered returns a memory registry, closed when the test ends, that holds one instance
// of service (ID service-1) with a scheme endpoint on loopback at port.
func registered(t testing.TB, service, scheme string, port int) *memory.Registry {
	t.Helper()
	reg := memory.New()
	t.Cleanup(func() { _ = reg.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := reg.Register(ctx, &registry.Instance{ID: service + "-1", Service: service,
		Endpoints: []registry.Endpoint{{Scheme: scheme, Host: "127.0.0.1", Port: port}}}); err != nil {
		t.Fatal(err)
	}
	return reg
}

// quiet is a logger for tests that provoke errors on purpose.
func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

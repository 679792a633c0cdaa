package rest_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/rest"
)

// backend is one HTTP instance of a service, served by httptest on loopback. Its handler
// answers with its ID unless the test sets another.
type backend struct {
	id   string
	srv  *httptest.Server
	hits atomic.Int64

	mu      sync.Mutex
	handler http.HandlerFunc
	opened  atomic.Int64 // connections accepted
	closed  atomic.Int64 // connections that reached StateClosed
}

func startBackend(t testing.TB, id string) *backend {
	t.Helper()
	b := &backend{id: id}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			b.opened.Add(1)
		case http.StateClosed:
			b.closed.Add(1)
		}
	}
	b.srv.Start()
	t.Cleanup(b.srv.Close)
	return b
}

func (b *backend) serve(w http.ResponseWriter, r *http.Request) {
	b.hits.Add(1)
	b.mu.Lock()
	h := b.handler
	b.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	_, _ = io.WriteString(w, b.id)
}

func (b *backend) setHandler(h http.HandlerFunc) {
	b.mu.Lock()
	b.handler = h
	b.mu.Unlock()
}

// instance returns the registry entry of b as an instance of service with an http
// endpoint.
func (b *backend) instance(service string) *registry.Instance {
	host, port, _ := net.SplitHostPort(b.srv.Listener.Addr().String())
	p, _ := strconv.Atoi(port)
	return &registry.Instance{ID: b.id, Service: service,
		Endpoints: []registry.Endpoint{{Scheme: "http", Host: host, Port: p}}}
}

// kill stops b as SIGKILL would: its listener and connections close at once, and nobody
// deregisters it.
func (b *backend) kill() {
	_ = b.srv.Listener.Close()
	b.srv.CloseClientConnections()
}

// pollInterval is the file registries' poll interval in these tests: short, so that a
// change reaches the client within a few of them even where fsnotify misses it.
const pollInterval = 100 * time.Millisecond

// fileRegistries returns two handles on one registry directory, as a provider process and
// the client's process would open it.
func fileRegistries(t testing.TB) (provider, consumer *file.Registry) {
	t.Helper()
	dir := t.TempDir()
	open := func() *file.Registry {
		r, err := file.New(context.Background(), dir, file.WithPollInterval(pollInterval))
		if err != nil {
			t.Fatalf("file.New(%q): %v", dir, err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	return open(), open()
}

func newClient(t testing.TB, d registry.Discovery, opts ...rest.ClientOption) *rest.Client {
	t.Helper()
	c, err := rest.NewClient(d, opts...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func register(t testing.TB, r registry.Registrar, in *registry.Instance) {
	t.Helper()
	if err := r.Register(context.Background(), in); err != nil {
		t.Fatalf("Register(%s): %v", in.ID, err)
	}
}

func deregister(t testing.TB, r registry.Registrar, in *registry.Instance) {
	t.Helper()
	if err := r.Deregister(context.Background(), in); err != nil {
		t.Fatalf("Deregister(%s): %v", in.ID, err)
	}
}

// get sends GET url and returns the body of a 200 answer, or an error.
func get(c *rest.Client, url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), &statusError{resp.StatusCode}
	}
	return string(b), nil
}

type statusError struct{ code int }

func (e *statusError) Error() string { return "status " + strconv.Itoa(e.code) }

// eventually polls cond until it holds or the generous bound passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seen returns the set of instance IDs n requests reached.
func seen(t testing.TB, c *rest.Client, url string, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		id, err := get(c, url)
		if err != nil {
			out["error: "+err.Error()]++
			continue
		}
		out[id]++
	}
	return out
}

package admin_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tianshu-go/tianshu"
	"github.com/tianshu-go/tianshu/rpc/admin"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func start(t *testing.T, opts ...admin.Option) string {
	t.Helper()
	s := admin.New("127.0.0.1:0", opts...)
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return "http://" + s.Addr().String()
}

func TestEndpointsAnswerAsDocumented(t *testing.T) {
	ready := errors.New("still registering")
	base := start(t,
		admin.WithMetrics(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "m 1\n") })),
		admin.WithReadiness("registry", func(context.Context) error { return ready }))
	cases := []struct {
		name, path string
		code       int
		contains   string
	}{
		{"healthz says the process is alive", "/healthz", 200, "ok"},
		{"readyz names the failing check", "/readyz", 503, "registry: still registering"},
		{"metrics serves the metrics handler", "/metrics", 200, "m 1"},
		{"pprof lists the profiles", "/debug/pprof/", 200, "goroutine"},
		{"pprof serves a goroutine profile", "/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
		{"unknown paths are not found", "/nope", 404, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body := get(t, base+c.path)
			if code != c.code || !strings.Contains(body, c.contains) {
				t.Fatalf("GET %s = %d %q, want %d containing %q", c.path, code, body, c.code, c.contains)
			}
		})
	}
	ready = nil
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz after the check passed = %d %q", code, body)
	}
}

func TestWithoutPprofHidesProfiles(t *testing.T) {
	base := start(t, admin.WithoutPprof())
	if code, _ := get(t, base+"/debug/pprof/"); code != 404 {
		t.Fatalf("pprof answered %d with WithoutPprof", code)
	}
	if code, _ := get(t, base+"/metrics"); code != 404 {
		t.Fatalf("metrics answered %d without WithMetrics", code)
	}
}

func TestStartReportsABusyAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := admin.New(l.Addr().String())
	if err := s.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "admin: listen on") {
		t.Fatalf("Start on a busy port = %v, want a listen error", err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown of a server that never started = %v", err)
	}
}

func TestStartTwiceIsAnError(t *testing.T) {
	s := admin.New("127.0.0.1:0")
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	if err := s.Start(context.Background()); !errors.Is(err, admin.ErrStarted) {
		t.Fatalf("second Start = %v, want ErrStarted", err)
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The admin server runs in a tianshu.App as a component.
var _ tianshu.Component = (*admin.Server)(nil)

func TestListenServeShutdownIsTheLifecycleOfAComponent(t *testing.T) {
	s := admin.New("127.0.0.1:0")
	if err := s.Serve(); !errors.Is(err, admin.ErrNotListening) {
		t.Fatalf("Serve before Listen = %v, want ErrNotListening", err)
	}
	addr, err := s.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	if code, _ := get(t, "http://"+addr.String()+"/healthz"); code != 200 {
		t.Fatalf("healthz = %d", code)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Fatalf("Serve after Shutdown = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}

func TestShutdownAfterListenAloneReleasesTheAddress(t *testing.T) {
	s := admin.New("127.0.0.1:0")
	addr, err := s.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	again := admin.New(addr.String())
	if _, err := again.Listen(context.Background()); err != nil {
		t.Fatalf("the address is still taken after Shutdown: %v", err)
	}
	_ = again.Shutdown(context.Background())
	if err := s.Serve(); err != nil {
		t.Fatalf("Serve after Shutdown = %v, want nil at once", err)
	}
}

func TestServingIsReadyOnlyWhileTheGRPCServerServes(t *testing.T) {
	h := health.NewServer()
	h.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	base := start(t, admin.WithReadiness("grpc", admin.Serving(h)))
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "grpc: NOT_SERVING") {
		t.Fatalf("readyz before serving = %d %q, want 503 naming NOT_SERVING", code, body)
	}
	h.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz while serving = %d %q, want 200", code, body)
	}
	h.Shutdown() // as rpc.Server.Deregister does
	if code, _ := get(t, base+"/readyz"); code != 503 {
		t.Fatalf("readyz after the health service shut down = %d, want 503", code)
	}
}

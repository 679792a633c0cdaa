package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
)

func TestFlagsAreChecked(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-config", "g.yaml", "-service", "gw"},
		{"-config", "g.yaml", "-access-sample", "2"},
		{"-config", "g.yaml", "extra"},
		{"-config", "ftp://x/y"},
	} {
		err := run(context.Background(), args, io.Discard, io.Discard, nil)
		if !errors.Is(err, errUsage) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
}

// TestSIGTERMDrains runs the command with a file config and a file registry, starts a
// slow request, and ends the command's context as SIGTERM does: the gateway leaves the
// registry first and keeps serving through the deregister delay, the slow request
// finishes, and only then are new connections refused.
func TestSIGTERMDrains(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(1500 * time.Millisecond)
		}
		_, _ = io.WriteString(w, "done "+r.URL.Path)
	}))
	defer upstream.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gateway.yaml")
	doc := fmt.Sprintf("gateway:\n  routes:\n    - {name: all, match: {path: {prefix: /}}, target: {urls: [%q]}}\n", upstream.URL)
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	regURL := "file://" + filepath.Join(dir, "registry")

	ctx, sigterm := context.WithCancel(context.Background())
	defer sigterm()
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", cfg, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0",
			"-registry", regURL, "-service", "gw", "-deregister-delay", "700ms", "-grace", "10s", "-access-log", "off"},
			io.Discard, io.Discard, func(gw, admin net.Addr) { addrs <- [2]net.Addr{gw, admin} })
	}()
	var a [2]net.Addr
	select {
	case a = <-addrs:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not start")
	}
	base, admin := "http://"+a[0].String(), "http://"+a[1].String()

	reg, err := registry.Open(context.Background(), regURL)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	listed := func() int {
		l, err := reg.GetService(context.Background(), "gw")
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}
	waitUntil(t, "the gateway is registered", func() bool { return listed() == 1 })
	if got := get(t, admin+"/readyz"); got != "200 ready\n" {
		t.Fatalf("/readyz before SIGTERM: %q", got)
	}

	get(t, base+"/fast")
	if got := get(t, admin+"/metrics"); !strings.Contains(got, `http_server_request_duration_seconds_count{`) || !strings.Contains(got, `http_route="/"`) {
		t.Errorf("/metrics has no request duration by route:\n%.2000s", got)
	}

	slow := make(chan string, 1)
	go func() { slow <- get(t, base+"/slow") }()
	time.Sleep(200 * time.Millisecond) // the slow request is in flight
	sigterm()
	waitUntil(t, "the gateway leaves the registry", func() bool { return listed() == 0 })
	// Out of the registry, but still serving new requests until the delay is over.
	if got := get(t, base+"/fast"); got != "200 done /fast" {
		t.Errorf("a request right after deregistration: %q, want it served", got)
	}
	if got := get(t, admin+"/readyz"); !strings.HasPrefix(got, "503") {
		t.Errorf("/readyz while draining: %q", got)
	}
	if got := <-slow; got != "200 done /slow" {
		t.Errorf("the request in flight at SIGTERM: %q, want it finished", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not stop")
	}
	if _, err := net.DialTimeout("tcp", a[0].String(), time.Second); err == nil {
		t.Errorf("the gateway still accepts connections after it stopped")
	}
	http.DefaultClient.CloseIdleConnections()
}

func get(t *testing.T, url string) string {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 20 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprint(resp.StatusCode) + " " + string(b)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

package main

import (
	"context"
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

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// TestRoutesFromSpringCloudConfig runs the command with its routes in a real Spring Cloud
// Config Server (native profile, the file gateway.yml) and changes the file: the next poll
// puts the new route in force.
func TestRoutesFromSpringCloudConfig(t *testing.T) {
	spring := testenv.StartSpringServers(t)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream "+r.URL.Path)
	}))
	defer upstream.Close()
	write := func(prefix string) {
		doc := fmt.Sprintf("gateway:\n  routes:\n    - {name: r, match: {path: {prefix: %s}}, target: {urls: [%q]}}\n", prefix, upstream.URL)
		if err := os.WriteFile(filepath.Join(spring.ConfigDir, "gateway.yml"), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("/old")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addrs := make(chan net.Addr, 1)
	done := make(chan error, 1)
	source := "springconfig://" + strings.TrimPrefix(spring.ConfigURL, "http://") + "/gateway?poll=200ms"
	go func() {
		done <- run(ctx, []string{"-config", source, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0", "-access-log", "off"},
			io.Discard, io.Discard, func(gw, _ net.Addr) { addrs <- gw })
	}()
	var base string
	select {
	case a := <-addrs:
		base = "http://" + a.String()
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the gateway did not start")
	}
	status := func(path string) int {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	if got := status("/old/a"); got != 200 {
		t.Fatalf("GET /old/a = %d, want 200 from the Config Server's routes", got)
	}
	write("/new")
	deadline := time.Now().Add(30 * time.Second)
	for status("/new/a") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the changed route was not in force within 30 s (poll 200 ms)")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := status("/old/a"); got != 404 {
		t.Errorf("GET /old/a = %d after the change, want 404", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
}

package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rpc"
)

type echo struct{ testpb.UnimplementedEchoServer }

// TestTranscodeByReflection runs the command, which links in no service, with a route
// transcoding to a gRPC service of the registry by reflection: an rpc.Server answers
// reflection by default, and the route says plainly why the service cannot be served (the
// echo service has no google.api.http rule), with the call recorded on /metrics.
func TestTranscodeByReflection(t *testing.T) {
	dir := t.TempDir()
	regURL := "file://" + filepath.Join(dir, "registry")
	reg, err := registry.Open(context.Background(), regURL)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	srv := rpc.NewServer(rpc.WithService("echo"), rpc.WithRegistrar(reg), rpc.WithDeregisterDelay(0),
		rpc.WithoutTelemetry(), rpc.WithServerLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	testpb.RegisterEchoServer(srv, echo{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer func() { _ = srv.Shutdown(context.Background()) }()

	cfg := filepath.Join(dir, "gateway.yaml")
	doc := "gateway:\n  routes:\n    - {name: rest, match: {path: {prefix: /}}, target: {service: echo, transcode: {services: [tianshu.test.Echo], reflection: true}}}\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	addrs := make(chan [2]net.Addr, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", cfg, "-listen", "127.0.0.1:0", "-admin", "127.0.0.1:0",
			"-registry", regURL, "-deregister-delay", "0s", "-access-log", "off"},
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
	want := "503 " + `{"code":"UNAVAILABLE","message":"the gRPC descriptors of tianshu.test.Echo are not loaded yet: ` +
		`gateway: gRPC descriptors unavailable: service tianshu.test.Echo has no method with a google.api.http rule: nothing to serve"`
	var got string
	waitUntil(t, "reflection has answered", func() bool {
		got = get(t, base+"/v1/anything")
		return strings.HasPrefix(got, want)
	})
	if m := get(t, admin+"/metrics"); !strings.Contains(m, `rpc_client_call_duration_seconds_count{`) ||
		!strings.Contains(m, "ServerReflectionInfo") {
		t.Errorf("/metrics has no gRPC call of the transcoding target:\n%.3000s", m)
	}
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the gateway did not stop")
	}
}

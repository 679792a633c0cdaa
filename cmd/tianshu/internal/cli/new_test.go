package cli

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the Tianshu checkout this test belongs to; generated services point at it
// through a replace directive.
func repoRoot(t testing.TB) string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// TestANewServiceBuildsPassesItsTestsAndAnswersThroughDiscovery is the whole promise of
// `tianshu new`: generate, build, test, run the service, and call it through the file
// registry with the generated client, over gRPC and over REST/JSON. It works offline from
// the module cache.
func TestANewServiceBuildsPassesItsTestsAndAnswersThroughDiscovery(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and tests a generated project")
	}
	t.Setenv("GOFLAGS", strings.TrimSpace(os.Getenv("GOFLAGS")+" -mod=mod"))
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	dir := filepath.Join(t.TempDir(), "orders")

	code, out, stderr := runCLI(ctx, "new", "orders", "--module", "example.com/shop/orders", "--registry", "file",
		"--dir", dir, "--replace", repoRoot(t))
	if code != 0 {
		t.Fatalf("tianshu new: status %d\n%s%s", code, out, stderr)
	}
	for _, f := range []string{"orderspb/orders.pb.go", "orderspb/orders_grpc.pb.go", "go.sum"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("tianshu new left no %s: %v", f, err)
		}
	}
	// The .proto's google.api.http options need the annotations package, which go mod tidy
	// must have required.
	if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err != nil || !strings.Contains(string(b), "google.golang.org/genproto/googleapis/api ") {
		t.Errorf("go.mod does not require google.golang.org/genproto/googleapis/api (%v):\n%s", err, b)
	}

	goRun := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = dir
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, b)
		}
		return string(b)
	}
	bin := filepath.Join(dir, "bin")
	goRun("build", "-o", bin+string(filepath.Separator), "./...")
	goRun("vet", "./...")
	goRun("test", "./...")

	regDir := t.TempDir()
	regURL := "file://" + regDir
	var svcOut syncBuffer
	svc := exec.Command(filepath.Join(bin, "orders"), "-config", "config.yaml")
	svc.Dir = dir
	svc.Env = append(os.Environ(),
		"ORDERS_REGISTRY__URL="+regURL, "ORDERS_SERVER__ADDR=127.0.0.1:0", "ORDERS_HTTP__ADDR=127.0.0.1:0",
		"ORDERS_ADMIN__ADDR=127.0.0.1:0",
		"ORDERS_SERVICE__INSTANCE_ID=orders-it", "ORDERS_SHUTDOWN__DEREGISTER_DELAY=100ms")
	svc.Stdout, svc.Stderr = &svcOut, &svcOut
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- svc.Wait() }()
	t.Cleanup(func() {
		_ = svc.Process.Kill()
		<-exited
	})

	// The client's first call fails rather than waits when the registry is still empty
	// as it dials (see the report): wait for the registration of both servers first.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, out, _ := runCLI(ctx, "registry", "ls", "orders", "--registry", regURL)
		if strings.Contains(out, "grpc://127.0.0.1:") && strings.Contains(out, "http://127.0.0.1:") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the service did not register within 30s\n%s", svcOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	client := exec.CommandContext(ctx, filepath.Join(bin, "client"), "-registry", regURL, "-name", "Tianshu", "-timeout", "60s")
	reply, err := client.CombinedOutput()
	if err != nil || !strings.Contains(string(reply), "gRPC: Hello, Tianshu! (served by orders-it)") ||
		!strings.Contains(string(reply), "REST: Hello, Tianshu! (served by orders-it)") {
		t.Fatalf("the generated client: %v\n%s\nwant a gRPC and a REST reply\nservice output:\n%s", err, reply, svcOut.String())
	}

	code, out, stderr = runCLI(ctx, "registry", "ls", "orders", "--registry", regURL)
	if code != 0 || !strings.Contains(out, "orders-it") || !strings.Contains(out, "orders-it-http") {
		t.Errorf("tianshu registry ls: status %d\n%s%s\nwant the instances orders-it and orders-it-http", code, out, stderr)
	}

	if err := svc.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("the service exited with %v after SIGTERM, want 0\n%s", err, svcOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the service did not stop within 60s of SIGTERM\n%s", svcOut.String())
	}
	if !strings.Contains(svcOut.String(), "deregistered") && !strings.Contains(svcOut.String(), "shutting down") {
		t.Logf("service output:\n%s", svcOut.String())
	}
}

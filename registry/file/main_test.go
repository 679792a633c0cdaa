package file_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/file"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// Environment of the provider process that tests start by running this test binary again.
const (
	helperDirEnv     = "TIANSHU_FILE_TEST_PROVIDER_DIR"
	helperServiceEnv = "TIANSHU_FILE_TEST_PROVIDER_SERVICE"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperDirEnv); dir != "" {
		os.Exit(runProvider(dir, os.Getenv(helperServiceEnv)))
	}
	goleak.VerifyTestMain(m)
}

// runProvider registers one instance, says "ready" on stdout and runs until its stdin
// closes (the test ended) or it is killed.
func runProvider(dir, service string) int {
	ctx := context.Background()
	// A long TTL: the test is about the process check, which must not wait for it.
	reg, err := file.New(ctx, dir, file.WithTTL(time.Minute))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer reg.Close()
	in := registrytest.NewInstance(service, fmt.Sprintf("pid-%d", os.Getpid()), 7001)
	if err := reg.Register(ctx, in); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready", in.ID)
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startProvider starts a provider process registered under service in dir and returns it
// with its instance ID once it is registered.
func startProvider(t testing.TB, dir, service string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperServiceEnv+"="+service)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start provider process: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if err != nil || !ok {
		t.Fatalf("provider process did not report ready: %q, %v", line, err)
	}
	return cmd, id
}

// open returns a Registry in dir closed at the end of the test, failing the test with the
// reason if it cannot be opened.
func open(t testing.TB, dir string, opts ...file.Option) *file.Registry {
	t.Helper()
	r, err := file.New(context.Background(), dir, opts...)
	if err != nil {
		t.Fatalf("file.New(%q): %v", dir, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// logBuffer collects log output written from other goroutines.
type logBuffer struct{ testenv.Buffer }

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually polls cond until it holds or the generous bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within 10s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func ids(list []*registry.Instance) []string {
	out := make([]string, len(list))
	for i, in := range list {
		out[i] = in.ID
	}
	return out
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}

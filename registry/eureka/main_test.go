package eureka_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/eureka"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// springServers is the Eureka server the tests that neither restart nor stop it share: one
// JVM less to start.
var springServers testenv.SharedSpringServers

// childEnv, when set in the environment, makes the test binary a provider process for the
// SIGKILL test: it registers the instance service/id named there and waits to be killed.
const childEnv = "EUREKA_TEST_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	code := m.Run()
	springServers.Stop()
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}

// runChild registers one instance with the fast options and renews it until killed.
func runChild(spec string) int {
	var server, service, id string
	if _, err := fmt.Sscanf(spec, "%s %s %s", &server, &service, &id); err != nil {
		fmt.Fprintln(os.Stderr, "child: bad spec:", spec, err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := eureka.New(ctx, []string{server}, fast(log)...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	if err := r.Register(ctx, registrytest.NewInstance(service, id, 7001)); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	fmt.Println("registered")
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	_ = r.Close()
	return 0
}

func newLog(t testing.TB) (*slog.Logger, *testenv.Buffer) {
	b := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("registry log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// fastRetryMax caps the backoff of the fast options.
const fastRetryMax = 500 * time.Millisecond

// fast are the options tests use, with the test server's settings: renewals every second,
// a 2 s lease, fetches every 200 ms, quick retries.
func fast(log *slog.Logger) []eureka.Option {
	return []eureka.Option{
		eureka.WithRenewalInterval(time.Second),
		eureka.WithLeaseDuration(2 * time.Second),
		eureka.WithFetchInterval(200 * time.Millisecond),
		eureka.WithRequestTimeout(2 * time.Second),
		eureka.WithRetry(50*time.Millisecond, fastRetryMax),
		eureka.WithLogger(log),
	}
}

// open returns a Registry on the given servers that is closed when the test ends.
func open(t testing.TB, servers []string, opts ...eureka.Option) *eureka.Registry {
	t.Helper()
	log, _ := newLog(t)
	r, err := eureka.New(context.Background(), servers, append(fast(log), opts...)...)
	if err != nil {
		t.Fatalf("eureka.New(%v): %v", servers, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

package etcd_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/etcd"
)

func TestMain(m *testing.M) {
	// The etcd client and grpc stop every goroutine on Close; nothing is ignored.
	goleak.VerifyTestMain(m)
}

// logBuffer collects output written from other goroutines.
type logBuffer = testenv.Buffer

func newLog(t testing.TB) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("registry log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo})), b
}

// fastRetryMax caps the backoff of the fast options.
const fastRetryMax = 500 * time.Millisecond

// fast are the options tests use: a short TTL and quick retries, so that recovery is seen
// within seconds; a test's own options come after them.
func fast(log *slog.Logger) []etcd.Option {
	return []etcd.Option{
		etcd.WithTTL(2 * time.Second),
		etcd.WithRetry(50*time.Millisecond, fastRetryMax),
		etcd.WithLogger(log),
	}
}

// open returns a Registry on srv that is closed when the test ends.
func open(t testing.TB, srv *testenv.Etcd, opts ...etcd.Option) *etcd.Registry {
	t.Helper()
	r, _ := openWithLog(t, srv, opts...)
	return r
}

// openWithLog is open that also returns what the Registry logs.
func openWithLog(t testing.TB, srv *testenv.Etcd, opts ...etcd.Option) (*etcd.Registry, *logBuffer) {
	t.Helper()
	log, buf := newLog(t)
	r, err := etcd.New(context.Background(), []string{srv.Endpoint}, append(fast(log), opts...)...)
	if err != nil {
		t.Fatalf("etcd.New(%s): %v", srv.Endpoint, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r, buf
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

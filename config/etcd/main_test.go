package etcd_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	etcdconfig "github.com/tianshu-go/tianshu/config/etcd"
	"github.com/tianshu-go/tianshu/internal/testenv"
)

func TestMain(m *testing.M) {
	// The etcd client and grpc stop every goroutine on Close; nothing is ignored.
	goleak.VerifyTestMain(m)
}

// fast are the options tests use: quick retries, and the log in the test's output when it
// fails.
func fast(t testing.TB) []etcdconfig.Option {
	b := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("source log:\n%s", b.String())
		}
	})
	return []etcdconfig.Option{
		etcdconfig.WithRetry(50*time.Millisecond, 500*time.Millisecond),
		etcdconfig.WithLogger(slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelInfo}))),
	}
}

// rawClient returns a plain etcd client on endpoint, closed when the test ends.
func rawClient(t testing.TB, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatalf("clientv3.New: %v", err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	return cli
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

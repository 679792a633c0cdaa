package zookeeper_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

// zkServer is the ZooKeeper shared by the tests; session expiry is tested in
// registry/zookeeper, which has the tools to cause one.
var zkServer testenv.SharedZooKeeper

func TestMain(m *testing.M) {
	code := m.Run()
	zkServer.Stop()
	if err := goleak.Find(); code == 0 && err != nil {
		fmt.Fprintln(os.Stderr, "goleak:", err)
		code = 1
	}
	os.Exit(code)
}

const testSessionTimeout = 4 * time.Second

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// open returns a Registry on addr, whose session the sources share, closed at the end of
// the test.
func open(t testing.TB, addr string) *zookeeper.Registry {
	t.Helper()
	r, err := zookeeper.New(ctxFor(t), []string{addr},
		zookeeper.WithSessionTimeout(testSessionTimeout),
		zookeeper.WithReconnectBackoff(50*time.Millisecond, 500*time.Millisecond),
		zookeeper.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatalf("zookeeper.New(%s): %v", addr, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// rawConn returns a plain go-zookeeper connection, to change nodes behind a source's back.
func rawConn(t testing.TB, addr string) *zk.Conn {
	t.Helper()
	c, events, err := zk.Connect([]string{addr}, testSessionTimeout, zk.WithLogInfo(false), zk.WithLogger(discard{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		for range events {
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for c.State() != zk.StateHasSession {
		if time.Now().After(deadline) {
			t.Fatalf("no session with %s", addr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return c
}

type discard struct{}

func (discard) Printf(string, ...any) {}

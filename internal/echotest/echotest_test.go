package echotest_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry/memory"
	"github.com/tianshu-go/tianshu/rpc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestLoadCountsCallsToServedProviders(t *testing.T) {
	reg := memory.New()
	t.Cleanup(func() { _ = reg.Close() })
	quiet := slog.New(slog.DiscardHandler)
	echotest.Serve(t, reg, "echo", "a", quiet)
	echotest.Serve(t, reg, "echo", "b", quiet)
	conn, err := rpc.Dial(context.Background(), "tianshu:///echo", rpc.WithDiscovery(reg), rpc.WithDialLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := testpb.NewEchoClient(conn)
	echotest.WaitServedBy(t, client, 10*time.Second, "a", "b")
	l := echotest.StartLoad(client, 4)
	for l.Calls() < 100 {
		time.Sleep(10 * time.Millisecond)
	}
	if r := l.Rate(100 * time.Millisecond); r < 10 {
		t.Errorf("Rate = %.0f calls/s of four callers on loopback, want 10 or more", r)
	}
	if calls, failed, first := l.Stop(); calls < 100 || failed != 0 || first != nil {
		t.Fatalf("Stop = %d calls, %d failed, %v; want 100 or more, none failed", calls, failed, first)
	}
}

package nacos_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/nacos"
)

// sdkRoot holds the directories tests give WithDir. It outlives every test because the
// SDK's logger is global: it writes to the log directory of the last client made, also on
// behalf of clients that have been closed, so a t.TempDir could be written to after removal.
var sdkRoot string

func TestMain(m *testing.M) {
	var err error
	if sdkRoot, err = os.MkdirTemp("", "tianshu-nacos-test-"); err != nil {
		panic(err)
	}
	defer os.RemoveAll(sdkRoot)
	// nacos-sdk-go v2.3.2 wakes its listen loop from a goroutine that sends on an unbuffered
	// channel without watching for the client's close (config_client.go:552-556,
	// asyncNotifyListenConfig): a listener added or cancelled just before CloseClient leaves
	// that goroutine blocked for good. It is the SDK's, one per such close, and nothing here
	// can reach the channel; every other goroutine is still checked.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(
		"github.com/nacos-group/nacos-sdk-go/v2/clients/config_client.(*ConfigClient).asyncNotifyListenConfig.func1"))
}

// sdkDir returns a new directory for WithDir: a new SDK client, as another process has.
func sdkDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp(sdkRoot, "client-")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// logBuffer collects output written from other goroutines.
type logBuffer = testenv.Buffer

func testLogger(t testing.TB) *slog.Logger {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// base are the options tests use: their own directory and quick retries.
func base(t testing.TB, dir string) []nacos.Option {
	return []nacos.Option{
		nacos.WithDir(dir),
		nacos.WithLogger(testLogger(t)),
		nacos.WithRetry(50*time.Millisecond, 500*time.Millisecond),
		nacos.WithTimeout(3 * time.Second),
	}
}

// open returns a Registry on srv, closed when the test ends. Registries opened with the same
// dir share one SDK client; a new dir is a new client, as another process would have.
func open(t testing.TB, srv *testenv.Nacos, dir string, opts ...nacos.Option) *nacos.Registry {
	t.Helper()
	r, err := nacos.New(context.Background(), []string{srv.Addr}, append(base(t, dir), opts...)...)
	if err != nil {
		t.Fatalf("nacos.New(%s): %v", srv.Addr, err)
	}
	t.Cleanup(func() { _ = r.Close() })
	testenv.AwaitNacosSDKEvents(t)
	return r
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func eventually(t testing.TB, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// sdkRaceMessage explains why tests that make the SDK reconnect stay out of -race runs.
const sdkRaceMessage = "nacos-sdk-go v2.3.2 has a data race when it reconnects (RpcClient.currentConnection: " +
	"written in reconnect, rpc_client.go:448, read in notifyConnectionEvent, :486)"

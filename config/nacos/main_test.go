package nacos_test

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	"github.com/tianshu-go/tianshu/internal/testenv"
)

// sdkRoot holds the directories tests give WithDir. It outlives every test because the
// SDK's logger is global: it writes to the log directory of the last client made, also on
// behalf of clients that have been closed, so a t.TempDir could be written to after removal.
var sdkRoot string

func TestMain(m *testing.M) {
	var err error
	if sdkRoot, err = os.MkdirTemp("", "tianshu-nacos-config-test-"); err != nil {
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

func testLogger(t testing.TB) *slog.Logger {
	b := &testenv.Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// base are the options tests use: their own directory and quick retries.
func base(t testing.TB, dir string) []nacosconfig.Option {
	return []nacosconfig.Option{
		nacosconfig.WithDir(dir),
		nacosconfig.WithLogger(testLogger(t)),
		nacosconfig.WithRetry(50*time.Millisecond, 500*time.Millisecond),
		nacosconfig.WithTimeout(3 * time.Second),
	}
}

func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

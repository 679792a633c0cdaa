package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	_ "github.com/tianshu-go/tianshu/registry/etcd"
	_ "github.com/tianshu-go/tianshu/registry/zookeeper"
)

func TestAnUnreachableBackendIsNamedWithItsAddressAndTimeout(t *testing.T) {
	for _, url := range []string{"etcd://127.0.0.1:1/tianshu", "zookeeper://127.0.0.1:1/tianshu"} {
		code, _, stderr := runCLI(context.Background(), "registry", "ls", "orders", "--registry", url, "--timeout", "1s")
		if code != 1 || !strings.Contains(stderr, "127.0.0.1:1") || !strings.Contains(stderr, "1s") {
			t.Errorf("registry ls against %s: status %d, stderr %q; want status 1 naming the address and the 1s timeout", url, code, stderr)
		}
	}
}

// The timeout bounds the whole command. ZooKeeper's client connects in the background, so
// opening and then reading each used to wait for it: twice the timeout.
func TestTheTimeoutBoundsTheWholeCommand(t *testing.T) {
	const timeout = 2 * time.Second
	for _, args := range [][]string{
		{"registry", "ls", "orders"},
		{"registry", "watch", "orders"},
	} {
		start := time.Now()
		code, _, stderr := runCLI(context.Background(), append(args, "--registry", "zookeeper://127.0.0.1:1/tianshu", "--timeout", timeout.String())...)
		took := time.Since(start)
		if code != 1 || took > timeout*9/5 {
			t.Errorf("%s against a ZooKeeper nobody serves with --timeout %v: status %d after %v; want 1 within %v\n%s",
				strings.Join(args, " "), timeout, code, took.Round(time.Millisecond), timeout*9/5, stderr)
		}
	}
}

package cli

import (
	"context"
	"strings"
	"testing"

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

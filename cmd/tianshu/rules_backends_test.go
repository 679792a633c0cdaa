package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/cli"
	"github.com/tianshu-go/tianshu/internal/testenv"
)

// rules set writes a validated rules document into a real etcd and ZooKeeper, refuses an
// invalid one, and rules get reads back what was written.
func TestRulesSetAndGetOnRemoteBackends(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "drain.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	const drain = "rules:\n  services:\n    orders:\n      instances:\n        - {id: orders-1, out: true}\n"
	for path, data := range map[string]string{good: drain, bad: strings.Replace(drain, "id: orders-1, ", "", 1)} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, source := range []string{
		"etcd://" + testenv.StartEtcd(t).Addr + "/config/orders/rules.yaml",
		"zookeeper://" + testenv.StartZooKeeper(t).Addr + "/config/orders/rules.yaml",
	} {
		t.Run(strings.SplitN(source, ":", 2)[0], func(t *testing.T) {
			run(t, "config", "set", "server.addr", ":9000", "--source", source)
			var out, errOut bytes.Buffer
			c := &cli.CLI{Stdout: &out, Stderr: &errOut, ConfigSources: configSources()}
			if code := c.Main(context.Background(), []string{"rules", "set", bad, "--source", source}); code != 1 ||
				!strings.Contains(errOut.String(), "services.orders.instances[0]: neither id nor address") {
				t.Fatalf("rules set of an invalid document: status %d, stderr %q", code, errOut.String())
			}
			if got := run(t, "rules", "get", "--source", source); got != "rules: {}" {
				t.Fatalf("after the refused set, rules get = %q, want rules: {}", got)
			}
			run(t, "rules", "set", good, "--force", "--source", source)
			got := run(t, "rules", "get", "--json", "--source", source)
			if want := `{"rules":{"services":{"orders":{"instances":[{"id":"orders-1","out":true}]}}}}`; got != want {
				t.Errorf("rules get = %s, want %s", got, want)
			}
			if got := run(t, "config", "get", "server.addr", "--source", source); got != ":9000" {
				t.Errorf("rules set lost the document's other keys: server.addr = %q", got)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tianshu-go/tianshu/cmd/tianshu/internal/cli"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// nacos-sdk-go leaves two goroutines after CloseClient, as registry/nacos's tests document:
// its log file rotator and its UDP push receiver.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreAnyFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"),
		goleak.IgnoreAnyFunction("github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client/naming_http.(*PushReceiver).handleClient"))
}

func run(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	c := &cli.CLI{Stdout: &out, Stderr: &errOut, ConfigSources: configSources()}
	if code := c.Main(context.Background(), args); code != 0 {
		t.Fatalf("tianshu %s: status %d, stderr %q", strings.Join(args, " "), code, errOut.String())
	}
	return strings.TrimSpace(out.String())
}

// config set edits a document on a real etcd, ZooKeeper and Nacos, and config get reads the
// new value back through the same config source services use.
func TestConfigSetAndGetOnRemoteBackends(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	zk := testenv.StartZooKeeper(t)
	nacos := testenv.StartNacos(t)
	for _, source := range []string{
		"etcd://" + etcd.Addr + "/config/orders.yaml",
		"zookeeper://" + zk.Addr + "/config/orders.yaml",
		"nacos://" + nacos.Addr + "/?data_id=orders.yaml&cache_dir=" + t.TempDir(),
	} {
		t.Run(strings.SplitN(source, ":", 2)[0], func(t *testing.T) {
			run(t, "config", "set", "db.pool.size", "8", "--source", source)
			run(t, "config", "set", "db.host", "db-1", "--source", source)
			if got := run(t, "config", "get", "db.pool.size", "--source", source); got != "8" {
				t.Errorf("config get db.pool.size = %q, want 8", got)
			}
			if got := run(t, "config", "get", "db.host", "--source", source); got != "db-1" {
				t.Errorf("config get db.host = %q, want db-1", got)
			}
		})
	}
}

// --timeout bounds config get as a whole, though opening the ZooKeeper source and reading it
// each wait for the session.
func TestConfigGetHonoursTheTimeoutAgainstAnUnservedZooKeeper(t *testing.T) {
	const timeout = 2 * time.Second
	var out, errOut bytes.Buffer
	c := &cli.CLI{Stdout: &out, Stderr: &errOut, ConfigSources: configSources()}
	start := time.Now()
	code := c.Main(context.Background(), []string{"config", "get", "a", "--source", "zookeeper://127.0.0.1:1/config/app.yaml", "--timeout", timeout.String()})
	if took := time.Since(start); code != 1 || took > timeout*9/5 {
		t.Errorf("status %d after %v; want 1 within %v\n%s", code, took.Round(time.Millisecond), timeout*9/5, errOut.String())
	}
}

// registry ls with no service lists the services of each backend that can.
func TestRegistryLsListsTheServicesOfEachBackend(t *testing.T) {
	for _, backend := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"etcd", func(t *testing.T) string { return "etcd://" + testenv.StartEtcd(t).Addr + "/tianshu" }},
		{"zookeeper", func(t *testing.T) string { return "zookeeper://" + testenv.StartZooKeeper(t).Addr + "/tianshu" }},
		{"nacos", func(t *testing.T) string {
			return testenv.StartNacos(t).URL("public", url.Values{"cache_dir": {t.TempDir()}})
		}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			regURL := backend.url(t)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			reg, err := registry.Open(ctx, regURL)
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			if err := reg.Register(ctx, registrytest.NewInstance("orders", "orders-1", 9001)); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				out := run(t, "registry", "ls", "--registry", regURL, "--json")
				if strings.Contains(out, `{"service":"orders","instances":1}`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("registry ls --json printed %s; want orders with 1 instance", out)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

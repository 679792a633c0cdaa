package interop_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

// appLevelBackend opens Tianshu consumers in a given discovery mode on the server a Java
// peer registers with.
type appLevelBackend struct {
	name  string
	start func(t *testing.T) (javaURL string, open func(t *testing.T, mode dubbo.DiscoveryMode) registry.Registry)
}

var appLevelBackends = []appLevelBackend{
	{name: "ZooKeeper", start: startZooKeeperAppLevel},
	{name: "Nacos", start: startNacosAppLevel},
}

func startZooKeeperAppLevel(t *testing.T) (string, func(*testing.T, dubbo.DiscoveryMode) registry.Registry) {
	srv := zkServer.Get(t)
	open := func(t *testing.T, mode dubbo.DiscoveryMode) registry.Registry {
		r, err := zookeeper.New(context.Background(), []string{srv.Addr},
			zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithDubboDiscovery(mode),
			zookeeper.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	return "zookeeper://" + srv.Addr, open
}

func startNacosAppLevel(t *testing.T) (string, func(*testing.T, dubbo.DiscoveryMode) registry.Registry) {
	srv := testenv.StartNacos(t)
	open := func(t *testing.T, mode dubbo.DiscoveryMode) registry.Registry {
		// The naming's group and version name the interface-level service only; the
		// application level lists every group and version, which rpc.WithDubbo filters.
		r, err := nacos.New(context.Background(), []string{srv.Addr},
			nacos.WithDubboNaming("1.0.0", "interop"), nacos.WithDubboDiscovery(mode),
			nacos.WithDir(t.TempDir()), nacos.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		testenv.AwaitNacosSDKEvents(t)
		return r
	}
	return "nacos://" + srv.Addr, open
}

// A Tianshu consumer calls a Java provider registered at application level only
// (register-mode=instance, the registry also its metadata centre so that the provider writes
// the interface's mapping, as by default): mapping, instances, metadata fetched from the
// provider's MetadataServiceV2, then the Triple call with group and version. A second
// instance of the application with another export announces a second revision, which the
// consumer fetches from it.
func TestTianshuConsumerCallsJavaInstanceModeProvider(t *testing.T) {
	for _, b := range appLevelBackends {
		t.Run("through "+b.name, func(t *testing.T) {
			javaURL, open := b.start(t)
			port := testenv.FreePort(t)
			t.Setenv("JAVA_TOOL_OPTIONS", "-Dpeer.register-mode=instance -Dpeer.metadata-center=true")
			java := startJava(t, "java-provider", "provider", javaURL, strconv.Itoa(port), "interop:1.0.0")
			waitForLine(t, java, "READY", javaStartTimeout)

			// Interface level alone sees nothing: the provider wrote no URL there.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if list, err := open(t, dubbo.DiscoverInterface).GetService(ctx, greeterService); err != nil || len(list) != 0 {
				t.Fatalf("interface level lists %v, %v; want nothing from a provider in instance mode", list, err)
			}

			start := time.Now()
			c := dialDubbo(t, open(t, dubbo.DiscoverAll), "interop", "1.0.0")
			r := greetUntilServed(t, c, "tianshu")
			t.Logf("%s: Dial to the first answer from the instance-mode provider: %v", b.name, time.Since(start))
			if r.GetMessage() != "hello, tianshu" || r.GetServedBy() != "java:interop:1.0.0" {
				t.Errorf("reply %q from %q, want %q from %q", r.GetMessage(), r.GetServedBy(), "hello, tianshu", "java:interop:1.0.0")
			}

			// A second instance of the application with another export: a second revision,
			// fetched from that instance, while the first stays cached.
			port2 := testenv.FreePort(t)
			java2 := startJava(t, "java-provider-2", "provider", javaURL, strconv.Itoa(port2), "interop:1.0.0", "interop:2.0.0")
			waitForLine(t, java2, "READY", javaStartTimeout)
			start = time.Now()
			c2 := dialDubbo(t, open(t, dubbo.DiscoverApplication), "interop", "2.0.0")
			r = greetUntilServed(t, c2, "tianshu")
			t.Logf("%s: Dial to the first answer of the second revision's version: %v", b.name, time.Since(start))
			if r.GetServedBy() != "java:interop:2.0.0" {
				t.Errorf("version 2.0.0 served by %q", r.GetServedBy())
			}
			// The first connection now has both instances of version 1.0.0.
			waitListed(t, open(t, dubbo.DiscoverAll), 2, "1.0.0")
		})
	}
}

package admin_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	zkconfig "github.com/tianshu-go/tianshu/config/zookeeper"
	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/admin"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/loadbalance"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
	"github.com/tianshu-go/tianshu/rpc"
)

const (
	iface       = "tianshu.admin.v1.Echo"
	group       = "g"
	version     = "1.0.0"
	providerApp = "tianshu-admin-provider"
	consumerApp = "tianshu-admin-consumer"
	// applyBound is how long a test waits for a rule to move the traffic: ten times the
	// 1 s the rules must take, for a loaded machine; the delay measured is logged.
	applyBound = 10 * time.Second
)

var consumer = dubbo.RuleScope{Application: consumerApp, Services: []dubbo.Reference{
	{Interface: iface, Group: group, Version: version, Providers: []string{providerApp}},
}}

// logBuffer is a logger whose records a test can count.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.b.String(), s)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLog(t *testing.T) (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

// fixture is one config centre and registry: providers register through open, rules are
// written with put and removed with del.
type fixture struct {
	open    func(t *testing.T) registry.Registry
	backend func(t *testing.T, reg registry.Registry) admin.Backend
	put     func(t *testing.T, key, data string)
	del     func(t *testing.T, key string)
}

var backends = []struct {
	name  string
	start func(t *testing.T) fixture
}{
	{"ZooKeeper", startZooKeeper},
	{"Nacos", startNacos},
}

func startZooKeeper(t *testing.T) fixture {
	srv := zkServer.Get(t)
	log, _ := newLog(t)
	open := func(t *testing.T) registry.Registry { return openZK(t, srv.Addr, zookeeper.WithLogger(log)) }
	writer := openZK(t, srv.Addr, zookeeper.WithLogger(log))
	return fixture{
		open: open,
		backend: func(t *testing.T, reg registry.Registry) admin.Backend {
			return admin.ZooKeeper(reg.(*zookeeper.Registry))
		},
		put: func(t *testing.T, key, data string) {
			p := dubbo.ConfigRoot + "/" + key
			src, err := zkconfig.Node(writer, p)
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Put(context.Background(), p, []byte(data)); err != nil {
				t.Fatal(err)
			}
		},
		del: func(t *testing.T, key string) {
			if err := writer.ConfigSession().Conn.Delete(dubbo.ConfigRoot+"/"+key, -1); err != nil {
				t.Fatal(err)
			}
		},
	}
}

// openZK returns a Registry of the Dubbo layout on addr, closed when the test ends.
func openZK(t testing.TB, addr string, opts ...zookeeper.Option) *zookeeper.Registry {
	t.Helper()
	r, err := zookeeper.New(context.Background(), []string{addr}, append([]zookeeper.Option{
		zookeeper.WithLayout(zookeeper.LayoutDubbo),
		zookeeper.WithDubboPublish(dubbo.Publish{Application: providerApp}),
		zookeeper.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func startNacos(t *testing.T) fixture {
	srv := testenv.StartNacos(t)
	log, _ := newLog(t)
	dir := t.TempDir()
	writer, err := nacosconfig.New(context.Background(), []string{srv.Addr}, []string{"unused.yaml"},
		nacosconfig.WithGroup(dubbo.ConfigGroup), nacosconfig.WithDir(dir), nacosconfig.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Close() })
	return fixture{
		open: func(t *testing.T) registry.Registry {
			r, err := nacos.New(context.Background(), []string{srv.Addr},
				nacos.WithDubboNaming(version, group), nacos.WithApplication(providerApp),
				nacos.WithDir(t.TempDir()), nacos.WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = r.Close() })
			testenv.AwaitNacosSDKEvents(t)
			return r
		},
		backend: func(t *testing.T, _ registry.Registry) admin.Backend {
			// Without WithPoll: rnacos notifies deletes, so the default poll never matters.
			return admin.Nacos([]string{srv.Addr}, nacosconfig.WithDir(dir), nacosconfig.WithLogger(log))
		},
		put: func(t *testing.T, key, data string) {
			if err := writer.Put(context.Background(), key, []byte(data)); err != nil {
				t.Fatal(err)
			}
		},
		del: func(t *testing.T, key string) {
			if err := writer.Delete(context.Background(), key); err != nil {
				t.Fatal(err)
			}
		},
	}
}

type echo struct {
	testpb.UnimplementedEchoServer
	id string
}

func (e echo) Echo(context.Context, *testpb.EchoRequest) (*testpb.EchoReply, error) {
	return &testpb.EchoReply{ServedBy: e.id}, nil
}

// serve runs a provider of the Dubbo service registered through reg and returns its
// address.
func serve(t *testing.T, reg registry.Registrar, id string) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := rpc.NewServer(rpc.WithService(iface), rpc.WithInstanceID(id), rpc.WithRegistrar(reg),
		rpc.WithVersion(version), rpc.WithMetadata(map[string]string{"group": group}),
		rpc.WithDeregisterDelay(0), rpc.WithServerLogger(slog.New(slog.DiscardHandler)))
	testpb.RegisterEchoServer(srv, echo{id: id})
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})
	return lis.Addr().String()
}

// served makes n calls with ctx and counts them by provider.
func served(t *testing.T, c testpb.EchoClient, ctx context.Context, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		r, err := c.Echo(cctx, &testpb.EchoRequest{}, grpc.WaitForReady(true))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		got[r.ServedBy]++
	}
	return got
}

// until calls in rounds of 30 until ok accepts a round's counts, and returns how long that
// took from start; it fails the test after applyBound.
func until(t *testing.T, c testpb.EchoClient, ctx context.Context, what string, ok func(map[string]int) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var got map[string]int
	for time.Since(start) < applyBound {
		if got = served(t, c, ctx, 30); ok(got) {
			return time.Since(start)
		}
	}
	t.Fatalf("%s: not within %v; last 30 calls %v", what, applyBound, got)
	return 0
}

func TestAdminRulesMoveTianshuTraffic(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := b.start(t)
			addrs := map[string]string{}
			for _, id := range []string{"a", "b", "c"} {
				addrs[id] = serve(t, f.open(t), id)
			}
			reg := f.open(t)
			log, logs := newLog(t)
			w, err := admin.Watch(context.Background(), f.backend(t, reg), consumer, admin.WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = w.Close() })
			conn, err := rpc.Dial(context.Background(), "tianshu:///"+iface, rpc.WithDiscovery(reg),
				rpc.WithDubbo(group, version), rpc.WithRules(w.Store()), rpc.WithBalancer(loadbalance.RoundRobin),
				rpc.WithDialLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			c := testpb.NewEchoClient(conn)
			ctx := context.Background()
			all := func(m map[string]int) bool { return m["a"] > 0 && m["b"] > 0 && m["c"] > 0 }
			until(t, c, ctx, "every provider serving", all)

			serviceKey := iface + ":" + version + ":" + group + dubbo.SuffixConfigurators
			f.put(t, serviceKey, fmt.Sprintf(`configVersion: v3.0
scope: service
key: %s/%s:%s
enabled: true
configs:
  - side: provider
    addresses: [%q]
    parameters:
      disabled: "true"
  - side: provider
    addresses: [%q]
    parameters:
      weight: "400"
`, group, iface, version, addrs["b"], addrs["c"]))
			d := until(t, c, ctx, "b disabled, c weighted", func(m map[string]int) bool {
				return m["b"] == 0 && m["c"] == 24 && m["a"] == 6
			})
			t.Logf("%s: the disable and weight rule moved the traffic %v after it was written", b.name, d)

			// A malformed change is reported once and the last good rule stays.
			bad := "scope: service\nkey: x\nconfigs:\n  - side: provider\n    adresses: [h:1]\n    parameters: {weight: 1}\n"
			f.put(t, serviceKey, bad)
			deadline := time.Now().Add(applyBound)
			for logs.count("Dubbo Admin rule rejected") == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			f.put(t, serviceKey, bad) // the same mistake again
			if got := served(t, c, ctx, 30); got["b"] != 0 || got["c"] != 24 {
				t.Errorf("after a malformed rule: %v; want the last good rule in force", got)
			}
			if n := logs.count("Dubbo Admin rule rejected"); n != 1 || logs.count("adresses") == 0 {
				t.Errorf("the malformed rule was logged %d times (want once, naming the field)", n)
			}

			f.del(t, serviceKey)
			d = until(t, c, ctx, "the rule removed", func(m map[string]int) bool {
				return m["a"] == 10 && m["b"] == 10 && m["c"] == 10
			})
			t.Logf("%s: removing the rule restored the traffic %v after the delete", b.name, d)

			// Application scope, by host: every provider on 127.0.0.1 but c.
			f.put(t, providerApp+dubbo.SuffixConfigurators, fmt.Sprintf(`configVersion: v3.0
scope: application
key: %s
configs:
  - side: provider
    addresses: ["127.0.0.1"]
    parameters: {weight: 0}
  - side: provider
    addresses: [%q]
    parameters: {weight: 100}
`, providerApp, addrs["c"]))
			until(t, c, ctx, "all but c out by host", func(m map[string]int) bool { return m["c"] == 30 })
			f.del(t, providerApp+dubbo.SuffixConfigurators)
			until(t, c, ctx, "the application rule removed", all)
		})
	}
}

func TestAdminTagRouterRoutesDubboTag(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			f := b.start(t)
			addrs := map[string]string{}
			for _, id := range []string{"a", "b", "c"} {
				addrs[id] = serve(t, f.open(t), id)
			}
			reg := f.open(t)
			log, _ := newLog(t)
			w, err := admin.Watch(context.Background(), f.backend(t, reg), consumer, admin.WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = w.Close() })
			conn, err := rpc.Dial(context.Background(), "tianshu:///"+iface, rpc.WithDiscovery(reg),
				rpc.WithDubbo(group, version), rpc.WithRules(w.Store()), rpc.WithDialLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			c := testpb.NewEchoClient(conn)
			plain, gray := context.Background(), rpc.WithDubboTag(context.Background(), "gray")
			until(t, c, plain, "every provider serving", func(m map[string]int) bool { return m["a"] > 0 && m["b"] > 0 && m["c"] > 0 })

			f.put(t, providerApp+dubbo.SuffixTagRouter, fmt.Sprintf(`configVersion: v3.0
key: %s
enabled: true
force: false
runtime: true
tags:
  - name: gray
    addresses: [%q]
`, providerApp, addrs["a"]))
			d := until(t, c, gray, "gray calls to a", func(m map[string]int) bool { return m["a"] == 30 })
			t.Logf("%s: the tag rule routed gray calls %v after it was written", b.name, d)
			if got := served(t, c, plain, 30); got["a"] != 0 {
				t.Errorf("untagged calls %v: want none on the gray provider", got)
			}
			if got := served(t, c, rpc.WithDubboTag(context.Background(), "blue"), 30); got["a"] != 0 || got["b"]+got["c"] != 30 {
				t.Errorf("calls of a tag no provider has %v: want them on the untagged providers (force: false)", got)
			}
			f.del(t, providerApp+dubbo.SuffixTagRouter)
			until(t, c, gray, "the tag rule removed", func(m map[string]int) bool { return m["b"] > 0 && m["c"] > 0 })
		})
	}
}

package interop_test

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/interop/interoppb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
	"github.com/tianshu-go/tianshu/rpc"
)

// greeterService is the gRPC service name, the Java interface name Dubbo registers and the
// Tianshu service name, all three the same (see interoppb/greeter.proto).
const greeterService = "tianshu.interop.v1.Greeter"

// Triple's headers naming the Dubbo group and version a call is for. A Dubbo Triple server
// routes on them; a Dubbo consumer sends them when its reference has a group or version.
const (
	triGroupHeader   = rpc.TripleGroupHeader
	triVersionHeader = rpc.TripleVersionHeader
)

// greeter is the Tianshu side of the service. It answers with the Triple headers it
// received, so a test sees what a Java consumer sent.
type greeter struct {
	interoppb.UnimplementedGreeterServer
	name string
}

func (g greeter) Greet(ctx context.Context, req *interoppb.GreetRequest) (*interoppb.GreetReply, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return &interoppb.GreetReply{
		Message:  "hello, " + req.GetName(),
		ServedBy: g.name,
		Group:    first(triGroupHeader),
		Version:  first(triVersionHeader),
	}, nil
}

// serveGreeter serves greeter on 127.0.0.1 and announces it through reg as version, in the
// Dubbo group given as metadata (the Dubbo layout writes metadata as URL parameters).
func serveGreeter(t *testing.T, reg registry.Registrar, name, group, version string) {
	t.Helper()
	opts := []rpc.ServerOption{
		rpc.WithService(greeterService), rpc.WithInstanceID(name), rpc.WithRegistrar(reg),
		rpc.WithVersion(version), rpc.WithDeregisterDelay(100 * time.Millisecond),
		rpc.WithServerLogger(testLogger(t)),
	}
	if group != "" {
		opts = append(opts, rpc.WithMetadata(map[string]string{"group": group}))
	}
	srv := rpc.NewServer(opts...)
	interoppb.RegisterGreeterServer(srv, greeter{name: name})
	echotest.Run(t, srv)
}

// dialDubbo dials the Greeter as a Dubbo consumer of group and version would: only the
// instances of that group and version, over their tri:// endpoints, with the Triple headers
// that make a Dubbo server pick the export of that group and version when one port serves
// several.
func dialDubbo(t *testing.T, d registry.Discovery, group, version string) interoppb.GreeterClient {
	t.Helper()
	conn, err := rpc.Dial(context.Background(), "tianshu:///"+greeterService,
		rpc.WithDiscovery(d), rpc.WithDubbo(group, version), rpc.WithDialLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return interoppb.NewGreeterClient(conn)
}

// greetUntilServed calls until a call succeeds, waiting for the registry to list the
// provider, and returns the reply.
func greetUntilServed(t *testing.T, c interoppb.GreeterClient, name string) *interoppb.GreetReply {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), javaStartTimeout)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := c.Greet(callCtx, &interoppb.GreetRequest{Name: name}, grpc.WaitForReady(true))
		callCancel()
		if err == nil {
			return r
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no answer from the Java provider within %v: %v", javaStartTimeout, last)
	return nil
}

// A backend is one registry the scenarios run through: ZooKeeper in Dubbo's interface-level
// layout, or Nacos with Dubbo's service names.
type backend struct {
	name string
	// start returns the registry URL Java Dubbo uses, and opens Tianshu registries for a
	// Dubbo group and version on the same server.
	start func(t *testing.T) (javaURL string, open func(t *testing.T, group, version string) registry.Registry)
}

var backends = []backend{
	{name: "ZooKeeper", start: startZooKeeper},
	{name: "Nacos", start: startNacos},
}

func startZooKeeper(t *testing.T) (string, func(*testing.T, string, string) registry.Registry) {
	zk := zkServer.Get(t)
	open := func(t *testing.T, _, _ string) registry.Registry {
		// The group and version travel in each instance's URL, not in the Registry.
		r, err := zookeeper.New(context.Background(), []string{zk.Addr},
			zookeeper.WithLayout(zookeeper.LayoutDubbo),
			zookeeper.WithDubboPublish(dubbo.Publish{Application: "tianshu-interop", Methods: []string{"Greet"}}),
			zookeeper.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		return r
	}
	return "zookeeper://" + zk.Addr, open
}

func startNacos(t *testing.T) (string, func(*testing.T, string, string) registry.Registry) {
	srv := testenv.StartNacos(t)
	open := func(t *testing.T, group, version string) registry.Registry {
		r, err := nacos.New(context.Background(), []string{srv.Addr},
			nacos.WithDubboNaming(version, group),
			nacos.WithApplication("tianshu-interop"),
			nacos.WithDir(t.TempDir()),
			nacos.WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = r.Close() })
		testenv.AwaitNacosSDKEvents(t)
		return r
	}
	return "nacos://" + srv.Addr, open
}

func TestJavaDubboConsumerCallsTianshuProvider(t *testing.T) {
	for _, b := range backends {
		t.Run("through "+b.name, func(t *testing.T) {
			javaURL, open := b.start(t)
			// Two providers in the consumer's group: only the one of its version may answer.
			serveGreeter(t, open(t, "interop", "1.0.0"), "tianshu-1.0.0", "interop", "1.0.0")
			serveGreeter(t, open(t, "interop", "2.0.0"), "tianshu-2.0.0", "interop", "2.0.0")
			waitListed(t, open(t, "interop", "1.0.0"), 1, "1.0.0")

			const calls = 4
			java := startJava(t, "java-consumer", "consumer", javaURL, "interop", "1.0.0", strconv.Itoa(calls))
			got := answers(waitForLine(t, java, "DONE", javaStartTimeout))
			if len(got) != calls {
				t.Fatalf("the Java consumer printed %d answers, want %d:\n%s", len(got), calls, java.Output())
			}
			for i, a := range got {
				want := answer{message: fmt.Sprintf("hello, java-%d", i), servedBy: "tianshu-1.0.0", group: "interop", version: "1.0.0"}
				if a != want {
					t.Errorf("answer %d = %+v, want %+v", i, a, want)
				}
			}
		})
	}
}

func TestTianshuConsumerCallsJavaDubboProvider(t *testing.T) {
	for _, b := range backends {
		t.Run("through "+b.name, func(t *testing.T) {
			javaURL, open := b.start(t)
			port := testenv.FreePort(t)
			// One Java process exports the interface twice on one port; only the Triple
			// headers tell the two exports apart.
			java := startJava(t, "java-provider", "provider", javaURL, strconv.Itoa(port), "blue:1.0.0", "green:2.0.0")
			waitForLine(t, java, "READY", javaStartTimeout)

			for _, tc := range []struct{ group, version string }{
				{"green", "2.0.0"}, // not the first export, which a call without headers would reach
				{"blue", "1.0.0"},
			} {
				c := dialDubbo(t, open(t, tc.group, tc.version), tc.group, tc.version)
				r := greetUntilServed(t, c, "tianshu")
				want := "java:" + tc.group + ":" + tc.version
				if r.GetMessage() != "hello, tianshu" || r.GetServedBy() != want {
					t.Errorf("group %s version %s: reply %q from %q, want %q from %q",
						tc.group, tc.version, r.GetMessage(), r.GetServedBy(), "hello, tianshu", want)
				}
			}
		})
	}
}

// waitListed waits until d lists n instances of the Greeter of version.
func waitListed(t *testing.T, d registry.Discovery, n int, version string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		list, err := d.GetService(ctx, greeterService)
		cancel()
		count := 0
		for _, in := range list {
			if in.Version == version {
				count++
			}
		}
		if err == nil && count == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry lists %d instances of version %s, want %d (err %v)", count, version, n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testLogger collects what Tianshu logs and shows it when the test fails.
func testLogger(t *testing.T) *slog.Logger {
	b := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Tianshu log:\n%s", b.String())
		}
	})
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// logBuffer collects output written from other goroutines.
type logBuffer = testenv.Buffer

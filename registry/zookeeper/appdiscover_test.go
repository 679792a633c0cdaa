package zookeeper_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadatapb"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

const appIface = "tianshu.test.v1.Echo"

// fakeProvider is a Dubbo 3 provider application instance as a Java one looks from outside:
// a gRPC server on loopback serving MetadataServiceV2 from a Store, announced by writing its
// Curator JSON under /services/<app> with a plain ZooKeeper connection.
type fakeProvider struct {
	t     *testing.T
	app   string
	port  int
	store metadataservice.Store
	srv   *grpc.Server
	done  chan struct{}
	raw   *zk.Conn
	node  string
}

func startFakeProvider(t *testing.T, raw *zk.Conn, app string) *fakeProvider {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{t: t, app: app, port: lis.Addr().(*net.TCPAddr).Port, srv: grpc.NewServer(), done: make(chan struct{}), raw: raw}
	metadataservice.Register(p.srv, &p.store)
	go func() { defer close(p.done); _ = p.srv.Serve(lis) }()
	t.Cleanup(p.stop)
	p.node = fmt.Sprintf("/services/%s/127.0.0.1:%d", app, p.port)
	return p
}

func (p *fakeProvider) stop() {
	p.srv.Stop()
	<-p.done
}

// announce serves the interface under the given group:version pairs and writes the
// instance node with the new revision.
func (p *fakeProvider) announce(versions ...string) string {
	p.t.Helper()
	var services []dubbo.ServiceInfo
	pb := &metadatapb.MetadataInfoV2{App: p.app, Services: map[string]*metadatapb.ServiceInfoV2{}}
	for _, gv := range versions {
		g, v, _ := strings.Cut(gv, ":")
		s := dubbo.ServiceInfo{Name: appIface, Group: g, Version: v, Protocol: "tri", Port: p.port, Path: appIface,
			Params: map[string]string{"application": p.app, "side": "provider", "methods": "Echo"}}
		services = append(services, s)
		pb.Services[s.MatchKey()] = &metadatapb.ServiceInfoV2{Name: s.Name, Group: g, Version: v, Protocol: "tri",
			Port: int32(p.port), Path: s.Path, Params: s.Params}
	}
	rev := dubbo.NewMetadataInfo(p.app, services...).Revision()
	pb.Version = rev
	if err := p.store.Put(pb); err != nil {
		p.t.Fatal(err)
	}
	in, err := dubbo.NewAppInstance(p.app, "127.0.0.1", p.port, rev, time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	data, err := in.MarshalCurator()
	if err != nil {
		p.t.Fatal(err)
	}
	writeNode(p.t, p.raw, p.node, data, zk.FlagEphemeral)
	return rev
}

// writeNode creates or overwrites a node, creating its parents.
func writeNode(t *testing.T, raw *zk.Conn, p string, data []byte, flags int32) {
	t.Helper()
	parts := strings.Split(p, "/")
	for i := 2; i < len(parts); i++ {
		_, err := raw.Create(strings.Join(parts[:i], "/"), nil, 0, zk.WorldACL(zk.PermAll))
		if err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
	}
	if _, err := raw.Create(p, data, flags, zk.WorldACL(zk.PermAll)); errors.Is(err, zk.ErrNodeExists) {
		_, err = raw.Set(p, data, -1)
		if err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
}

// ids waits for the watcher's next list and returns its IDs.
func nextIDs(t *testing.T, w registry.Watcher) string {
	t.Helper()
	list, err := w.Next()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range list {
		ids = append(ids, in.ID)
	}
	return strings.Join(ids, " ")
}

// waitIDs reads lists until one has exactly want's IDs (space-separated, in any order).
func waitIDs(t *testing.T, w registry.Watcher, want string) {
	t.Helper()
	ws := strings.Fields(want)
	slices.Sort(ws)
	want = strings.Join(ws, " ")
	got := make(chan string, 1)
	var last atomic.Value
	last.Store("")
	go func() {
		for {
			list, err := w.Next()
			if err != nil {
				return
			}
			var ids []string
			for _, in := range list {
				ids = append(ids, in.ID)
			}
			last.Store(strings.Join(ids, " "))
			if strings.Join(ids, " ") == want {
				got <- want
				return
			}
		}
	}()
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatalf("the list did not become %q within 20 s; the last was %q", want, last.Load())
	}
}

// A consumer finds a provider registered only at application level, in the shape an
// interface-level provider has; follows its revision changes, its mapping, and its leaving.
func TestAppLevelDiscovery(t *testing.T) {
	srv := zkServer.Get(t)
	raw := rawConn(t, srv.Addr)
	root := "/dubbo-applevel"
	app := "fake-app-" + strings.ReplaceAll(t.Name(), "/", "-")
	p := startFakeProvider(t, raw, app)
	p.announce("g:1.0.0")
	writeNode(t, raw, root+"/mapping/"+appIface, []byte("some-java-app,"+app), 0)

	cons := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root))
	start := time.Now()
	w, err := cons.Watch(ctxFor(t), appIface)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := fmt.Sprintf("127.0.0.1:%d@g:1.0.0", p.port)
	list, err := w.Next()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first list after %v", time.Since(start))
	if len(list) != 1 || list[0].ID != want || list[0].Version != "1.0.0" || list[0].Metadata["group"] != "g" ||
		list[0].Endpoints[0] != (registry.Endpoint{Scheme: "tri", Host: "127.0.0.1", Port: p.port}) {
		t.Fatalf("first list %v, want the application-level provider %s", list, want)
	}
	got, err := cons.GetService(ctxFor(t), appIface)
	if err != nil || len(got) != 1 || got[0].ID != want {
		t.Errorf("GetService = %v, %v", got, err)
	}

	// A new revision (a second version exported) is fetched and both versions are listed.
	p.announce("g:1.0.0", "g:2.0.0")
	waitIDs(t, w, fmt.Sprintf("%s 127.0.0.1:%d@g:2.0.0", want, p.port))

	// A second application added to the mapping is followed.
	p2 := startFakeProvider(t, raw, app+"-2")
	p2.announce(":1.0.0")
	writeNode(t, raw, root+"/mapping/"+appIface, []byte("some-java-app,"+app+","+app+"-2"), 0)
	all := fmt.Sprintf("%s 127.0.0.1:%d@g:2.0.0 127.0.0.1:%d@:1.0.0", want, p.port, p2.port)
	waitIDs(t, w, all)

	// The instance node going leaves the list.
	if err := raw.Delete(p2.node, -1); err != nil {
		t.Fatal(err)
	}
	waitIDs(t, w, fmt.Sprintf("%s 127.0.0.1:%d@g:2.0.0", want, p.port))
}

// A provider at both levels is listed once, as its interface-level record; the modes keep
// one level each.
func TestAppLevelMergeAndModes(t *testing.T) {
	srv := zkServer.Get(t)
	raw := rawConn(t, srv.Addr)
	root := "/dubbo-applevel-merge"
	app := "fake-app-merge"
	p := startFakeProvider(t, raw, app)
	p.announce("g:1.0.0")
	writeNode(t, raw, root+"/mapping/"+appIface, []byte(app), 0)
	prov := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root),
		zookeeper.WithDubboDiscovery(dubbo.DiscoverInterface))
	same := &registry.Instance{ID: "tianshu-1", Service: appIface, Version: "1.0.0", Metadata: map[string]string{"group": "g"},
		Endpoints: []registry.Endpoint{{Scheme: "tri", Host: "127.0.0.1", Port: p.port}}}
	other := &registry.Instance{ID: "tianshu-2", Service: appIface, Version: "1.0.0", Metadata: map[string]string{"group": "g"},
		Endpoints: []registry.Endpoint{{Scheme: "tri", Host: "127.0.0.1", Port: 1}}}
	for _, in := range []*registry.Instance{same, other} {
		if err := prov.Register(ctxFor(t), in); err != nil {
			t.Fatal(err)
		}
	}
	appID := fmt.Sprintf("127.0.0.1:%d@g:1.0.0", p.port)
	for _, c := range []struct {
		mode dubbo.DiscoveryMode
		want string
	}{
		{dubbo.DiscoverAll, "tianshu-1 tianshu-2"},
		{dubbo.DiscoverInterface, "tianshu-1 tianshu-2"},
		{dubbo.DiscoverApplication, appID},
	} {
		cons := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root), zookeeper.WithDubboDiscovery(c.mode))
		w, err := cons.Watch(ctxFor(t), appIface)
		if err != nil {
			t.Fatal(err)
		}
		if got := nextIDs(t, w); got != c.want {
			t.Errorf("%v: first list %q, want %q", c.mode, got, c.want)
		}
		_ = w.Stop()
	}
	// Without the interface-level twin, the application-level instance shows in the union.
	if err := prov.Deregister(ctxFor(t), same); err != nil {
		t.Fatal(err)
	}
	cons := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root))
	w, err := cons.Watch(ctxFor(t), appIface)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	waitIDs(t, w, appID+" tianshu-2")
}

// A malformed instance node is skipped and logged once; a provider whose MetadataService
// cannot be reached is left out and logged once, and served once it answers; a provider
// already resolved stays when its MetadataService goes away.
func TestAppLevelFailures(t *testing.T) {
	srv := zkServer.Get(t)
	raw := rawConn(t, srv.Addr)
	root := "/dubbo-applevel-fail"
	app := "fake-app-fail"
	p := startFakeProvider(t, raw, app)
	p.announce("g:1.0.0")
	writeNode(t, raw, "/services/"+app+"/garbage", []byte("{not json"), zk.FlagEphemeral)
	writeNode(t, raw, root+"/mapping/"+appIface, []byte(app), 0)
	var logs logBuffer
	cons := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root),
		zookeeper.WithLogger(logs.logger(slog.LevelInfo)))
	w, err := cons.Watch(ctxFor(t), appIface)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	good := fmt.Sprintf("127.0.0.1:%d@g:1.0.0", p.port)
	if got := nextIDs(t, w); got != good {
		t.Fatalf("first list %q, want %q", got, good)
	}
	if n := strings.Count(logs.String(), "/services/"+app+"/garbage"); n != 1 {
		t.Errorf("the garbage node was logged %d times, want once:\n%s", n, logs.String())
	}

	// A second instance with a new revision whose MetadataService is down.
	dead := startFakeProvider(t, raw, app)
	dead.stop()
	dead.announce("g:3.0.0")
	time.Sleep(2 * time.Second) // several retries
	if n := strings.Count(logs.String(), "cannot fetch the metadata"); n != 1 {
		t.Errorf("the unreachable provider was logged %d times, want once:\n%s", n, logs.String())
	}
	if got, _ := cons.GetService(ctxFor(t), appIface); len(got) != 1 || got[0].ID != good {
		t.Errorf("GetService = %v, want only %s", got, good)
	}
	// The first provider's MetadataService goes away: its cached revision keeps it listed.
	p.stop()
	p.announce("g:1.0.0") // rewrites the same revision
	time.Sleep(500 * time.Millisecond)
	if got, _ := cons.GetService(ctxFor(t), appIface); len(got) != 1 || got[0].ID != good {
		t.Errorf("GetService after the MetadataService stopped = %v, want %s", got, good)
	}
}

func TestWithDubboDiscoveryRefusesAnUnknownMode(t *testing.T) {
	_, err := zookeeper.New(ctxFor(t), []string{"127.0.0.1:1"}, zookeeper.WithDubboDiscovery(dubbo.DiscoveryMode(9)))
	if !errors.Is(err, zookeeper.ErrInvalidConfig) || !errors.Is(err, dubbo.ErrInvalidDiscoveryMode) {
		t.Errorf("New = %v, want ErrInvalidConfig and ErrInvalidDiscoveryMode", err)
	}
}

// After the consumer's session expires along with the provider's, the application-level
// instance the consumer listed stays listed for the hold window although its node is gone
// (the provider re-creates it once it has a session of its own), and leaves at the end of
// the window when it does not come back.
func TestAppLevelHoldsInstancesAfterANewSession(t *testing.T) {
	srv := zkServer.Get(t)
	raw := rawConn(t, srv.Addr)
	root := "/dubbo-applevel-hold"
	app := "fake-app-hold"
	p := startFakeProvider(t, raw, app)
	p.announce("g:1.0.0")
	writeNode(t, raw, root+"/mapping/"+appIface, []byte(app), 0)
	sniff := &sessionSniffer{}
	cons := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root), zookeeper.WithDialer(sniff.dial))
	w, err := cons.Watch(ctxFor(t), appIface)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := fmt.Sprintf("127.0.0.1:%d@g:1.0.0", p.port)
	if got := nextIDs(t, w); got != want {
		t.Fatalf("first list %q, want %q", got, want)
	}
	old := expireAndKeepOut(t, srv.Addr, cons, sniff)
	if err := raw.Delete(p.node, -1); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sniff.setRefuse(false)
	eventually(t, recoveryBound, "a new consumer session", func() bool {
		sid := cons.SessionID()
		return sid != 0 && sid != old && cons.Healthy()
	})
	time.Sleep(time.Second) // the watches have read the application again by now
	if got, err := cons.GetService(ctxFor(t), appIface); err != nil || len(got) != 1 {
		t.Fatalf("within the hold window the consumer lists %v, %v; want the instance kept", got, err)
	}
	waitIDs(t, w, "")
	if held := time.Since(start); held < testSessionTimeout {
		t.Errorf("the instance left %v after the consumer could reconnect, before the hold window of %v", held, testSessionTimeout)
	}
}

// With no server to read, Watch returns a watcher at once (the registry package's
// contract), for the application level as for the interface level.
func TestAppLevelWatchWithoutAServerReturnsAtOnce(t *testing.T) {
	r, err := zookeeper.New(ctxFor(t), []string{"127.0.0.1:1"}, zookeeper.WithLayout(zookeeper.LayoutDubbo),
		zookeeper.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	w, err := r.Watch(ctx, appIface)
	if err != nil {
		t.Fatalf("Watch without a server = %v, want a watcher", err)
	}
	defer w.Stop()
	if list, err := w.Next(); err != nil || len(list) != 0 {
		t.Errorf("first list %v, %v; want an empty list", list, err)
	}
}

func TestParseURLReadsTheDiscoveryMode(t *testing.T) {
	for _, v := range []string{"all", "interface", "application"} {
		u, _ := url.Parse("zookeeper://127.0.0.1:2181/dubbo?layout=dubbo&dubbo_discovery=" + v)
		if _, _, err := zookeeper.ParseURL(u); err != nil {
			t.Errorf("ParseURL(dubbo_discovery=%s) = %v", v, err)
		}
	}
	u, _ := url.Parse("zookeeper://127.0.0.1:2181/dubbo?layout=dubbo&dubbo_discovery=APPLICATION_FIRST")
	if _, _, err := zookeeper.ParseURL(u); !errors.Is(err, zookeeper.ErrInvalidConfig) || !errors.Is(err, registry.ErrInvalidURL) {
		t.Errorf("ParseURL(dubbo_discovery=APPLICATION_FIRST) = %v, want ErrInvalidConfig and ErrInvalidURL", err)
	}
}

// A consumer of a Dubbo interface that reads only the application level, as a Dubbo
// consumer with FORCE_APPLICATION does; by default both levels are merged.
func ExampleWithDubboDiscovery() {
	ctx := context.Background()
	reg, err := zookeeper.New(ctx, []string{"127.0.0.1:2181"},
		zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithDubboDiscovery(dubbo.DiscoverApplication))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	// Then: rpc.Dial(ctx, "tianshu:///org.example.Greeter", rpc.WithDiscovery(reg),
	// rpc.WithDubbo("blue", "1.0.0")).
}

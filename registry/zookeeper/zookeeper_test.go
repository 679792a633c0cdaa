package zookeeper_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

func TestNewRejectsConfigurationThatCannotWork(t *testing.T) {
	for _, tc := range []struct {
		name    string
		servers []string
		opts    []zookeeper.Option
		want    string
	}{
		{"no server", nil, nil, "no ZooKeeper server"},
		{"a server list in one string", []string{"a:1,b:2"}, nil, "want host:port"},
		{"a port out of range", []string{"127.0.0.1:99999"}, nil, "99999"},
		{"an empty host", []string{":2181"}, nil, "host"},
		{"a relative root", []string{"127.0.0.1:1"}, []zookeeper.Option{zookeeper.WithRoot("tianshu")}, "absolute path"},
		{"a root with an empty segment", []string{"127.0.0.1:1"}, []zookeeper.Option{zookeeper.WithRoot("/a//b")}, "segment"},
		{"a zero session timeout", []string{"127.0.0.1:1"}, []zookeeper.Option{zookeeper.WithSessionTimeout(0)}, "session timeout"},
		{"a password without a user", []string{"127.0.0.1:1"}, []zookeeper.Option{zookeeper.WithAuth("", "pw")}, "without a user"},
		{"an unknown layout", []string{"127.0.0.1:1"}, []zookeeper.Option{zookeeper.WithLayout(7)}, "layout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := zookeeper.New(context.Background(), tc.servers, tc.opts...)
			if !errors.Is(err, zookeeper.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New = %v, want ErrInvalidConfig mentioning %q", err, tc.want)
			}
		})
	}
}

func TestOpenRejectsBadURLs(t *testing.T) {
	for _, raw := range []string{
		"zookeeper:///tianshu",
		"zookeeper://127.0.0.1:2181/tianshu?layout=nacos",
		"zookeeper://127.0.0.1:2181/tianshu?session_timeout=soon",
		"zookeeper://127.0.0.1:2181/tianshu?sesion_timeout=1s",
		"zookeeper://u:p@127.0.0.1:2181/tianshu?user=v",
		"zookeeper://127.0.0.1:99999/tianshu",
		"zookeeper://:2181/tianshu",
		"zookeeper://127.0.0.1:2181/tianshu?session_timeout=-1s",
	} {
		_, err := registry.Open(context.Background(), raw)
		if !errors.Is(err, zookeeper.ErrInvalidConfig) {
			t.Errorf("Open(%q) = %v, want ErrInvalidConfig", raw, err)
		}
		if err != nil && strings.Contains(err.Error(), ":p@") {
			t.Errorf("Open(%q) error shows the password: %v", raw, err)
		}
	}
}

func TestOpenTakesServersRootLayoutAndCredentialsFromTheURL(t *testing.T) {
	srv := zkServer.Get(t)
	root := "/" + registrytest.ServiceName(t)
	q := url.Values{"session_timeout": {"4s"}, "layout": {"dubbo"}, "user": {"ops"}, "password": {"pw"}, "application": {"shop"}}
	// A second, dead server in the list: the client moves on to the live one.
	r, err := registry.Open(ctxFor(t), "zookeeper://127.0.0.1:1,"+srv.Addr+root+"?"+q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	zr := r.(*zookeeper.Registry)
	if zr.Root() != root || zr.Layout() != zookeeper.LayoutDubbo {
		t.Fatalf("root %q layout %v, want %q dubbo", zr.Root(), zr.Layout(), root)
	}
	svc := "org.example.Shop"
	if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	raw := rawConn(t, srv.Addr)
	if err := raw.AddAuth("digest", []byte("ops:pw")); err != nil {
		t.Fatal(err)
	}
	children, _, err := raw.Children(root + "/" + svc + "/providers")
	if err != nil || len(children) != 1 {
		t.Fatalf("providers = %v, %v", children, err)
	}
	u, err := dubbo.ParseNodeName(children[0])
	if err != nil || u.Params["application"] != "shop" {
		t.Fatalf("node %q: %+v, %v; want application=shop", children[0], u, err)
	}
}

func TestDubboProvidersAreDiscoveredAndTianshuProvidersPublishedForDubbo(t *testing.T) {
	srv := zkServer.Get(t)
	iface := "org.example.Greeter" + strings.ReplaceAll(registrytest.ServiceName(t), "-", "")
	parent := "/dubbo/" + iface + "/providers"
	raw := rawConn(t, srv.Addr)
	for _, p := range []string{"/dubbo", "/dubbo/" + iface, parent} {
		if _, err := raw.Create(p, nil, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			t.Fatal(err)
		}
	}
	// What a Java Dubbo 3 provider writes (URLEncoder-encoded), and a name that is no URL.
	java := url.QueryEscape("tri://127.0.0.1:50051/" + iface + "?anyhost=true&application=greeter-java&dubbo=2.0.2" +
		"&interface=" + iface + "&methods=sayHello,sayHelloStream&release=3.2.0&side=provider&timestamp=1732600000000")
	for _, name := range []string{java, "not%zza-url"} {
		if _, err := raw.Create(parent+"/"+name, nil, zk.FlagEphemeral, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
	}

	cons := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo))
	w, err := cons.Watch(ctxFor(t), iface)
	if err != nil {
		t.Fatal(err)
	}
	f := registrytest.NewFollow(t, w)
	got := f.Until(20*time.Second, "the Java provider", registrytest.HasIDs("127.0.0.1:50051"))
	if e := got[0].Endpoints[0]; e.String() != "tri://127.0.0.1:50051" || got[0].Metadata["application"] != "greeter-java" {
		t.Fatalf("Java provider read as %+v", got[0])
	}

	prov := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo),
		zookeeper.WithDubboPublish(dubbo.Publish{Application: "greeter-go", Methods: []string{"sayHello"}}))
	in := &registry.Instance{ID: "go-1", Service: iface, Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 50052}}}
	if err := prov.Register(ctxFor(t), in); err != nil {
		t.Fatal(err)
	}
	f.Until(20*time.Second, "both providers", registrytest.HasIDs("127.0.0.1:50051", "go-1"))
	children, _, err := raw.Children(parent)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, c := range children {
		dec, _ := url.QueryUnescape(c)
		if strings.HasPrefix(dec, "tri://127.0.0.1:50052/"+iface+"?") {
			found = true
			for _, want := range []string{"application=greeter-go", "interface=" + iface, "methods=sayHello", "side=provider", "release=", "timestamp="} {
				if !strings.Contains(dec, want) {
					t.Errorf("published URL %s lacks %s", dec, want)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no tri://127.0.0.1:50052 node among %v", children)
	}
	// A change of the instance replaces its node; consumers see one instance throughout.
	in2 := in.Clone()
	in2.Weight = 7
	if err := prov.Register(ctxFor(t), in2); err != nil {
		t.Fatal(err)
	}
	f.Until(20*time.Second, "go-1 with weight 7", func(l []*registry.Instance) bool {
		return registrytest.HasIDs("127.0.0.1:50051", "go-1")(l) && l[1].Weight == 7
	})
	if err := prov.Deregister(ctxFor(t), in2); err != nil {
		t.Fatal(err)
	}
	f.Until(20*time.Second, "only the Java provider", registrytest.HasIDs("127.0.0.1:50051"))
}

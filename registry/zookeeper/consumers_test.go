package zookeeper_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/echotest"
	"github.com/tianshu-go/tianshu/internal/testpb"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
	"github.com/tianshu-go/tianshu/rpc"
)

// consumerNodes returns the parameters of every node under /dubbo/<svc>/consumers, by node
// name.
func consumerNodes(t *testing.T, addr, svc string) map[string]map[string]string {
	t.Helper()
	children, _, err := rawConn(t, addr).Children("/dubbo/" + svc + "/consumers")
	if err != nil {
		return nil
	}
	out := map[string]map[string]string{}
	for _, c := range children {
		out[c] = nodeParams(t, c)
	}
	return out
}

// nodeParams returns the parameters of the URL a Dubbo node is named by.
func nodeParams(t *testing.T, name string) map[string]string {
	t.Helper()
	s, err := url.QueryUnescape(name)
	if err != nil {
		t.Fatalf("node %s is not URL-encoded: %v", name, err)
	}
	_, q, _ := strings.Cut(s, "?")
	params := map[string]string{}
	for pair := range strings.SplitSeq(q, "&") {
		k, v, _ := strings.Cut(pair, "=")
		params[k] = v
	}
	return params
}

func dialDubbo(t *testing.T, r *zookeeper.Registry, svc, group, version string) *grpc.ClientConn {
	t.Helper()
	conn, err := rpc.Dial(ctxFor(t), "tianshu:///"+svc, rpc.WithDiscovery(r), rpc.WithDubbo(group, version),
		rpc.WithDialLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestADubboConnectionIsListedAmongTheConsumersWhileItLives(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo),
		zookeeper.WithDubboPublish(dubbo.Publish{Application: "orders"}))
	svc := registrytest.ServiceName(t)
	before := time.Now().UnixMilli()
	first := dialDubbo(t, r, svc, "blue", "1.0.0")

	nodes := consumerNodes(t, srv.Addr, svc)
	if len(nodes) != 1 {
		t.Fatalf("consumer nodes after Dial = %v, want one", nodes)
	}
	for name, p := range nodes {
		want := map[string]string{
			"application": "orders", "category": "consumers", "side": "consumer", "interface": svc,
			"group": "blue", "version": "1.0.0", "dubbo": "2.0.2", "release": dubbo.Release,
			"pid": strconv.Itoa(os.Getpid()), "protocol": "tri", "check": "false",
		}
		for k, v := range want {
			if p[k] != v {
				t.Errorf("parameter %s = %q, want %q", k, p[k], v)
			}
		}
		if ts, err := strconv.ParseInt(p["timestamp"], 10, 64); err != nil || ts < before || ts > time.Now().UnixMilli() {
			t.Errorf("timestamp = %q, want the time of Dial", p["timestamp"])
		}
		if owner := nodeOwner(t, srv.Addr, "/dubbo/"+svc+"/consumers/"+name); owner != r.SessionID() {
			t.Errorf("node owner = %#x, want the Registry's session %#x (an ephemeral node)", owner, r.SessionID())
		}
	}

	// A second connection to the same service: closing the first keeps its entry.
	time.Sleep(2 * time.Millisecond) // another timestamp, hence another node
	second := dialDubbo(t, r, svc, "blue", "1.0.0")
	if n := len(consumerNodes(t, srv.Addr, svc)); n != 2 {
		t.Fatalf("%d consumer nodes with two connections, want 2", n)
	}
	_ = first.Close()
	eventually(t, 10*time.Second, "one consumer node after the first Close", func() bool {
		return len(consumerNodes(t, srv.Addr, svc)) == 1
	})
	_ = second.Close()
	eventually(t, 10*time.Second, "no consumer node after the second Close", func() bool {
		return len(consumerNodes(t, srv.Addr, svc)) == 0
	})
}

func TestAConsumerEntryIsWrittenAgainAfterSessionExpiry(t *testing.T) {
	srv := zkServer.Get(t)
	sniff := &sessionSniffer{}
	r := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithDialer(sniff.dial))
	svc := registrytest.ServiceName(t)
	dialDubbo(t, r, svc, "", "")
	if n := len(consumerNodes(t, srv.Addr, svc)); n != 1 {
		t.Fatalf("%d consumer nodes, want 1", n)
	}
	old := expire(t, srv.Addr, r, sniff)
	eventually(t, recoveryBound, "the consumer node in the new session", func() bool {
		for name := range consumerNodes(t, srv.Addr, svc) {
			sid := r.SessionID()
			return sid != old && sid != 0 && nodeOwner(t, srv.Addr, "/dubbo/"+svc+"/consumers/"+name) == sid
		}
		return false
	})
}

func TestTheTianshuLayoutListsNoConsumer(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr)
	svc := registrytest.ServiceName(t)
	dialDubbo(t, r, svc, "", "")
	if _, _, err := rawConn(t, srv.Addr).Children("/dubbo/" + svc + "/consumers"); err == nil {
		t.Fatal("the Tianshu layout wrote a Dubbo consumers node")
	}
	deregister, err := r.RegisterConsumer(context.Background(), dubbo.Consumer{Interface: svc})
	if err != nil || deregister == nil {
		t.Fatalf("RegisterConsumer in the Tianshu layout = %v, want a no-op", err)
	}
	deregister()
}

func TestRegisterConsumerRejectsWhatAURLCannotCarry(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo))
	_, err := r.RegisterConsumer(context.Background(), dubbo.Consumer{Interface: "org.Foo", Group: "a&b"})
	if !errors.Is(err, dubbo.ErrInvalidURL) || !strings.Contains(err.Error(), "a&b") {
		t.Fatalf("RegisterConsumer with group a&b = %v, want ErrInvalidURL naming it", err)
	}
}

func TestTwoConsumersWithOneURLShareTheNodeUntilTheLastGoes(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo))
	svc := registrytest.ServiceName(t)
	c := dubbo.Consumer{Interface: svc, Host: "127.0.0.1", Timestamp: time.UnixMilli(1700000000000)}
	var drops []func()
	for range 2 {
		deregister, err := r.RegisterConsumer(ctxFor(t), c)
		if err != nil {
			t.Fatal(err)
		}
		drops = append(drops, deregister)
	}
	if n := len(consumerNodes(t, srv.Addr, svc)); n != 1 {
		t.Fatalf("%d consumer nodes, want the one both share", n)
	}
	drops[0]()
	drops[0]() // a second call changes nothing
	if n := len(consumerNodes(t, srv.Addr, svc)); n != 1 {
		t.Fatalf("%d consumer nodes after the first deregister, want 1", n)
	}
	drops[1]()
	if n := len(consumerNodes(t, srv.Addr, svc)); n != 0 {
		t.Fatalf("%d consumer nodes after both deregistered, want 0", n)
	}
}

func TestAProviderNodeListsTheMethodsOfItsGRPCService(t *testing.T) {
	srv := zkServer.Get(t)
	r := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo))
	svc := testpb.Echo_ServiceDesc.ServiceName
	before := time.Now().UnixMilli()
	echotest.Serve(t, r, svc, "a", testLogger(t))
	var params map[string]string
	eventually(t, 10*time.Second, "the provider node", func() bool {
		children, _, err := rawConn(t, srv.Addr).Children("/dubbo/" + svc + "/providers")
		if err != nil || len(children) == 0 {
			return false
		}
		params = nodeParams(t, children[0])
		return true
	})
	for k, v := range map[string]string{"methods": "Echo", "dynamic": "true", "release": dubbo.Release, "side": "provider"} {
		if params[k] != v {
			t.Errorf("provider parameter %s = %q, want %q", k, params[k], v)
		}
	}
	if ts, err := strconv.ParseInt(params["timestamp"], 10, 64); err != nil || ts < before || ts > time.Now().UnixMilli() {
		t.Errorf("timestamp = %q, want the registration time", params["timestamp"])
	}
	for _, k := range []string{"pid", "category"} {
		if v, ok := params[k]; ok {
			t.Errorf("provider parameter %s = %q; a Java Dubbo 3.3 provider node has none", k, v)
		}
	}
}

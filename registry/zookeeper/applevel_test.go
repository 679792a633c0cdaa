package zookeeper_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/zookeeper"
)

func grpcInstance(id, service string, port int) *registry.Instance {
	return &registry.Instance{ID: id, Service: service, Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: port}}}
}

// readAppNode reads and decodes an application instance node.
func readAppNode(t *testing.T, raw *zk.Conn, p string) (dubbo.AppInstance, *zk.Stat) {
	t.Helper()
	data, st, err := raw.Get(p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	in, err := dubbo.ParseAppInstance(data)
	if err != nil {
		t.Fatalf("%s holds %s: %v", p, data, err)
	}
	return in, st
}

// The application instance of a provider in the Dubbo layout: Dubbo's Curator JSON at
// /services/<app>/<host:port>, ephemeral in the Registry's session, rewritten in place with a
// new revision when a second service is registered at the address and when it goes, served
// by DubboMetadata under each revision, and gone with the session.
func TestDubboLayoutRegistersTheApplicationInstance(t *testing.T) {
	srv := zkServer.Get(t)
	raw := rawConn(t, srv.Addr)
	const app, root = "applevel-node", "/dubbo-applevel-node"
	prov := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root),
		zookeeper.WithDubboPublish(dubbo.Publish{Application: app}))
	if !prov.DubboApplicationLevel() {
		t.Fatal("DubboApplicationLevel is false in the default register mode")
	}
	a := grpcInstance("a-1", "tianshu.test.v1.A", 50061)
	if err := prov.Register(ctxFor(t), a); err != nil {
		t.Fatal(err)
	}
	p := zookeeper.ServicesRoot + "/" + app + "/127.0.0.1:50061"
	one, st1 := readAppNode(t, raw, p)
	if one.App != app || one.Host != "127.0.0.1" || one.Port != 50061 || st1.EphemeralOwner != prov.SessionID() {
		t.Fatalf("instance %+v, owner %#x; want %s at 127.0.0.1:50061 owned by %#x", one, st1.EphemeralOwner, app, prov.SessionID())
	}
	md, ok := prov.DubboMetadata(one.Revision())
	if !ok || md.Revision() != one.Revision() || len(md.Services) != 1 {
		t.Fatalf("DubboMetadata(%s) = %+v, %v", one.Revision(), md, ok)
	}
	if s, ok := md.Services["tianshu.test.v1.A:tri"]; !ok || s.Port != 50061 || s.Params["application"] != app {
		t.Errorf("services %+v", md.Services)
	}
	if eps, err := one.Endpoints(); err != nil || len(eps) != 1 || eps[0] != (dubbo.Endpoint{Port: 50061, Protocol: "tri"}) {
		t.Errorf("endpoints %v, %v", eps, err)
	}

	b := grpcInstance("b-1", "tianshu.test.v1.B", 50061)
	if err := prov.Register(ctxFor(t), b); err != nil {
		t.Fatal(err)
	}
	two, st2 := readAppNode(t, raw, p)
	if two.Revision() == one.Revision() {
		t.Error("the revision did not change when a second service was registered at the address")
	}
	if st2.Czxid != st1.Czxid || st2.Version == st1.Version {
		t.Errorf("the node was not updated in place: czxid %d -> %d, version %d -> %d", st1.Czxid, st2.Czxid, st1.Version, st2.Version)
	}
	if md, ok := prov.DubboMetadata(two.Revision()); !ok || len(md.Services) != 2 {
		t.Errorf("DubboMetadata(%s) = %+v, %v; want both services", two.Revision(), md, ok)
	}
	if err := prov.Deregister(ctxFor(t), b); err != nil {
		t.Fatal(err)
	}
	if back, _ := readAppNode(t, raw, p); back.Revision() != one.Revision() {
		t.Errorf("revision after deregistering B = %s, want %s again", back.Revision(), one.Revision())
	}
	mapping, _, err := raw.Get(root + "/mapping/tianshu.test.v1.A")
	if err != nil || string(mapping) != app {
		t.Errorf("mapping of A = %q, %v; want %q", mapping, err, app)
	}

	if err := prov.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := raw.Exists(p); err != nil || ok {
		t.Errorf("the instance node outlived the session: exists %v, %v", ok, err)
	}
}

// The last service at an address takes the instance node with it; the mapping stays, as in
// Dubbo.
func TestDubboLayoutDeletesTheInstanceWithTheLastService(t *testing.T) {
	srv := zkServer.Get(t)
	raw := rawConn(t, srv.Addr)
	const app, root = "applevel-last", "/dubbo-applevel-last"
	prov := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root),
		zookeeper.WithDubboPublish(dubbo.Publish{Application: app}))
	a := grpcInstance("a-1", "tianshu.test.v1.A", 50062)
	if err := prov.Register(ctxFor(t), a); err != nil {
		t.Fatal(err)
	}
	if err := prov.Deregister(ctxFor(t), a); err != nil {
		t.Fatal(err)
	}
	if ok, _, _ := raw.Exists(zookeeper.ServicesRoot + "/" + app + "/127.0.0.1:50062"); ok {
		t.Error("the instance node is still there after the last service was deregistered")
	}
	if ok, _, _ := raw.Exists(root + "/mapping/tianshu.test.v1.A"); !ok {
		t.Error("the mapping went with the instance")
	}
}

// Several applications appending themselves to the mappings of the same interfaces at the
// same moment, each through its own session, all end up in every mapping: the
// compare-and-set on the node's version loses no writer. (With a blind write instead, this
// test loses names.)
func TestDubboMappingKeepsEveryRacingWriter(t *testing.T) {
	srv := zkServer.Get(t)
	raw := rawConn(t, srv.Addr)
	const root, writers, ifaces = "/dubbo-applevel-race", 6, 10
	regs := make([]*zookeeper.Registry, writers)
	for i := range regs {
		regs[i] = open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root),
			zookeeper.WithDubboPublish(dubbo.Publish{Application: fmt.Sprintf("racer-%d", i)}))
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, writers)
	for i, r := range regs {
		wg.Go(func() {
			<-start
			for j := range ifaces {
				in := grpcInstance(fmt.Sprint("r-", i), fmt.Sprint("tianshu.test.v1.Raced", j), 50070+i)
				errs[i] = errors.Join(errs[i], r.Register(ctxFor(t), in))
			}
		})
	}
	close(start)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	for j := range ifaces {
		data, _, err := raw.Get(fmt.Sprint(root, "/mapping/tianshu.test.v1.Raced", j))
		if err != nil {
			t.Fatal(err)
		}
		got := dubbo.ParseMapping(string(data))
		for i := range writers {
			if !slices.Contains(got, fmt.Sprintf("racer-%d", i)) {
				t.Errorf("mapping %d %q lost racer-%d", j, data, i)
			}
		}
	}
}

func TestRegisterModesWriteTheirLevelsOnly(t *testing.T) {
	srv := zkServer.Get(t)
	raw := rawConn(t, srv.Addr)
	for _, tc := range []struct {
		mode            dubbo.RegisterMode
		iface, instance bool
	}{
		{dubbo.RegisterInterface, true, false},
		{dubbo.RegisterInstance, false, true},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			app, root := "applevel-mode-"+tc.mode.String(), "/dubbo-applevel-mode-"+tc.mode.String()
			prov := open(t, srv.Addr, zookeeper.WithLayout(zookeeper.LayoutDubbo), zookeeper.WithRoot(root),
				zookeeper.WithDubboPublish(dubbo.Publish{Application: app}), zookeeper.WithRegisterMode(tc.mode))
			if err := prov.Register(ctxFor(t), grpcInstance("m-1", "tianshu.test.v1.M", 50080)); err != nil {
				t.Fatal(err)
			}
			providers, _, _ := raw.Children(root + "/tianshu.test.v1.M/providers")
			instance, _, _ := raw.Exists(zookeeper.ServicesRoot + "/" + app + "/127.0.0.1:50080")
			mapped, _, _ := raw.Exists(root + "/mapping/tianshu.test.v1.M")
			if (len(providers) > 0) != tc.iface || instance != tc.instance || mapped != tc.instance {
				t.Errorf("providers %v, instance node %v, mapping %v; want interface level %v, application level %v",
					providers, instance, mapped, tc.iface, tc.instance)
			}
			if prov.DubboApplicationLevel() != tc.instance {
				t.Errorf("DubboApplicationLevel = %v", prov.DubboApplicationLevel())
			}
		})
	}
}

func TestRegisterModeMustBeKnown(t *testing.T) {
	_, err := zookeeper.New(ctxFor(t), []string{"127.0.0.1:1"}, zookeeper.WithRegisterMode(dubbo.RegisterMode(9)))
	if !errors.Is(err, zookeeper.ErrInvalidConfig) || !errors.Is(err, dubbo.ErrInvalidRegisterMode) {
		t.Errorf("New with register mode 9 = %v, want ErrInvalidConfig and dubbo.ErrInvalidRegisterMode", err)
	}
}

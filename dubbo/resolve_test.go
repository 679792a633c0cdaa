package dubbo_test

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
)

// javaMetadata is what the real Java peer's MetadataServiceV2 answered for revision
// dcc7a4579b568a0d538bd134170f53ec (design doc §2.2).
func javaMetadata() dubbo.MetadataInfo {
	return dubbo.NewMetadataInfo("tianshu-interop-java-provider", dubbo.ServiceInfo{
		Name: "tianshu.interop.v1.Greeter", Group: "interop", Version: "1.0.0", Protocol: "tri", Port: 25001,
		Path: "tianshu.interop.v1.Greeter",
		Params: map[string]string{"REGISTRY_CLUSTER": "default", "application": "tianshu-interop-java-provider",
			"deprecated": "false", "dubbo": "2.0.2", "dynamic": "true", "generic": "false", "group": "interop",
			"interface": "tianshu.interop.v1.Greeter", "logger": "slf4j", "methods": "greet,greetAsync",
			"prefer.serialization": "hessian2,fastjson2", "proxy": "nativestub", "release": "3.3.5",
			"revision": "interop", "service-name-mapping": "true", "side": "provider", "version": "1.0.0"},
	})
}

func javaInstance(t *testing.T) dubbo.AppInstance {
	t.Helper()
	in, err := dubbo.ParseAppInstance([]byte(javaNode))
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func lookupOf(infos ...dubbo.MetadataInfo) dubbo.MetadataLookup {
	return func(app, rev string) (dubbo.MetadataInfo, bool) {
		for _, m := range infos {
			if m.App == app && m.Revision() == rev {
				return m, true
			}
		}
		return dubbo.MetadataInfo{}, false
	}
}

// The Java peer's application-level registration resolves to the instance its interface-
// level URL gives, so that rpc.WithDubbo filters both alike.
func TestResolveInstancesMatchesTheInterfaceLevelShape(t *testing.T) {
	m := javaMetadata()
	if m.Revision() != "dcc7a4579b568a0d538bd134170f53ec" {
		t.Fatalf("the literal's revision is %s", m.Revision())
	}
	list, skipped := dubbo.ResolveInstances("tianshu.interop.v1.Greeter", []dubbo.AppInstance{javaInstance(t)}, lookupOf(m))
	if len(skipped) > 0 || len(list) != 1 {
		t.Fatalf("ResolveInstances = %v, skipped %v", list, skipped)
	}
	got := list[0]
	u, err := dubbo.ParseURL("tri://127.0.0.1:25001/tianshu.interop.v1.Greeter?application=tianshu-interop-java-provider&group=interop&interface=tianshu.interop.v1.Greeter&version=1.0.0&side=provider")
	if err != nil {
		t.Fatal(err)
	}
	want, err := u.Instance("tianshu.interop.v1.Greeter")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != want.ID || got.Version != want.Version || got.Service != want.Service ||
		fmt.Sprint(got.Endpoints) != fmt.Sprint(want.Endpoints) || got.Metadata["group"] != "interop" {
		t.Errorf("resolved %+v\nwant the shape of %+v", got, want)
	}
	if got.Metadata["timestamp"] != "1796657247341" || got.Metadata["methods"] != "greet,greetAsync" {
		t.Errorf("metadata %v: want the instance's timestamp and the service's methods", got.Metadata)
	}
}

func TestResolveInstancesLeavesOut(t *testing.T) {
	java := javaInstance(t)
	m := javaMetadata()
	noRev := java
	noRev.Metadata = map[string]string{dubbo.MetaRevision: dubbo.NoRevision}
	other := java
	other.Metadata = map[string]string{dubbo.MetaRevision: "feedbeef"}
	for _, c := range []struct {
		name  string
		iface string
		ins   []dubbo.AppInstance
	}{
		{"metadata not known", "tianshu.interop.v1.Greeter", []dubbo.AppInstance{other}},
		{"revision 0", "tianshu.interop.v1.Greeter", []dubbo.AppInstance{noRev}},
		{"another interface", "tianshu.interop.v1.Echo", []dubbo.AppInstance{java}},
	} {
		if list, skipped := dubbo.ResolveInstances(c.iface, c.ins, lookupOf(m)); len(list) != 0 || len(skipped) != 0 {
			t.Errorf("%s: ResolveInstances = %v, %v; want nothing", c.name, list, skipped)
		}
	}
	// A service on another protocol is not Tianshu's to call.
	dub := dubbo.NewMetadataInfo("a", dubbo.ServiceInfo{Name: "x.Svc", Protocol: "dubbo", Port: 20880})
	in := java
	in.App, in.Metadata = "a", map[string]string{dubbo.MetaRevision: dub.Revision()}
	if list, _ := dubbo.ResolveInstances("x.Svc", []dubbo.AppInstance{in}, lookupOf(dub)); len(list) != 0 {
		t.Errorf("a dubbo:// service resolved to %v", list)
	}
}

// One instance exporting the interface under two versions gives two instances; the port is
// the service's, else the tri endpoint's, else the instance's.
func TestResolveInstancesPortsAndVersions(t *testing.T) {
	m := dubbo.NewMetadataInfo("a",
		dubbo.ServiceInfo{Name: "x.Svc", Version: "1", Protocol: "tri", Port: 7001, Path: "x.Svc"},
		dubbo.ServiceInfo{Name: "x.Svc", Version: "2", Protocol: "tri", Path: "x.Svc"},
	)
	base := dubbo.AppInstance{App: "a", ID: "10.0.0.1:9000", Host: "10.0.0.1", Port: 9000,
		Metadata: map[string]string{dubbo.MetaRevision: m.Revision()}}
	withEP := base
	withEP.ID, withEP.Host = "10.0.0.2:9000", "10.0.0.2"
	withEP.Metadata = map[string]string{dubbo.MetaRevision: m.Revision(), dubbo.MetaEndpoints: `[{"port":7002,"protocol":"tri"}]`}
	list, skipped := dubbo.ResolveInstances("x.Svc", []dubbo.AppInstance{base, withEP}, lookupOf(m))
	if len(skipped) != 0 {
		t.Fatal(skipped)
	}
	var got []string
	for _, in := range list {
		got = append(got, in.ID+" "+in.Endpoints[0].String()+" v"+in.Version)
	}
	want := []string{
		"10.0.0.1:7001@:1 tri://10.0.0.1:7001 v1",
		"10.0.0.1:9000@:2 tri://10.0.0.1:9000 v2",
		"10.0.0.2:7001@:1 tri://10.0.0.2:7001 v1",
		"10.0.0.2:7002@:2 tri://10.0.0.2:7002 v2",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestResolveInstancesSkipsBadData(t *testing.T) {
	m := dubbo.NewMetadataInfo("a", dubbo.ServiceInfo{Name: "x.Svc", Protocol: "tri", Path: "x.Svc"})
	bad := dubbo.AppInstance{App: "a", ID: "h:1", Host: "h", Port: 1,
		Metadata: map[string]string{dubbo.MetaRevision: m.Revision(), dubbo.MetaEndpoints: "not json"}}
	good := dubbo.AppInstance{App: "a", ID: "g:1", Host: "g", Port: 1, Metadata: map[string]string{dubbo.MetaRevision: m.Revision()}}
	list, skipped := dubbo.ResolveInstances("x.Svc", []dubbo.AppInstance{bad, good}, lookupOf(m))
	if len(list) != 1 || list[0].Endpoints[0].Host != "g" {
		t.Errorf("list %v: want the good instance only", list)
	}
	if len(skipped) != 1 || !errors.Is(skipped[0], dubbo.ErrInvalidInstance) {
		t.Errorf("skipped %v: want one ErrInvalidInstance", skipped)
	}
}

func TestMetadataServiceAddr(t *testing.T) {
	if addr, err := dubbo.MetadataServiceAddr(javaInstance(t)); err != nil || addr != "127.0.0.1:25001" {
		t.Errorf("MetadataServiceAddr(java) = %q, %v", addr, err)
	}
	md := func(kv ...string) map[string]string {
		m := map[string]string{dubbo.MetaVersion: "2.0.0", dubbo.MetaServiceURLParams: `{"port":"1","protocol":"tri"}`}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "-" {
				delete(m, kv[i])
			} else {
				m[kv[i]] = kv[i+1]
			}
		}
		return m
	}
	for _, c := range []struct {
		md   map[string]string
		want error
	}{
		{md(dubbo.MetaVersion, "1.0.0"), dubbo.ErrUnsupportedMetadata},
		{md(dubbo.MetaVersion, "-"), dubbo.ErrUnsupportedMetadata},
		{md(dubbo.MetaStorageType, "remote"), dubbo.ErrUnsupportedMetadata},
		{md(dubbo.MetaServiceURLParams, `{"port":"1","protocol":"dubbo"}`), dubbo.ErrUnsupportedMetadata},
		{md(dubbo.MetaServiceURLParams, "-"), dubbo.ErrInvalidInstance},
		{md(dubbo.MetaServiceURLParams, `{"port":1}`), dubbo.ErrInvalidInstance},
		{md(dubbo.MetaServiceURLParams, `{"port":"0","protocol":"tri"}`), dubbo.ErrInvalidInstance},
	} {
		in := dubbo.AppInstance{App: "a", ID: "h:1", Host: "h", Port: 1, Metadata: c.md}
		if _, err := dubbo.MetadataServiceAddr(in); !errors.Is(err, c.want) {
			t.Errorf("MetadataServiceAddr(%v) = %v, want %v", c.md, err, c.want)
		}
	}
}

// A provider registered at both levels appears once, as its interface-level record.
func TestMergeInstances(t *testing.T) {
	ep := func(host string, port int) []registry.Endpoint {
		return []registry.Endpoint{{Scheme: "tri", Host: host, Port: port}}
	}
	iface := []*registry.Instance{
		{ID: "ts-1", Service: "s", Version: "1", Endpoints: ep("10.0.0.1", 1), Metadata: map[string]string{"group": "g"}},
	}
	app := []*registry.Instance{
		{ID: "10.0.0.1:1@g:1", Service: "s", Version: "1", Endpoints: ep("10.0.0.1", 1), Metadata: map[string]string{"group": "g"}},
		{ID: "10.0.0.1:1@h:1", Service: "s", Version: "1", Endpoints: ep("10.0.0.1", 1), Metadata: map[string]string{"group": "h"}},
		{ID: "10.0.0.2:1@g:1", Service: "s", Version: "1", Endpoints: ep("10.0.0.2", 1), Metadata: map[string]string{"group": "g"}},
		{ID: "ts-1", Service: "s", Version: "1", Endpoints: ep("10.0.0.3", 1), Metadata: map[string]string{"group": "g"}},
	}
	var ids []string
	for _, in := range dubbo.MergeInstances(iface, app) {
		ids = append(ids, in.ID)
	}
	if want := "[10.0.0.1:1@h:1 10.0.0.2:1@g:1 ts-1]"; fmt.Sprint(ids) != want {
		t.Errorf("MergeInstances = %v, want %s", ids, want)
	}
	if got := dubbo.MergeInstances(iface, nil); len(got) != 1 || got[0] != iface[0] {
		t.Errorf("MergeInstances without application-level instances = %v", got)
	}
}

func TestDiscoveryMode(t *testing.T) {
	for _, m := range []dubbo.DiscoveryMode{dubbo.DiscoverAll, dubbo.DiscoverInterface, dubbo.DiscoverApplication} {
		got, err := dubbo.ParseDiscoveryMode(m.String())
		if err != nil || got != m || m.Check() != nil {
			t.Errorf("ParseDiscoveryMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := dubbo.ParseDiscoveryMode("APPLICATION_FIRST"); !errors.Is(err, dubbo.ErrInvalidDiscoveryMode) {
		t.Errorf("ParseDiscoveryMode(APPLICATION_FIRST) = %v", err)
	}
	if err := dubbo.DiscoveryMode(7).Check(); !errors.Is(err, dubbo.ErrInvalidDiscoveryMode) {
		t.Errorf("Check(7) = %v", err)
	}
}

// FuzzMetadataServiceAddr: whatever an instance node holds, the address is refused with one
// of the two sentinels or is a host:port with a port in range.
func FuzzMetadataServiceAddr(f *testing.F) {
	f.Add([]byte(javaNode))
	f.Add([]byte(`{"name":"a","address":"::1","port":1,"payload":{"metadata":{"meta-v":"2.0.0","dubbo.metadata-service.url-params":"{\"port\":\"08\",\"protocol\":\"tri\"}"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := dubbo.ParseAppInstance(data)
		if err != nil {
			return
		}
		addr, err := dubbo.MetadataServiceAddr(in)
		if err != nil {
			if !errors.Is(err, dubbo.ErrInvalidInstance) && !errors.Is(err, dubbo.ErrUnsupportedMetadata) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != in.Host {
			t.Fatalf("address %q of host %q: %v", addr, in.Host, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			t.Fatalf("address %q: port out of range", addr)
		}
	})
}

func ExampleResolveInstances() {
	m := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfo{Name: "org.example.Greeter", Group: "blue",
		Version: "1.0.0", Protocol: "tri", Port: 50051, Path: "org.example.Greeter"})
	in := dubbo.AppInstance{App: "greeter", ID: "10.0.0.7:50051", Host: "10.0.0.7", Port: 50051,
		Metadata: map[string]string{dubbo.MetaRevision: m.Revision()}}
	lookup := func(app, rev string) (dubbo.MetadataInfo, bool) { return m, rev == m.Revision() }
	list, _ := dubbo.ResolveInstances("org.example.Greeter", []dubbo.AppInstance{in}, lookup)
	for _, r := range list {
		fmt.Println(r.ID, r.Endpoints[0], r.Version, r.Metadata["group"])
	}
	// Output: 10.0.0.7:50051@blue:1.0.0 tri://10.0.0.7:50051 1.0.0 blue
}

// BenchmarkResolveAndMerge: one interface over 10 applications of 10 instances each, one
// revision per application, merged with 50 interface-level instances of which half are the
// same providers: the work a watch does on every change of any of them.
func BenchmarkResolveAndMerge(b *testing.B) {
	var ins []dubbo.AppInstance
	var infos []dubbo.MetadataInfo
	var ifaceLevel []*registry.Instance
	for a := range 10 {
		app := fmt.Sprintf("app-%d", a)
		m := dubbo.NewMetadataInfo(app, dubbo.ServiceInfo{Name: "x.Svc", Group: "g", Version: "1", Protocol: "tri",
			Port: 7000, Path: "x.Svc", Params: map[string]string{"application": app, "side": "provider", "methods": "A,B"}})
		infos = append(infos, m)
		for i := range 10 {
			host := fmt.Sprintf("10.0.%d.%d", a, i)
			ins = append(ins, dubbo.AppInstance{App: app, ID: host + ":7000", Host: host, Port: 7000,
				Metadata: map[string]string{dubbo.MetaRevision: m.Revision(), dubbo.MetaTimestamp: "1700000000000"}})
			if (a*10+i)%2 == 0 {
				ifaceLevel = append(ifaceLevel, &registry.Instance{ID: host + ":7000@g:1", Service: "x.Svc", Version: "1",
					Endpoints: []registry.Endpoint{{Scheme: "tri", Host: host, Port: 7000}}, Metadata: map[string]string{"group": "g"}})
			}
		}
	}
	byRev := map[string]dubbo.MetadataInfo{}
	for _, m := range infos {
		byRev[m.Revision()] = m
	}
	lookup := func(_, rev string) (dubbo.MetadataInfo, bool) { m, ok := byRev[rev]; return m, ok }
	b.ReportAllocs()
	for b.Loop() {
		list, _ := dubbo.ResolveInstances("x.Svc", ins, lookup)
		if n := len(dubbo.MergeInstances(ifaceLevel, list)); n != 100 {
			b.Fatalf("%d instances, want 100", n)
		}
	}
}

package nacos_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/dubbo/metadatapb"
	"github.com/tianshu-go/tianshu/dubbo/metadataservice"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
)

const appIface = "tianshu.test.v1.Echo"

// fakeProvider is a Dubbo 3 provider application instance as a Java one looks from outside:
// a gRPC server on loopback serving MetadataServiceV2 from a Store, announced as an instance
// of the Nacos service <app> through Nacos' open API.
type fakeProvider struct {
	t     *testing.T
	nacos string
	app   string
	port  int
	store metadataservice.Store
	srv   *grpc.Server
	done  chan struct{}
}

func startFakeProvider(t *testing.T, srv *testenv.Nacos, app string) *fakeProvider {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{t: t, nacos: srv.Addr, app: app, port: lis.Addr().(*net.TCPAddr).Port, srv: grpc.NewServer(), done: make(chan struct{})}
	metadataservice.Register(p.srv, &p.store)
	go func() { defer close(p.done); _ = p.srv.Serve(lis) }()
	t.Cleanup(func() {
		p.srv.Stop()
		<-p.done
		p.post(http.MethodDelete, "/nacos/v1/ns/instance", p.form(nil))
	})
	return p
}

func (p *fakeProvider) form(md map[string]string) url.Values {
	f := url.Values{"serviceName": {p.app}, "groupName": {"DEFAULT_GROUP"}, "ip": {"127.0.0.1"},
		"port": {strconv.Itoa(p.port)}, "ephemeral": {"false"}}
	if md != nil {
		b, _ := json.Marshal(md)
		f.Set("metadata", string(b))
		f.Set("healthy", "true")
		f.Set("enabled", "true")
		f.Set("weight", "1")
	}
	return f
}

func (p *fakeProvider) post(method, path string, form url.Values) {
	p.t.Helper()
	postForm(p.t, method, "http://"+p.nacos+path, form)
}

func postForm(t *testing.T, method, u string, form url.Values) {
	t.Helper()
	req, err := http.NewRequest(method, u+"?"+form.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", method, u, resp.Status, body)
	}
}

// announce serves the interface under the given group:version pairs and registers (or
// updates) the instance with the new revision, with the metadata a Java provider writes.
func (p *fakeProvider) announce(versions ...string) {
	p.t.Helper()
	var services []dubbo.ServiceInfo
	pb := &metadatapb.MetadataInfoV2{App: p.app, Services: map[string]*metadatapb.ServiceInfoV2{}}
	for _, gv := range versions {
		g, v, _ := strings.Cut(gv, ":")
		s := dubbo.ServiceInfo{Name: appIface, Group: g, Version: v, Protocol: "tri", Port: p.port, Path: appIface,
			Params: map[string]string{"application": p.app, "side": "provider"}}
		services = append(services, s)
		pb.Services[s.MatchKey()] = &metadatapb.ServiceInfoV2{Name: s.Name, Group: g, Version: v, Protocol: "tri",
			Port: int32(p.port), Path: s.Path, Params: s.Params}
	}
	pb.Version = dubbo.NewMetadataInfo(p.app, services...).Revision()
	if err := p.store.Put(pb); err != nil {
		p.t.Fatal(err)
	}
	in, err := dubbo.NewAppInstance(p.app, "127.0.0.1", p.port, pb.Version, time.Now())
	if err != nil {
		p.t.Fatal(err)
	}
	p.post(http.MethodPost, "/nacos/v1/ns/instance", p.form(in.Metadata))
}

func writeMapping(t *testing.T, srv *testenv.Nacos, iface string, apps ...string) {
	t.Helper()
	postForm(t, http.MethodPost, "http://"+srv.Addr+"/nacos/v1/cs/configs",
		url.Values{"dataId": {iface}, "group": {nacos.DubboMappingGroup}, "content": {strings.Join(apps, ",")}})
}

func waitIDs(t *testing.T, w registry.Watcher, want string) {
	t.Helper()
	ws := strings.Fields(want)
	slices.Sort(ws)
	want = strings.Join(ws, " ")
	got := make(chan struct{})
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
				close(got)
				return
			}
		}
	}()
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("the list did not become %q within 30 s; the last was %q", want, last.Load())
	}
}

// A consumer finds a provider registered only at application level in Nacos, follows its
// revision changes and a second application added to the mapping; the modes keep one
// level each.
func TestAppLevelDiscovery(t *testing.T) {
	srv := testenv.StartNacos(t)
	app := "fake-app-nacos"
	p := startFakeProvider(t, srv, app)
	p.announce("g:1.0.0")
	writeMapping(t, srv, appIface, "some-java-app", app)

	cons := open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", "g"))
	start := time.Now()
	w, err := cons.Watch(ctxFor(t), appIface)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	first := fmt.Sprintf("127.0.0.1:%d@g:1.0.0", p.port)
	list, err := w.Next()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first list after %v", time.Since(start))
	if len(list) != 1 || list[0].ID != first || list[0].Version != "1.0.0" || list[0].Metadata["group"] != "g" ||
		list[0].Endpoints[0] != (registry.Endpoint{Scheme: "tri", Host: "127.0.0.1", Port: p.port}) {
		t.Fatalf("first list %v, want the application-level provider %s", list, first)
	}

	p.announce("g:1.0.0", "g:2.0.0")
	both := fmt.Sprintf("%s 127.0.0.1:%d@g:2.0.0", first, p.port)
	waitIDs(t, w, both)

	p2 := startFakeProvider(t, srv, app+"-2")
	p2.announce(":1.0.0")
	writeMapping(t, srv, appIface, "some-java-app", app, app+"-2")
	waitIDs(t, w, fmt.Sprintf("%s 127.0.0.1:%d@:1.0.0", both, p2.port))

	// Interface level alone sees none of them.
	ifaceOnly := open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", "g"), nacos.WithDubboDiscovery(dubbo.DiscoverInterface))
	if got, err := ifaceOnly.GetService(ctxFor(t), appIface); err != nil || len(got) != 0 {
		t.Errorf("interface level lists %v, %v", got, err)
	}
	appOnly := open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", "g"), nacos.WithDubboDiscovery(dubbo.DiscoverApplication))
	if got, err := appOnly.GetService(ctxFor(t), appIface); err != nil || len(got) != 3 {
		t.Errorf("application level lists %v, %v; want 3", got, err)
	}
}

func TestWithDubboDiscoveryRefusesAnUnknownMode(t *testing.T) {
	_, err := nacos.New(ctxFor(t), []string{"127.0.0.1:1"}, nacos.WithDir(t.TempDir()), nacos.WithDubboDiscovery(dubbo.DiscoveryMode(-1)))
	if !errors.Is(err, nacos.ErrInvalidConfig) || !errors.Is(err, dubbo.ErrInvalidDiscoveryMode) {
		t.Errorf("New = %v, want ErrInvalidConfig and ErrInvalidDiscoveryMode", err)
	}
}

func TestParseURLReadsTheDiscoveryMode(t *testing.T) {
	for _, v := range []string{"all", "interface", "application"} {
		u, _ := url.Parse("nacos://127.0.0.1:8848?naming=dubbo&dubbo_version=1&dubbo_discovery=" + v)
		if _, _, err := nacos.ParseURL(u); err != nil {
			t.Errorf("ParseURL(dubbo_discovery=%s) = %v", v, err)
		}
	}
	for _, q := range []string{"naming=dubbo&dubbo_discovery=bogus", "dubbo_discovery=all"} {
		u, _ := url.Parse("nacos://127.0.0.1:8848?" + q)
		if _, _, err := nacos.ParseURL(u); !errors.Is(err, nacos.ErrInvalidConfig) || !errors.Is(err, registry.ErrInvalidURL) {
			t.Errorf("ParseURL(%s) = %v, want ErrInvalidConfig and ErrInvalidURL", q, err)
		}
	}
}

package nacos_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
)

func grpcInstance(id, service string, port int) *registry.Instance {
	return &registry.Instance{ID: id, Service: service, Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: port}}}
}

// httpGet reads a Nacos open-API path; a status other than 200 gives "" and the status.
func httpGet(t *testing.T, srv *testenv.Nacos, path string, q url.Values) (string, int) {
	t.Helper()
	resp, err := http.Get("http://" + srv.Addr + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode
	}
	return string(b), resp.StatusCode
}

type openInstance struct {
	IP       string            `json:"ip"`
	Port     int               `json:"port"`
	Metadata map[string]string `json:"metadata"`
}

// appInstances lists the instances of the Nacos service app in DEFAULT_GROUP as the server
// holds them.
func appInstances(t *testing.T, srv *testenv.Nacos, app string) []openInstance {
	t.Helper()
	body, _ := httpGet(t, srv, "/nacos/v1/ns/instance/list", url.Values{"serviceName": {app}, "groupName": {nacos.DefaultGroup}})
	var list struct {
		Hosts []openInstance `json:"hosts"`
	}
	if body != "" {
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatalf("instance list %s: %v", body, err)
		}
	}
	return list.Hosts
}

func mappingOf(t *testing.T, srv *testenv.Nacos, iface string) string {
	t.Helper()
	body, _ := httpGet(t, srv, "/nacos/v1/cs/configs", url.Values{"dataId": {iface}, "group": {nacos.MappingGroup}})
	return body
}

// revisionAt waits until the application's only instance announces a revision other than
// not, and returns it.
func revisionAt(t *testing.T, srv *testenv.Nacos, app, not string) openInstance {
	t.Helper()
	var got openInstance
	eventually(t, 20*time.Second, "an instance of "+app+" with a revision other than "+not, func() bool {
		l := appInstances(t, srv, app)
		if len(l) != 1 {
			return false
		}
		got = l[0]
		r := got.Metadata[dubbo.MetaRevision]
		return r != "" && r != not
	})
	return got
}

// The application instance under WithDubboNaming: an instance of service <app> with Dubbo's
// instance metadata, updated with a new revision when a second service is registered at
// the address and when it goes, whose metadata DubboMetadata serves; the mapping lists the
// application; the instance goes with the Registry.
func TestDubboNamingRegistersTheApplicationInstance(t *testing.T) {
	srv := testenv.StartNacos(t)
	const app = "nacos-applevel"
	prov := open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", "interop"), nacos.WithApplication(app))
	if !prov.DubboApplicationLevel() {
		t.Fatal("DubboApplicationLevel is false in the default register mode")
	}
	a := grpcInstance("a-1", "tianshu.test.v1.A", 50061)
	if err := prov.Register(ctxFor(t), a); err != nil {
		t.Fatal(err)
	}
	one := revisionAt(t, srv, app, "")
	rev1 := one.Metadata[dubbo.MetaRevision]
	if one.IP != "127.0.0.1" || one.Port != 50061 || one.Metadata[dubbo.MetaVersion] != dubbo.MetadataServiceV2 ||
		one.Metadata[dubbo.MetaStorageType] != dubbo.StorageLocal || one.Metadata[dubbo.MetaServiceURLParams] == "" {
		t.Errorf("application instance %+v", one)
	}
	md, ok := prov.DubboMetadata(rev1)
	if !ok || md.Revision() != rev1 {
		t.Fatalf("DubboMetadata(%s) = %+v, %v", rev1, md, ok)
	}
	if s, ok := md.Services["interop/tianshu.test.v1.A:1.0.0:tri"]; !ok || s.Port != 50061 {
		t.Errorf("services %+v", md.Services)
	}
	if got := mappingOf(t, srv, "tianshu.test.v1.A"); got != app {
		t.Errorf("mapping of A = %q, want %q", got, app)
	}

	b := grpcInstance("b-1", "tianshu.test.v1.B", 50061)
	if err := prov.Register(ctxFor(t), b); err != nil {
		t.Fatal(err)
	}
	two := revisionAt(t, srv, app, rev1)
	if md, ok := prov.DubboMetadata(two.Metadata[dubbo.MetaRevision]); !ok || len(md.Services) != 2 {
		t.Errorf("metadata of the second revision: %+v, %v; want both services", md, ok)
	}
	if err := prov.Deregister(ctxFor(t), b); err != nil {
		t.Fatal(err)
	}
	if back := revisionAt(t, srv, app, two.Metadata[dubbo.MetaRevision]); back.Metadata[dubbo.MetaRevision] != rev1 {
		t.Errorf("revision after deregistering B = %s, want %s again", back.Metadata[dubbo.MetaRevision], rev1)
	}
	if err := prov.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the application instance gone with the Registry", func() bool {
		return len(appInstances(t, srv, app)) == 0
	})
}

// Applications appending themselves to the mappings of the same interfaces at the same
// moment, each through its own SDK client (as separate processes would), all end up in
// every mapping. rnacos 0.8.8 ignores the compare-and-set ticket (casMd5: a publish with a
// wrong MD5 succeeds), so on it this holds through the read-back after each publish; without
// the read-back this test loses names.
func TestDubboNamingMappingKeepsEveryRacingWriter(t *testing.T) {
	srv := testenv.StartNacos(t)
	const writers, ifaces = 4, 6
	regs := make([]*nacos.Registry, writers)
	for i := range regs {
		regs[i] = open(t, srv, sdkDir(t), nacos.WithDubboNaming("", ""), nacos.WithApplication(fmt.Sprintf("racer-%d", i)))
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
		content := mappingOf(t, srv, fmt.Sprint("tianshu.test.v1.Raced", j))
		got := dubbo.ParseMapping(content)
		for i := range writers {
			if !slices.Contains(got, fmt.Sprintf("racer-%d", i)) {
				t.Errorf("mapping %d %q lost racer-%d", j, content, i)
			}
		}
	}
}

func TestDubboNamingInstanceModeRegistersNoInterfaceInstance(t *testing.T) {
	srv := testenv.StartNacos(t)
	const app = "nacos-applevel-instance"
	prov := open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", ""), nacos.WithApplication(app),
		nacos.WithRegisterMode(dubbo.RegisterInstance))
	if err := prov.Register(ctxFor(t), grpcInstance("m-1", "tianshu.test.v1.M", 50080)); err != nil {
		t.Fatal(err)
	}
	revisionAt(t, srv, app, "")
	if l := appInstances(t, srv, nacos.DubboServiceName("tianshu.test.v1.M", "1.0.0", "")); len(l) != 0 {
		t.Errorf("interface-level instances %+v in instance mode", l)
	}
}

func TestRegisterModeMustBeKnown(t *testing.T) {
	_, err := nacos.New(ctxFor(t), []string{"127.0.0.1:1"}, nacos.WithDir(sdkDir(t)), nacos.WithRegisterMode(dubbo.RegisterMode(9)))
	if !errors.Is(err, nacos.ErrInvalidConfig) || !errors.Is(err, dubbo.ErrInvalidRegisterMode) {
		t.Errorf("New with register mode 9 = %v, want ErrInvalidConfig and dubbo.ErrInvalidRegisterMode", err)
	}
}

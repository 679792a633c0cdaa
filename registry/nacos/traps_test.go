package nacos_test

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nacos-group/nacos-sdk-go/v2/clients"
	"github.com/nacos-group/nacos-sdk-go/v2/clients/naming_client"
	"github.com/nacos-group/nacos-sdk-go/v2/common/constant"
	"github.com/nacos-group/nacos-sdk-go/v2/model"
	"github.com/nacos-group/nacos-sdk-go/v2/vo"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// rawNaming is a bare SDK client, standing for another program (Java, Spring, Dubbo, an
// operator's tool) that shares the server.
func rawNaming(t testing.TB, srv *testenv.Nacos, namespace string) naming_client.INamingClient {
	t.Helper()
	dir := sdkDir(t)
	cc := &constant.ClientConfig{
		NamespaceId: namespace, TimeoutMs: 5000, CacheDir: filepath.Join(dir, "cache"),
		LogDir: filepath.Join(dir, "log"), NotLoadCacheAtStart: true,
		Username: srv.Username, Password: srv.Password,
	}
	// Like Tianshu's own clients, it must leave no goroutine behind once closed.
	nacos.QuietSDKFileLog(cc)
	before := nacos.PushListeners()
	cli, err := clients.NewNamingClient(vo.NacosClientParam{
		ClientConfig:  cc,
		ServerConfigs: []constant.ServerConfig{{IpAddr: srv.Host, Port: uint64(srv.Port), GrpcPort: uint64(srv.Port + 1000)}},
	})
	nacos.UseSDKLogger(testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var ports []int
	for p := range nacos.PushListeners() {
		if !before[p] {
			ports = append(ports, p)
		}
	}
	t.Cleanup(func() {
		cli.CloseClient()
		for _, p := range ports {
			nacos.StopPushReceiver(p)
		}
	})
	return cli
}

func rawHosts(t testing.TB, cli naming_client.INamingClient, service, group string) []model.Instance {
	t.Helper()
	var hosts []model.Instance
	eventually(t, 20*time.Second, "the raw SDK to list "+service, func() bool {
		svc, err := cli.GetService(vo.GetServiceParam{ServiceName: service, GroupName: group})
		hosts = svc.Hosts
		return err == nil && len(hosts) > 0
	})
	return hosts
}

func follow(t testing.TB, r registry.Discovery, service string) *registrytest.Follow {
	t.Helper()
	w, err := r.Watch(ctxFor(t), service)
	if err != nil {
		t.Fatalf("Watch(%s): %v", service, err)
	}
	return registrytest.NewFollow(t, w)
}

func TestSDKFilesGoUnderTheChosenDirectoryNeverTheWorkingOne(t *testing.T) {
	srv := testenv.StartNacos(t)
	wd, _ := os.Getwd()
	exeDir := filepath.Dir(os.Args[0])
	before := func(d string) bool { _, err := os.Stat(filepath.Join(d, "cache")); return err == nil }
	hadWd, hadExe := before(wd), before(exeDir)

	dir := sdkDir(t)
	var logs logBuffer
	r := open(t, srv, dir, nacos.WithSDKLogLevel("info"),
		nacos.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	svc := registrytest.ServiceName(t)
	if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	follow(t, r, svc).Until(20*time.Second, "a", registrytest.HasIDs("a"))

	if _, err := os.Stat(filepath.Join(dir, "cache")); err != nil {
		t.Errorf("the SDK's cache is not under the chosen directory: %v", err)
	}
	// The SDK's log goes to the Registry's logger, not to a file (whose rotator would
	// outlive the client).
	if _, err := os.Stat(filepath.Join(dir, "log")); err == nil {
		t.Errorf("the SDK wrote a log directory under %s", dir)
	}
	if out := logs.String(); !strings.Contains(out, "from=nacos-sdk sdk_level=info") {
		t.Errorf("no SDK message at info level reached the logger; log:\n%s", out)
	}
	if !hadWd && before(wd) {
		t.Errorf("the SDK wrote a cache directory into the working directory %s", wd)
	}
	if !hadExe && before(exeDir) {
		t.Errorf("the SDK wrote a cache directory next to the test binary in %s", exeDir)
	}
}

func TestDefaultDirectoryIsUnderTheUserCacheDir(t *testing.T) {
	srv := testenv.StartNacos(t)
	home := sdkDir(t)
	t.Setenv("XDG_CACHE_HOME", home)
	t.Setenv("HOME", home)
	r, err := nacos.New(ctxFor(t), []string{srv.Addr}, nacos.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	svc := registrytest.ServiceName(t)
	if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	follow(t, r, svc).Until(20*time.Second, "a", registrytest.HasIDs("a"))
	want := filepath.Join(home, "tianshu", "nacos", "cache")
	if _, err := os.Stat(want); err != nil {
		t.Fatalf("no SDK cache at the default %s: %v", want, err)
	}
}

func TestZeroValuesAreNeverSentToNacos(t *testing.T) {
	srv := testenv.StartNacos(t)
	r := open(t, srv, sdkDir(t))
	svc := registrytest.ServiceName(t)
	in := registrytest.NewInstance(svc, "zero", 7001)
	in.Weight = 0 // Nacos would filter out a zero weight
	if err := r.Register(ctxFor(t), in); err != nil {
		t.Fatal(err)
	}
	h := rawHosts(t, rawNaming(t, srv, ""), svc, nacos.DefaultGroup)[0]
	if !h.Enable || !h.Healthy || !h.Ephemeral || h.Weight != registry.DefaultWeight || h.ClusterName != nacos.DefaultCluster {
		t.Fatalf("stored instance = enabled %v healthy %v ephemeral %v weight %v cluster %q; want true true true %d %q",
			h.Enable, h.Healthy, h.Ephemeral, h.Weight, h.ClusterName, registry.DefaultWeight, nacos.DefaultCluster)
	}
	list, err := r.GetService(ctxFor(t), svc)
	if err != nil || len(list) != 1 || list[0].Weight != registry.DefaultWeight {
		t.Fatalf("GetService = %v, %v; want the instance with weight %d", registrytest.IDs(list), err, registry.DefaultWeight)
	}
}

func TestSeveralInstancesOfOneServiceInOneProcessAllStayRegistered(t *testing.T) {
	srv := testenv.StartNacos(t)
	dir := sdkDir(t)
	r1, r2 := open(t, srv, dir), open(t, srv, dir) // one process, one shared connection
	cons := open(t, srv, sdkDir(t))                // another process
	svc := registrytest.ServiceName(t)
	f := follow(t, cons, svc)
	for i, r := range []*nacos.Registry{r1, r1, r1, r2} {
		if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, fmt.Sprintf("i-%d", i), 7000+i)); err != nil {
			t.Fatal(err)
		}
	}
	f.Until(30*time.Second, "all four instances", registrytest.HasIDs("i-0", "i-1", "i-2", "i-3"))
	if err := r1.Deregister(ctxFor(t), registrytest.NewInstance(svc, "i-1", 7001)); err != nil {
		t.Fatal(err)
	}
	f.Until(30*time.Second, "the three left", registrytest.HasIDs("i-0", "i-2", "i-3"))
	if err := r2.Close(); err != nil {
		t.Fatal(err)
	}
	f.Until(30*time.Second, "r1's two after r2's Close", registrytest.HasIDs("i-0", "i-2"))
	// The same address twice in one process is refused: Nacos keys instances by it.
	err := r1.Register(ctxFor(t), registrytest.NewInstance(svc, "dup", 7000))
	if !errors.Is(err, registry.ErrInvalidInstance) {
		t.Fatalf("Register of a second ID on a used address = %v, want ErrInvalidInstance", err)
	}
}

func TestFirstNextReturnsTheListEvenWhenItEqualsTheSDKCache(t *testing.T) {
	srv := testenv.StartNacos(t)
	dir := sdkDir(t)
	prov := open(t, srv, sdkDir(t))
	svc := registrytest.ServiceName(t)
	if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	cons := open(t, srv, dir)
	eventually(t, 20*time.Second, "a through GetService", func() bool {
		l, err := cons.GetService(ctxFor(t), svc)
		return err == nil && len(l) == 1
	})
	// The SDK's cache now holds the list: Subscribe would not call back. Next must not wait.
	for i := range 2 {
		w, err := cons.Watch(ctxFor(t), svc)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan []*registry.Instance, 1)
		go func() { l, _ := w.Next(); got <- l }()
		select {
		case l := <-got:
			if !registrytest.HasIDs("a")(l) {
				t.Fatalf("watch %d: first Next = %s, want [a]", i, registrytest.IDs(l))
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("watch %d: first Next blocked although the service has an instance", i)
		}
		_ = w.Stop()
	}
}

func TestWatcherDeliversAnEmptyListWhenTheLastInstanceLeaves(t *testing.T) {
	srv := testenv.StartNacos(t)
	prov, cons := open(t, srv, sdkDir(t)), open(t, srv, sdkDir(t))
	svc := registrytest.ServiceName(t)
	in := registrytest.NewInstance(svc, "last", 7001)
	if err := prov.Register(ctxFor(t), in); err != nil {
		t.Fatal(err)
	}
	f := follow(t, cons, svc)
	f.Until(20*time.Second, "last", registrytest.HasIDs("last"))
	if err := prov.Deregister(ctxFor(t), in); err != nil {
		t.Fatal(err)
	}
	f.Until(20*time.Second, "an empty list (the SDK drops empty pushes by default)", registrytest.HasIDs())
}

func TestHealthyInstancesAreListedWhereHealthyOnlyFalseReturnsNone(t *testing.T) {
	srv := testenv.StartNacos(t)
	r := open(t, srv, sdkDir(t))
	svc := registrytest.ServiceName(t)
	if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "ok", 7001)); err != nil {
		t.Fatal(err)
	}
	raw := rawNaming(t, srv, "")
	rawHosts(t, raw, svc, nacos.DefaultGroup)
	trap, _ := raw.SelectInstances(vo.SelectInstancesParam{ServiceName: svc, HealthyOnly: false})
	if len(trap) != 0 {
		t.Logf("the SDK's HealthyOnly=false returned %d instances; the trap may be fixed", len(trap))
	}
	list, err := r.GetService(ctxFor(t), svc)
	if err != nil || !registrytest.HasIDs("ok")(list) {
		t.Fatalf("GetService = %s, %v; want [ok]", registrytest.IDs(list), err)
	}
}

func TestRegistriesWithTheSameSettingsShareOneSDKClientClosedOnce(t *testing.T) {
	srv := testenv.StartNacos(t)
	dir := sdkDir(t)
	n0, _ := nacos.SharedClients()
	rs := []*nacos.Registry{open(t, srv, dir), open(t, srv, dir), open(t, srv, dir)}
	if n, _ := nacos.SharedClients(); n != n0+1 {
		t.Fatalf("three Registries with one setting hold %d SDK clients, want 1", n-n0)
	}
	other := open(t, srv, sdkDir(t))
	if n, _ := nacos.SharedClients(); n != n0+2 {
		t.Fatalf("a Registry with another directory did not get its own client (%d)", n-n0)
	}
	for _, r := range append(rs, other) {
		_ = r.Close()
		_ = r.Close() // idempotent: must not release the client twice
	}
	if n, _ := nacos.SharedClients(); n != n0 {
		t.Fatalf("%d SDK clients left open after closing every Registry", n-n0)
	}
}

func TestNamespaceGroupAndClusterAreHonoured(t *testing.T) {
	srv := testenv.StartNacos(t)
	svc := registrytest.ServiceName(t)
	r := open(t, srv, sdkDir(t), nacos.WithNamespace("ns-a"), nacos.WithGroup("grp-a"), nacos.WithCluster("cl-a"))
	if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	h := rawHosts(t, rawNaming(t, srv, "ns-a"), svc, "grp-a")[0]
	if h.ClusterName != "cl-a" {
		t.Errorf("cluster = %q, want cl-a", h.ClusterName)
	}
	same := open(t, srv, sdkDir(t), nacos.WithNamespace("ns-a"), nacos.WithGroup("grp-a"))
	follow(t, same, svc).Until(20*time.Second, "a in ns-a/grp-a", registrytest.HasIDs("a"))
	for _, o := range [][]nacos.Option{
		{nacos.WithNamespace("ns-b"), nacos.WithGroup("grp-a")},
		{nacos.WithNamespace("ns-a"), nacos.WithGroup("grp-b")},
	} {
		l, err := open(t, srv, sdkDir(t), o...).GetService(ctxFor(t), svc)
		if err != nil || len(l) != 0 {
			t.Errorf("another namespace or group lists %s, %v; want nothing", registrytest.IDs(l), err)
		}
	}
}

func TestConsumersCanListChosenClustersOnly(t *testing.T) {
	srv := testenv.StartNacos(t)
	svc := registrytest.ServiceName(t)
	for i, c := range []struct{ id, cluster string }{{"e", "east"}, {"w", "west"}, {"d", ""}} {
		opts := []nacos.Option{}
		if c.cluster != "" {
			opts = append(opts, nacos.WithCluster(c.cluster))
		}
		if err := open(t, srv, sdkDir(t), opts...).Register(ctxFor(t), registrytest.NewInstance(svc, c.id, 7001+i)); err != nil {
			t.Fatal(err)
		}
	}
	// One process, two Registries: the filter is per Registry even on a shared SDK client.
	dir := sdkDir(t)
	all := open(t, srv, dir)
	follow(t, all, svc).Until(20*time.Second, "every cluster", registrytest.HasIDs("d", "e", "w"))
	east := follow(t, open(t, srv, dir, nacos.WithClusters("east", "DEFAULT")), svc)
	east.Until(20*time.Second, "east and DEFAULT only", registrytest.HasIDs("d", "e"))
	if l, err := open(t, srv, dir, nacos.WithClusters("west")).GetService(ctxFor(t), svc); err != nil || !registrytest.HasIDs("w")(l) {
		t.Fatalf("GetService with WithClusters(west) = %s, %v; want w", registrytest.IDs(l), err)
	}
	// A change in a listed cluster is delivered; the filter still holds after it.
	if err := open(t, srv, sdkDir(t), nacos.WithCluster("east")).Register(ctxFor(t), registrytest.NewInstance(svc, "e2", 7004)); err != nil {
		t.Fatal(err)
	}
	east.Until(20*time.Second, "the new east instance", registrytest.HasIDs("d", "e", "e2"))
	if _, err := nacos.New(ctxFor(t), []string{srv.Addr}, append(base(t, sdkDir(t)), nacos.WithClusters(""))...); !errors.Is(err, nacos.ErrInvalidConfig) {
		t.Fatalf("WithClusters(\"\") = %v, want ErrInvalidConfig", err)
	}
}

func TestDubboNamingPublishesProvidersNameAndURLParameters(t *testing.T) {
	srv := testenv.StartNacos(t)
	r := open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", "g1"), nacos.WithApplication("demo"))
	iface := "greeter.v1.Greeter" + registrytest.ServiceName(t)[3:12]
	in := registrytest.NewInstance(iface, "p-1", 7001)
	if err := r.Register(ctxFor(t), in); err != nil {
		t.Fatal(err)
	}
	name := nacos.DubboServiceName(iface, "1.0.0", "g1")
	h := rawHosts(t, rawNaming(t, srv, ""), name, nacos.DefaultGroup)[0]
	for k, v := range map[string]string{"side": "provider", "interface": iface, "version": "1.0.0", "group": "g1", "protocol": "tri", "application": "demo"} {
		if h.Metadata[k] != v {
			t.Errorf("Dubbo parameter %s = %q, want %q", k, h.Metadata[k], v)
		}
	}
	// A Tianshu consumer with the same option reads the instance back unchanged.
	got := follow(t, open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", "g1")), iface).
		Until(20*time.Second, "p-1", registrytest.HasIDs("p-1"))
	if !got[0].Equal(in) {
		t.Errorf("read back %+v, want %+v", got[0], in)
	}
}

func TestDubboAndSpringCloudRegistrationsAreReadable(t *testing.T) {
	srv := testenv.StartNacos(t)
	raw := rawNaming(t, srv, "")
	suffix := registrytest.ServiceName(t)[3:12]
	dubboName := nacos.DubboServiceName("org.apache.dubbo.Demo"+suffix, "2.0", "")
	springName := "order-service" + suffix
	regs := []vo.RegisterInstanceParam{
		{ServiceName: dubboName, Ip: "127.0.0.1", Port: 20880, Weight: 100, Enable: true, Healthy: true, Ephemeral: true,
			Metadata: map[string]string{"side": "provider", "protocol": "tri", "version": "2.0", "interface": "org.apache.dubbo.Demo", "methods": "sayHello"}},
		{ServiceName: springName, Ip: "127.0.0.1", Port: 8080, Weight: 1, Enable: true, Healthy: true, Ephemeral: true,
			Metadata: map[string]string{"preserved.register.source": "SPRING_CLOUD", "gRPC_port": "9090", "zone": "z1"}},
	}
	for _, p := range regs {
		if ok, err := raw.RegisterInstance(p); err != nil || !ok {
			t.Fatalf("raw register %s: %v %v", p.ServiceName, ok, err)
		}
	}
	cons := open(t, srv, sdkDir(t))
	d := follow(t, cons, dubboName).Until(20*time.Second, "the Dubbo provider", registrytest.HasIDs("127.0.0.1:20880"))[0]
	if e, ok := d.Endpoint("tri"); !ok || e.Port != 20880 || d.Version != "2.0" || d.Metadata["methods"] != "sayHello" {
		t.Errorf("Dubbo provider read as %+v", d)
	}
	s := follow(t, cons, springName).Until(20*time.Second, "the Spring provider", registrytest.HasIDs("127.0.0.1:8080"))[0]
	want := []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9090}, {Scheme: "http", Host: "127.0.0.1", Port: 8080}}
	if !slices.Equal(s.Endpoints, want) || s.Zone != "z1" || s.Metadata["preserved.register.source"] != "SPRING_CLOUD" {
		t.Errorf("Spring provider read as %+v", s)
	}
}

func TestAuthentication(t *testing.T) {
	srv := testenv.StartNacos(t, testenv.WithNacosAuth("tianshu", "s3cret"))
	t.Run("right credentials register and watch", func(t *testing.T) {
		r := open(t, srv, sdkDir(t), nacos.WithAuth("tianshu", "s3cret"))
		svc := registrytest.ServiceName(t)
		if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
			t.Fatal(err)
		}
		follow(t, r, svc).Until(20*time.Second, "a", registrytest.HasIDs("a"))
	})
	t.Run("wrong password is refused at New with ErrUnauthorized", func(t *testing.T) {
		_, err := nacos.New(ctxFor(t), []string{srv.Addr}, append(base(t, sdkDir(t)), nacos.WithAuth("tianshu", "wrong"))...)
		if !errors.Is(err, nacos.ErrUnauthorized) {
			t.Fatalf("New with a wrong password = %v, want ErrUnauthorized", err)
		}
		t.Logf("the user sees: %v", err)
	})
	t.Run("no credentials make Register fail with ErrUnauthorized", func(t *testing.T) {
		r := open(t, srv, sdkDir(t))
		err := r.Register(ctxFor(t), registrytest.NewInstance(registrytest.ServiceName(t), "a", 7001))
		if !errors.Is(err, nacos.ErrUnauthorized) {
			t.Fatalf("Register without credentials = %v, want ErrUnauthorized", err)
		}
	})
}

package nacos_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/registrytest"
	"github.com/tianshu-go/tianshu/rpc"
)

// serverHost is an instance as Nacos's HTTP API lists it.
type serverHost struct {
	IP       string            `json:"ip"`
	Port     int               `json:"port"`
	Metadata map[string]string `json:"metadata"`
}

// serverHosts asks the server itself, over its HTTP API, which instances a service of
// DEFAULT_GROUP has: no SDK cache stands between the test and the answer.
func serverHosts(t *testing.T, srv *testenv.Nacos, service string) []serverHost {
	t.Helper()
	q := url.Values{"serviceName": {service}, "groupName": {nacos.DefaultGroup}}
	resp, err := http.Get("http://" + srv.Addr + "/nacos/v1/ns/instance/list?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Hosts []serverHost `json:"hosts"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil // rnacos answers an unknown service with an error status
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatalf("instance list of %s: %v", service, err)
	}
	return list.Hosts
}

func TestADubboConnectionIsListedAmongTheConsumersWhenAsked(t *testing.T) {
	srv := testenv.StartNacos(t)
	iface := "greeter.v1.Greeter" + registrytest.ServiceName(t)[3:12]
	name := dubbo.NacosConsumerService(iface, "1.0.0", "blue")
	dial := func(r *nacos.Registry) func() {
		conn, err := rpc.Dial(ctxFor(t), "tianshu:///"+iface, rpc.WithDiscovery(r), rpc.WithDubbo("blue", "1.0.0"),
			rpc.WithDialLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		return func() { _ = conn.Close() }
	}

	// As in Dubbo, whose register-consumer-url is false by default: nothing.
	quiet := open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", "blue"), nacos.WithApplication("orders"))
	dial(quiet)
	time.Sleep(500 * time.Millisecond) // time for a wrong registration to reach the server
	if n := len(serverHosts(t, srv, name)); n != 0 {
		t.Fatalf("%d consumer instances without WithDubboConsumers, want 0", n)
	}

	r := open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", "blue"), nacos.WithApplication("orders"),
		nacos.WithDubboConsumers())
	before := time.Now().UnixMilli()
	closeFirst := dial(r)
	closeSecond := dial(r)
	var hosts []serverHost
	eventually(t, 20*time.Second, "the consumer entry", func() bool {
		hosts = serverHosts(t, srv, name)
		return len(hosts) > 0
	})
	if len(hosts) != 1 {
		t.Fatalf("%d consumer instances, want one for this process (the first Registry lists none)", len(hosts))
	}
	h := hosts[0]
	if h.Port != 0 {
		t.Errorf("consumer port = %d, want 0 as Dubbo registers it", h.Port)
	}
	want := map[string]string{
		"application": "orders", "category": "consumers", "side": "consumer", "interface": iface, "path": iface,
		"group": "blue", "version": "1.0.0", "dubbo": "2.0.2", "release": dubbo.Release,
		"pid": strconv.Itoa(os.Getpid()), "protocol": "tri", "check": "false",
	}
	for k, v := range want {
		if h.Metadata[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, h.Metadata[k], v)
		}
	}
	if ts, err := strconv.ParseInt(h.Metadata["timestamp"], 10, 64); err != nil || ts < before || ts > time.Now().UnixMilli() {
		t.Errorf("timestamp = %q, want the time of Dial", h.Metadata["timestamp"])
	}

	closeFirst()
	time.Sleep(500 * time.Millisecond) // time for a wrong removal to reach the server
	if n := len(serverHosts(t, srv, name)); n != 1 {
		t.Fatalf("%d consumer instances after one of two connections closed, want 1", n)
	}
	closeSecond()
	eventually(t, 20*time.Second, "the consumer entry gone with the last connection", func() bool {
		return len(serverHosts(t, srv, name)) == 0
	})
}

func TestDubboNamingWritesWhatJavaProvidersWrite(t *testing.T) {
	srv := testenv.StartNacos(t)
	r := open(t, srv, sdkDir(t), nacos.WithDubboNaming("1.0.0", "g1"), nacos.WithApplication("demo"))
	iface := "greeter.v1.Greeter" + registrytest.ServiceName(t)[3:12]
	in := registrytest.NewInstance(iface, "p-1", 7001)
	in.Metadata = map[string]string{"methods": "Greet,Part"}
	before := time.Now().UnixMilli()
	if err := r.Register(ctxFor(t), in); err != nil {
		t.Fatal(err)
	}
	var hosts []serverHost
	eventually(t, 20*time.Second, "the provider", func() bool {
		hosts = serverHosts(t, srv, nacos.DubboServiceName(iface, "1.0.0", "g1"))
		return len(hosts) > 0
	})
	md := hosts[0].Metadata
	// What a Java Dubbo 3.3.5 provider's instance carries (observed on rnacos), less its
	// Java-only settings (deprecated, generic, logger, prefer.serialization, proxy, revision).
	for k, v := range map[string]string{
		"application": "demo", "category": "providers", "dubbo": "2.0.2", "dynamic": "true", "group": "g1",
		"interface": iface, "methods": "Greet,Part", "path": iface, "protocol": "tri", "release": dubbo.Release,
		"side": "provider", "version": "1.0.0",
	} {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, md[k], v)
		}
	}
	if ts, err := strconv.ParseInt(md["timestamp"], 10, 64); err != nil || ts < before || ts > time.Now().UnixMilli() {
		t.Errorf("timestamp = %q, want the registration time", md["timestamp"])
	}
	for _, k := range []string{"pid", "anyhost"} {
		if v, ok := md[k]; ok {
			t.Errorf("metadata %s = %q; Dubbo 3.3 providers write none", k, v)
		}
	}
}

func TestRegisterConsumerWithoutDubboNamingDoesNothing(t *testing.T) {
	srv := testenv.StartNacos(t)
	r := open(t, srv, sdkDir(t), nacos.WithDubboConsumers())
	deregister, err := r.RegisterConsumer(context.Background(), dubbo.Consumer{Interface: "org.Foo", Host: "127.0.0.1"})
	if err != nil || deregister == nil {
		t.Fatalf("RegisterConsumer = %v, want a no-op", err)
	}
	deregister()
	if n := len(serverHosts(t, srv, dubbo.NacosConsumerService("org.Foo", "", ""))); n != 0 {
		t.Fatalf("%d consumer instances without Dubbo naming, want 0", n)
	}
}

func TestTheURLTurnsDubboConsumersOn(t *testing.T) {
	parse := func(raw string) (int, error) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		_, opts, err := nacos.ParseURL(u)
		return len(opts), err
	}
	without, err := parse("nacos://127.0.0.1:8848?naming=dubbo")
	if err != nil {
		t.Fatal(err)
	}
	with, err := parse("nacos://127.0.0.1:8848?naming=dubbo&dubbo_consumers=true")
	if err != nil || with != without+1 {
		t.Fatalf("dubbo_consumers=true gave %d options (%v), want %d", with, err, without+1)
	}
	if n, err := parse("nacos://127.0.0.1:8848?naming=dubbo&dubbo_consumers=false"); err != nil || n != without {
		t.Fatalf("dubbo_consumers=false gave %d options (%v), want %d", n, err, without)
	}
	for _, raw := range []string{
		"nacos://127.0.0.1:8848?dubbo_consumers=true",
		"nacos://127.0.0.1:8848?naming=dubbo&dubbo_consumers=maybe",
	} {
		if _, err := parse(raw); !errors.Is(err, nacos.ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", raw, err)
		}
	}
}

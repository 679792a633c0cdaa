package dubbo_test

import (
	"fmt"
	"testing"

	"github.com/tianshu-go/tianshu/dubbo"
)

// The vectors of docs/design/dubbo-app-level.md §3.2, printed by Dubbo 3.3.5's own
// MetadataInfo.calRevision.

// Vector 1: the interop Java peer on ZooKeeper, the services as its MetadataServiceV2
// returned them.
func TestRevisionOfTheJavaPeer(t *testing.T) {
	params := map[string]string{
		"REGISTRY_CLUSTER": "default", "application": "tianshu-interop-java-provider",
		"deprecated": "false", "dubbo": "2.0.2", "dynamic": "true", "generic": "false",
		"group": "interop", "interface": "tianshu.interop.v1.Greeter", "logger": "slf4j",
		"methods": "greet,greetAsync", "prefer.serialization": "hessian2,fastjson2",
		"proxy": "nativestub", "release": "3.3.5", "revision": "interop",
		"service-name-mapping": "true", "side": "provider", "version": "1.0.0",
	}
	s := dubbo.ServiceInfo{Name: "tianshu.interop.v1.Greeter", Group: "interop", Version: "1.0.0",
		Protocol: "tri", Port: 25001, Path: "tianshu.interop.v1.Greeter", Params: params}
	m := dubbo.NewMetadataInfo("tianshu-interop-java-provider", s)
	if k := s.MatchKey(); k != "interop/tianshu.interop.v1.Greeter:1.0.0:tri" {
		t.Errorf("MatchKey = %q", k)
	}
	if got, want := m.Revision(), "dcc7a4579b568a0d538bd134170f53ec"; got != want {
		t.Errorf("Revision = %s, want %s (Dubbo's, port 25001)", got, want)
	}
	// Vector 2: the same peer on Nacos, only the port differs.
	s.Port = 25002
	m = dubbo.NewMetadataInfo("tianshu-interop-java-provider", s)
	if got, want := m.Revision(), "1d9409197f147288b7ba917f50ae12aa"; got != want {
		t.Errorf("Revision = %s, want %s (Dubbo's, port 25002)", got, want)
	}
}

func mustParse(t *testing.T, s string) dubbo.URL {
	t.Helper()
	u, err := dubbo.ParseURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// Vector 3: two services from exported URLs, through the provider's path (filter, then
// revision); bind.ip, bind.port, pid and timestamp are filtered, anyhost is kept, and the
// service with a group sorts first.
func TestRevisionOfTwoServicesFromURLs(t *testing.T) {
	u1 := mustParse(t, "tri://127.0.0.1:50051/tianshu.interop.v1.Greeter?anyhost=true&application=greeter&bind.ip=127.0.0.1&bind.port=50051&deprecated=false&dubbo=2.0.2&dynamic=true&generic=false&group=interop&interface=tianshu.interop.v1.Greeter&methods=Greet&pid=4242&release=tianshu-0.1.0&side=provider&timestamp=1700000000000&version=1.0.0")
	u2 := mustParse(t, "tri://127.0.0.1:50051/tianshu.interop.v1.Echo?application=greeter&dubbo=2.0.2&interface=tianshu.interop.v1.Echo&methods=Echo,Stream&release=tianshu-0.1.0&side=provider")
	// Added in the order that does not sort, so that the revision must sort.
	m := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfoOf(u2), dubbo.ServiceInfoOf(u1))
	if got, want := m.Revision(), "ce8e33ccc6cbbcf12835e46d1a0b81a2"; got != want {
		t.Errorf("Revision = %s, want %s (Dubbo's)", got, want)
	}
	if _, ok := m.Services["tianshu.interop.v1.Echo:tri"]; !ok {
		t.Errorf("services keyed %v, want tianshu.interop.v1.Echo:tri among them", keys(m.Services))
	}
}

// Vector 4: Go's proof of concept against Dubbo's RevTool.
func TestRevisionOfTheGoProofOfConcept(t *testing.T) {
	u := mustParse(t, "tri://127.0.0.1:25003/tianshu.interop.v1.Greeter?application=fake-go&dubbo=2.0.2&group=interop&interface=tianshu.interop.v1.Greeter&methods=Greet&release=tianshu-poc&side=provider&version=1.0.0")
	m := dubbo.NewMetadataInfo("fake-go", dubbo.ServiceInfoOf(u))
	if got, want := m.Revision(), "1bd3876a5d159b48b89ff9b35f1f23e2"; got != want {
		t.Errorf("Revision = %s, want %s (Dubbo's)", got, want)
	}
}

// Dubbo's calRevision gives "0" without services; consumers skip such instances.
func TestRevisionWithoutServicesIsZero(t *testing.T) {
	for _, m := range []dubbo.MetadataInfo{{}, {App: "greeter"}, dubbo.NewMetadataInfo("greeter")} {
		if got := m.Revision(); got != "0" {
			t.Errorf("Revision of %+v = %q, want \"0\"", m, got)
		}
	}
}

func TestFilterParamsDropsWhatDubboDrops(t *testing.T) {
	in := map[string]string{
		"pid": "1", "timestamp": "2", "greet.timestamp": "3", "TIMESTAMP": "4", "bind.ip": "x",
		"bind.port": "1", "qos.enable": "false", "qos.host": "h", "qos.port": "1",
		"qos.accept.foreign.ip": "f", "validation": "v", "interfaces": "i", "monitor": "m",
		"heartbeat.timeout": "1", "ipv6": "::1", "a.pid": "5",
		"anyhost": "true", "application": "greeter", "timestampx": "kept", "pidx": "kept",
	}
	got := dubbo.FilterParams(in)
	want := map[string]string{"anyhost": "true", "application": "greeter", "timestampx": "kept", "pidx": "kept"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("FilterParams = %v, want %v", got, want)
	}
	if len(in) != 20 {
		t.Error("FilterParams changed its argument")
	}
}

// Java orders keys by UTF-16 code units: U+FF61 sorts after U+1F600 there (0xFF61 >
// 0xD83D) but before it in Go's byte order.
func TestRevisionOrdersKeysAsJava(t *testing.T) {
	s := dubbo.ServiceInfo{Name: "S", Protocol: "tri", Port: 1, Path: "S",
		Params: map[string]string{"\U0001F600": "a", "\uFF61": "b"}}
	// MD5 of "appS:tri1S{😀=a, ｡=b}", the order Java's TreeMap prints.
	if got, want := dubbo.NewMetadataInfo("app", s).Revision(), md5hex("appS:tri1S{\U0001F600=a, \uFF61=b}"); got != want {
		t.Errorf("Revision = %s, want %s", got, want)
	}
}

func ExampleMetadataInfo_Revision() {
	u, _ := dubbo.ParseURL("tri://127.0.0.1:25003/tianshu.interop.v1.Greeter?application=fake-go&dubbo=2.0.2&group=interop&interface=tianshu.interop.v1.Greeter&methods=Greet&pid=42&release=tianshu-poc&side=provider&version=1.0.0")
	m := dubbo.NewMetadataInfo("fake-go", dubbo.ServiceInfoOf(u))
	fmt.Println(m.Revision())
	// Output: 1bd3876a5d159b48b89ff9b35f1f23e2
}

func BenchmarkRevision(b *testing.B) {
	u, _ := dubbo.ParseURL("tri://127.0.0.1:50051/tianshu.interop.v1.Greeter?anyhost=true&application=greeter&deprecated=false&dubbo=2.0.2&dynamic=true&generic=false&group=interop&interface=tianshu.interop.v1.Greeter&methods=Greet&release=tianshu-0.1.0&side=provider&version=1.0.0")
	m := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfoOf(u))
	b.ReportAllocs()
	for b.Loop() {
		_ = m.Revision()
	}
}

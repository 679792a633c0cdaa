package dubbo_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/registry"
)

// javaNodeName is a provider node name as Dubbo 3's ZooKeeper registry writes it (Java's
// URLEncoder), for a Triple provider of org.example.Greeter.
const javaNodeName = "tri%3A%2F%2F10.0.0.7%3A50051%2Forg.example.Greeter%3Fanyhost%3Dtrue%26application%3Dgreeter-app" +
	"%26deprecated%3Dfalse%26dubbo%3D2.0.2%26dynamic%3Dtrue%26generic%3Dfalse%26interface%3Dorg.example.Greeter" +
	"%26methods%3DsayHello%2CsayHelloStream%26pid%3D4242%26release%3D3.2.0%26service-name-mapping%3Dtrue" +
	"%26side%3Dprovider%26timestamp%3D1732600000000"

func TestParseNodeNameReadsWhatJavaDubboWrites(t *testing.T) {
	u, err := dubbo.ParseNodeName(javaNodeName)
	if err != nil {
		t.Fatal(err)
	}
	if u.Protocol != "tri" || u.Host != "10.0.0.7" || u.Port != 50051 || u.Path != "org.example.Greeter" {
		t.Errorf("ParseNodeName = %+v", u)
	}
	if got := u.Params["methods"]; got != "sayHello,sayHelloStream" {
		t.Errorf("methods = %q", got)
	}
	in, err := u.Instance("org.example.Greeter")
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != "10.0.0.7:50051" || len(in.Endpoints) != 1 || in.Endpoints[0].String() != "tri://10.0.0.7:50051" {
		t.Errorf("instance = %+v", in)
	}
	if in.Metadata["application"] != "greeter-app" || in.Metadata["side"] != "provider" {
		t.Errorf("metadata = %v, want every URL parameter", in.Metadata)
	}
}

func TestParseURLRejectsWhatIsNotADubboURL(t *testing.T) {
	for _, tc := range []struct{ name, in string }{
		{"no protocol", "10.0.0.7:50051/org.Foo"},
		{"no port", "tri://10.0.0.7/org.Foo"},
		{"port out of range", "tri://10.0.0.7:70000/org.Foo"},
		{"port with a sign", "tri://10.0.0.7:+80/org.Foo"},
		{"user information", "tri://u:p@10.0.0.7:1/org.Foo"},
		{"fragment", "tri://10.0.0.7:1/org.Foo#x"},
		{"empty parameter key", "tri://10.0.0.7:1/org.Foo?=v"},
		{"space in a value", "tri://10.0.0.7:1/org.Foo?a=b c"},
		{"bad host", "tri://exa$mple:1/org.Foo"},
		{"protocol starting with a digit", "3tri://h:1/x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dubbo.ParseURL(tc.in); !errors.Is(err, dubbo.ErrInvalidURL) {
				t.Fatalf("ParseURL(%q) = %v, want ErrInvalidURL", tc.in, err)
			}
		})
	}
}

func TestParseURLAcceptsIPv6AndEmptyParameters(t *testing.T) {
	u, err := dubbo.ParseURL("tri://[::1]:7001/org.Foo?&a=&b=1&&")
	if err != nil {
		t.Fatal(err)
	}
	if u.Host != "::1" || u.Params["a"] != "" || u.Params["b"] != "1" || len(u.Params) != 2 {
		t.Fatalf("ParseURL = %+v", u)
	}
	if got := u.String(); got != "tri://[::1]:7001/org.Foo?a=&b=1" {
		t.Fatalf("String = %q", got)
	}
}

func TestFromInstanceRoundTripsEveryField(t *testing.T) {
	in := &registry.Instance{
		ID: "orders-1", Service: "org.example.Orders", Version: "1.0.0", Weight: 50, Zone: "zone-a",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}, {Scheme: "http", Host: "::1", Port: 8080}},
		Metadata:  map[string]string{"env": "test", "tags": "canary,blue", "application": "orders-app"},
	}
	u, err := dubbo.FromInstance(in, dubbo.Publish{Methods: []string{"Get", "List"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"interface": "org.example.Orders", "application": "orders-app", "methods": "Get,List",
		"side": "provider", "release": dubbo.Release, "version": "1.0.0", "weight": "50"}
	for k, v := range want {
		if u.Params[k] != v {
			t.Errorf("parameter %s = %q, want %q", k, u.Params[k], v)
		}
	}
	if u.Protocol != "tri" || u.Port != 9000 || u.Path != in.Service {
		t.Errorf("URL = %s, want tri://127.0.0.1:9000/%s?...", u, in.Service)
	}
	back, err := dubbo.ParseNodeName(u.NodeName())
	if err != nil {
		t.Fatal(err)
	}
	got, err := back.Instance(in.Service)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(in) {
		t.Fatalf("round trip = %+v, want %+v", got, in)
	}
}

func TestFromInstanceRejectsWhatDubboCannotCarry(t *testing.T) {
	base := func() *registry.Instance {
		return &registry.Instance{ID: "a", Service: "org.Foo", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "h", Port: 1}}}
	}
	for _, tc := range []struct {
		name   string
		change func(*registry.Instance)
		want   string
	}{
		{"an instance with no tri or grpc endpoint", func(in *registry.Instance) { in.Endpoints[0].Scheme = "http" }, "no tri or grpc endpoint"},
		{"metadata named like the version parameter", func(in *registry.Instance) { in.Metadata = map[string]string{"version": "1"} }, "reserved"},
		{"metadata with an ampersand", func(in *registry.Instance) { in.Metadata = map[string]string{"k": "a&b"} }, "&"},
		{"a version with a space", func(in *registry.Instance) { in.Version = "1 0" }, "version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := base()
			tc.change(in)
			_, err := dubbo.FromInstance(in, dubbo.Publish{})
			if !errors.Is(err, registry.ErrInvalidInstance) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FromInstance = %v, want ErrInvalidInstance mentioning %q", err, tc.want)
			}
		})
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"tri://10.0.0.7:50051/org.example.Greeter?application=a&methods=x,y&side=provider",
		"tri://[::1]:1/x?tianshu.id=a&tianshu.endpoints=grpc://127.0.0.1:1,http://[::1]:2&weight=5",
		"dubbo://h:65535/?a=b=c", "tri://h:1", "x://h:0/", "tri://%zz:1/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := dubbo.ParseURL(s)
		if err != nil {
			if !errors.Is(err, dubbo.ErrInvalidURL) {
				t.Fatalf("ParseURL(%q) error %v does not wrap ErrInvalidURL", s, err)
			}
			return
		}
		again, err := dubbo.ParseURL(u.String())
		if err != nil || !again.Equal(u) {
			t.Fatalf("ParseURL(String()) of %q = %+v, %v; want %+v", s, again, err, u)
		}
		byName, err := dubbo.ParseNodeName(u.NodeName())
		if err != nil || !byName.Equal(u) {
			t.Fatalf("ParseNodeName(NodeName()) of %q = %+v, %v; want %+v", s, byName, err, u)
		}
		in, err := u.Instance("svc")
		if err != nil {
			if !errors.Is(err, registry.ErrInvalidInstance) {
				t.Fatalf("Instance of %q: error %v does not wrap ErrInvalidInstance", s, err)
			}
			return
		}
		if err := in.Validate(); err != nil {
			t.Fatalf("Instance of %q is invalid: %v", s, err)
		}
	})
}

// javaProviderURL is the provider entry a Java Dubbo 3.3.5 provider of the interop Greeter
// (group interop, version 1.0.0, Triple) wrote under
// /dubbo/tianshu.interop.v1.Greeter/providers, decoded: no pid (Dubbo 3.3 drops it from
// provider URLs), no category (the path says it).
const javaProviderURL = "tri://127.0.0.1:39833/tianshu.interop.v1.Greeter?application=tianshu-interop-java-provider" +
	"&deprecated=false&dubbo=2.0.2&dynamic=true&generic=false&group=interop&interface=tianshu.interop.v1.Greeter" +
	"&logger=slf4j&methods=greet,greetAsync&prefer.serialization=hessian2,fastjson2&proxy=nativestub" +
	"&release=3.3.5&revision=interop&side=provider&timestamp=1796662349836&version=1.0.0"

func TestFromInstanceWritesWhatJavaProvidersWrite(t *testing.T) {
	in := &registry.Instance{
		ID: "greeter-1", Service: "tianshu.interop.v1.Greeter", Version: "1.0.0",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 39833}},
		Metadata:  map[string]string{"group": "interop", "methods": "Greet"},
	}
	at := time.UnixMilli(1796662349836)
	u, err := dubbo.FromInstance(in, dubbo.Publish{Application: "greeter", Methods: []string{"Ignored"}, Timestamp: at})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"application": "greeter", "dubbo": "2.0.2", "dynamic": "true", "group": "interop",
		"interface": "tianshu.interop.v1.Greeter", "methods": "Greet", "release": dubbo.Release,
		"side": "provider", "timestamp": "1796662349836", "version": "1.0.0",
	}
	java := queryKeys(t, javaProviderURL)
	for k, v := range want {
		if u.Params[k] != v {
			t.Errorf("parameter %s = %q, want %q", k, u.Params[k], v)
		}
		if !java[k] {
			t.Errorf("parameter %s is not one a Java provider writes", k)
		}
	}
	for k := range u.Params {
		if _, ok := want[k]; !ok && !strings.HasPrefix(k, "tianshu.") {
			t.Errorf("unexpected parameter %s=%q", k, u.Params[k])
		}
	}
	if !strings.HasPrefix(dubbo.Release, "tianshu-") || strings.HasPrefix(dubbo.Release, "tianshu-3.") {
		t.Errorf("Release = %q, want Tianshu's own version", dubbo.Release)
	}
}

func TestPublishParamsLeaveMethodsOutWhenUnknown(t *testing.T) {
	in := &registry.Instance{ID: "a", Service: "org.Foo", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "h", Port: 1}}}
	p := dubbo.Publish{}.Params(in)
	if _, ok := p["methods"]; ok {
		t.Errorf("methods = %q, want none", p["methods"])
	}
	if p["application"] != "org.Foo" || p["dynamic"] != "true" || p["timestamp"] == "" {
		t.Errorf("Params = %v", p)
	}
}

package dubbo_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
)

// javaNode is /services/tianshu-interop-java-provider/127.0.0.1:25001 as the real Java
// peer (Dubbo 3.3.5, Curator 5.8.0) wrote it; design doc §1.1.
const javaNode = `{"name":"tianshu-interop-java-provider","id":"127.0.0.1:25001","address":"127.0.0.1","port":25001,"sslPort":null,"payload":{"@class":"org.apache.dubbo.registry.zookeeper.ZookeeperInstance","id":"127.0.0.1:25001","name":"tianshu-interop-java-provider","metadata":{"dubbo.endpoints":"[{\"port\":25001,\"protocol\":\"tri\"}]","dubbo.metadata-service.url-params":"{\"prefer.serialization\":\"hessian2,fastjson2\",\"version\":\"2.0.0\",\"dubbo\":\"2.0.2\",\"release\":\"3.3.5\",\"side\":\"provider\",\"port\":\"25001\",\"protocol\":\"tri\"}","dubbo.metadata.revision":"dcc7a4579b568a0d538bd134170f53ec","dubbo.metadata.storage-type":"local","meta-v":"2.0.0","timestamp":"1796657247341"}},"registrationTimeUTC":1796657248282,"serviceType":"DYNAMIC","uriSpec":null}`

func TestParseAppInstanceReadsWhatJavaWrites(t *testing.T) {
	if len(javaNode) != 758 {
		t.Fatalf("the literal has %d bytes, the node had 758", len(javaNode))
	}
	in, err := dubbo.ParseAppInstance([]byte(javaNode))
	if err != nil {
		t.Fatal(err)
	}
	if in.App != "tianshu-interop-java-provider" || in.ID != "127.0.0.1:25001" || in.Host != "127.0.0.1" ||
		in.Port != 25001 || in.Registered.UnixMilli() != 1796657248282 {
		t.Errorf("ParseAppInstance = %+v", in)
	}
	if r := in.Revision(); r != "dcc7a4579b568a0d538bd134170f53ec" {
		t.Errorf("Revision = %q", r)
	}
	if in.Metadata[dubbo.MetaStorageType] != dubbo.StorageLocal || in.Metadata[dubbo.MetaVersion] != dubbo.MetadataServiceV2 ||
		in.Metadata[dubbo.MetaTimestamp] != "1796657247341" {
		t.Errorf("metadata %v", in.Metadata)
	}
	eps, err := in.Endpoints()
	if err != nil || len(eps) != 1 || eps[0] != (dubbo.Endpoint{Port: 25001, Protocol: "tri"}) {
		t.Errorf("Endpoints = %v, %v", eps, err)
	}
	p, err := in.URLParams()
	if err != nil || p["port"] != "25001" || p["protocol"] != "tri" || p["version"] != "2.0.0" || len(p) != 7 {
		t.Errorf("URLParams = %v, %v", p, err)
	}
}

// Encoding what was decoded gives the Java node back byte for byte: the same fields in the
// same order, the payload's @class first, and the metadata keys sorted as Dubbo sorts them.
func TestMarshalCuratorRoundTripsTheJavaNode(t *testing.T) {
	in, err := dubbo.ParseAppInstance([]byte(javaNode))
	if err != nil {
		t.Fatal(err)
	}
	out, err := in.MarshalCurator()
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != javaNode {
		t.Errorf("MarshalCurator =\n%s\nwant\n%s", out, javaNode)
	}
}

// Curator's reader ignores fields it does not know (a newer Curator writes "enabled"), and
// so does Tianshu's.
func TestParseAppInstanceIgnoresUnknownFields(t *testing.T) {
	node := strings.Replace(javaNode, `"serviceType":"DYNAMIC"`,
		`"serviceType":"DYNAMIC","enabled":true,"extra":{"nested":[1,2]}`, 1)
	node = strings.Replace(node, `"@class"`, `"future":"x","@class"`, 1)
	in, err := dubbo.ParseAppInstance([]byte(node))
	if err != nil {
		t.Fatal(err)
	}
	if in.Revision() != "dcc7a4579b568a0d538bd134170f53ec" || in.Port != 25001 {
		t.Errorf("ParseAppInstance = %+v", in)
	}
}

func TestParseAppInstanceRejectsWhatIsNotAnInstance(t *testing.T) {
	for _, data := range []string{
		``, `null`, `[]`, `{"name":`, `"x"`, `{}`,
		`{"name":"a","address":"127.0.0.1"}`,                                 // no port
		`{"name":"a","address":"127.0.0.1","port":70000}`,                    // port out of range
		`{"name":"","address":"127.0.0.1","port":1}`,                         // no app
		`{"name":"a","port":1}`,                                              // no address
		`{"name":"a","address":"h","port":"1"}`,                              // port as a string
		`{"name":"a","address":"h","port":1,"payload":{"metadata":{"k":1}}}`, // a number in metadata
	} {
		_, err := dubbo.ParseAppInstance([]byte(data))
		if !errors.Is(err, dubbo.ErrInvalidInstance) {
			t.Errorf("ParseAppInstance(%s) = %v, want ErrInvalidInstance", data, err)
		}
	}
}

func TestInstanceMetadataWithBadJSONIsAnError(t *testing.T) {
	in := dubbo.AppInstance{ID: "127.0.0.1:1", Metadata: map[string]string{
		dubbo.MetaEndpoints: `[{"port":"x"}]`, dubbo.MetaServiceURLParams: `{"port":25001}`}}
	if _, err := in.Endpoints(); !errors.Is(err, dubbo.ErrInvalidInstance) || !strings.Contains(err.Error(), dubbo.MetaEndpoints) {
		t.Errorf("Endpoints = %v, want ErrInvalidInstance naming the key", err)
	}
	if _, err := in.URLParams(); !errors.Is(err, dubbo.ErrInvalidInstance) || !strings.Contains(err.Error(), dubbo.MetaServiceURLParams) {
		t.Errorf("URLParams = %v, want ErrInvalidInstance naming the key", err)
	}
	none := dubbo.AppInstance{}
	if eps, err := none.Endpoints(); eps != nil || err != nil {
		t.Errorf("Endpoints without the key = %v, %v", eps, err)
	}
	if p, err := none.URLParams(); p != nil || err != nil {
		t.Errorf("URLParams without the key = %v, %v", p, err)
	}
}

// What Tianshu announces has the six keys a Java provider writes, with the values a Java
// consumer needs to call MetadataServiceV2 on the instance's port.
func TestNewAppInstanceAnnouncesWhatJavaDoes(t *testing.T) {
	started := time.UnixMilli(1796657247341)
	in, err := dubbo.NewAppInstance("greeter", "127.0.0.1", 25003, "1bd3876a5d159b48b89ff9b35f1f23e2", started)
	if err != nil {
		t.Fatal(err)
	}
	java, _ := dubbo.ParseAppInstance([]byte(javaNode))
	if got, want := keys(in.Metadata), keys(java.Metadata); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("metadata keys %v, want Java's %v", got, want)
	}
	if in.ID != "127.0.0.1:25003" || in.Metadata[dubbo.MetaTimestamp] != "1796657247341" ||
		in.Metadata[dubbo.MetaVersion] != "2.0.0" || in.Metadata[dubbo.MetaStorageType] != "local" {
		t.Errorf("NewAppInstance = %+v", in)
	}
	p, err := in.URLParams()
	if err != nil || p["port"] != "25003" || p["protocol"] != "tri" || p["version"] != "2.0.0" {
		t.Errorf("URLParams = %v, %v", p, err)
	}
	eps, err := in.Endpoints()
	if err != nil || len(eps) != 1 || eps[0] != (dubbo.Endpoint{Port: 25003, Protocol: "tri"}) {
		t.Errorf("Endpoints = %v, %v", eps, err)
	}
	data, err := in.MarshalCurator()
	if err != nil {
		t.Fatal(err)
	}
	var node map[string]any
	if err := json.Unmarshal(data, &node); err != nil {
		t.Fatal(err)
	}
	payload, _ := node["payload"].(map[string]any)
	if payload["@class"] != dubbo.ZookeeperInstanceClass || node["serviceType"] != "DYNAMIC" {
		t.Errorf("node %s lacks what Curator's Java reader needs", data)
	}
	back, err := dubbo.ParseAppInstance(data)
	if err != nil || !maps.Equal(back.Metadata, in.Metadata) || back.ID != in.ID || !back.Registered.IsZero() {
		t.Errorf("read back %+v, %v; want %+v", back, err, in)
	}
	for _, bad := range []struct {
		app, host string
		port      int
		rev       string
	}{{"", "h", 1, "r"}, {"a", "", 1, "r"}, {"a", "h", 0, "r"}, {"a", "h", 65536, "r"}, {"a", "h", 1, ""}} {
		if _, err := dubbo.NewAppInstance(bad.app, bad.host, bad.port, bad.rev, started); !errors.Is(err, dubbo.ErrInvalidInstance) {
			t.Errorf("NewAppInstance(%q, %q, %d, %q) = %v, want ErrInvalidInstance", bad.app, bad.host, bad.port, bad.rev, err)
		}
	}
}

// FuzzParseAppInstance: the decoder never panics; what it refuses wraps ErrInvalidInstance;
// what it accepts encodes and reads back as the same instance.
func FuzzParseAppInstance(f *testing.F) {
	f.Add([]byte(javaNode))
	f.Add([]byte(`{"name":"a","address":"::1","port":1,"payload":null,"registrationTimeUTC":-1}`))
	f.Add([]byte(`{"name":"a","id":"x","address":"h","port":65535,"payload":{"metadata":{"<&>":"\u0000"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := dubbo.ParseAppInstance(data)
		if err != nil {
			if !errors.Is(err, dubbo.ErrInvalidInstance) {
				t.Fatalf("error %v does not wrap ErrInvalidInstance", err)
			}
			return
		}
		out, err := in.MarshalCurator()
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", data, err)
		}
		back, err := dubbo.ParseAppInstance(out)
		if err != nil {
			t.Fatalf("cannot read back %s: %v", out, err)
		}
		if back.App != in.App || back.ID != in.ID || back.Host != in.Host || back.Port != in.Port ||
			!back.Registered.Equal(in.Registered) || !maps.Equal(back.Metadata, in.Metadata) {
			t.Fatalf("read back %+v, want %+v", back, in)
		}
	})
}

func ExampleParseAppInstance() {
	in, err := dubbo.ParseAppInstance([]byte(javaNode))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := in.URLParams()
	fmt.Println(in.App, in.ID, in.Revision(), p["protocol"], p["port"])
	// Output: tianshu-interop-java-provider 127.0.0.1:25001 dcc7a4579b568a0d538bd134170f53ec tri 25001
}

func ExampleNewAppInstance() {
	m := dubbo.NewMetadataInfo("greeter", dubbo.ServiceInfo{Name: "org.example.Greeter", Protocol: "tri",
		Port: 50051, Path: "org.example.Greeter", Params: map[string]string{"side": "provider"}})
	in, err := dubbo.NewAppInstance("greeter", "127.0.0.1", 50051, m.Revision(), time.UnixMilli(1700000000000))
	if err != nil {
		fmt.Println(err)
		return
	}
	in.Registered = time.UnixMilli(1700000000123)
	data, _ := in.MarshalCurator() // the data of /services/greeter/127.0.0.1:50051
	fmt.Println(string(data))
	// Output: {"name":"greeter","id":"127.0.0.1:50051","address":"127.0.0.1","port":50051,"sslPort":null,"payload":{"@class":"org.apache.dubbo.registry.zookeeper.ZookeeperInstance","id":"127.0.0.1:50051","name":"greeter","metadata":{"dubbo.endpoints":"[{\"port\":50051,\"protocol\":\"tri\"}]","dubbo.metadata-service.url-params":"{\"dubbo\":\"2.0.2\",\"port\":\"50051\",\"protocol\":\"tri\",\"release\":\"tianshu-0.1.0-dev\",\"side\":\"provider\",\"version\":\"2.0.0\"}","dubbo.metadata.revision":"9771c84e2b8c24a6ecf8dfb7c5a53d6d","dubbo.metadata.storage-type":"local","meta-v":"2.0.0","timestamp":"1700000000000"}},"registrationTimeUTC":1700000000123,"serviceType":"DYNAMIC","uriSpec":null}
}

package nacos

import (
	"errors"
	"net/url"
	"testing"

	"github.com/nacos-group/nacos-sdk-go/v2/model"

	"github.com/tianshu-go/tianshu/registry"
)

func sample() *registry.Instance {
	return &registry.Instance{
		ID: "i-1", Service: "orders", Version: "v1.2.3", Zone: "zone-a", Weight: 50,
		Endpoints: []registry.Endpoint{{Scheme: "http", Host: "::1", Port: 8080}, {Scheme: "grpc", Host: "10.0.0.5", Port: 9000}},
		Metadata:  map[string]string{"env": "prod"},
	}
}

func TestInstanceRoundTrip(t *testing.T) {
	o := defaults()
	tests := []struct {
		name  string
		extra map[string]string
	}{
		{"a plain instance comes back equal", nil},
		{"an instance with Dubbo parameters comes back without them", (&options{dubbo: &dubboNaming{"1.0", "g"}}).dubboParams(sample())},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sample()
			h, err := toNacos(in, o.cluster, tc.extra)
			if err != nil {
				t.Fatal(err)
			}
			if h.Ip != "10.0.0.5" || h.Port != 9000 {
				t.Errorf("Nacos address = %s:%d, want the gRPC endpoint 10.0.0.5:9000", h.Ip, h.Port)
			}
			if !h.Enable || !h.Healthy || !h.Ephemeral || h.Weight != 50 || h.ClusterName != DefaultCluster {
				t.Errorf("zero values leaked: %+v", h)
			}
			got, err := fromNacos("orders", h)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(in) {
				t.Errorf("round trip = %+v, want %+v", got, in)
			}
		})
	}
}

func TestUserMetadataWinsOverDubboParameters(t *testing.T) {
	in := sample()
	in.Metadata["side"] = "mine"
	h, err := toNacos(in, DefaultCluster, map[string]string{"side": "provider", "dubbo": "2.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := fromNacos("orders", h)
	if got.Metadata["side"] != "mine" || got.Metadata["dubbo"] != "" {
		t.Errorf("metadata read back = %v; want side=mine and no dubbo key", got.Metadata)
	}
}

func TestReservedMetadataPrefixIsRejected(t *testing.T) {
	in := sample()
	in.Metadata[MetaID] = "spoof"
	if _, err := toNacos(in, DefaultCluster, nil); !errors.Is(err, registry.ErrInvalidInstance) {
		t.Fatalf("toNacos with a tianshu.* key = %v, want ErrInvalidInstance", err)
	}
}

func TestForeignInstancesAreReadByConvention(t *testing.T) {
	tests := []struct {
		name   string
		h      model.Instance
		id     string
		first  registry.Endpoint
		verErr bool
	}{
		{"a Dubbo provider gets its protocol as scheme",
			model.Instance{Ip: "10.0.0.1", Port: 20880, Weight: 100, Metadata: map[string]string{"side": "provider", "protocol": "tri"}},
			"10.0.0.1:20880", registry.Endpoint{Scheme: "tri", Host: "10.0.0.1", Port: 20880}, false},
		{"a Spring app with gRPC_port gets a grpc endpoint first",
			model.Instance{Ip: "10.0.0.2", Port: 8080, Weight: 1, Metadata: map[string]string{"gRPC_port": "9090"}},
			"10.0.0.2:8080", registry.Endpoint{Scheme: "grpc", Host: "10.0.0.2", Port: 9090}, false},
		{"a secure app outside the default cluster is https with the cluster in its ID",
			model.Instance{Ip: "10.0.0.3", Port: 8443, Weight: 1, ClusterName: "east", Metadata: map[string]string{"secure": "true"}},
			"east@10.0.0.3:8443", registry.Endpoint{Scheme: "https", Host: "10.0.0.3", Port: 8443}, false},
		{"an entry with a bad endpoint is refused",
			model.Instance{Ip: "10.0.0.4", Port: 1, Weight: 1, Metadata: map[string]string{MetaID: "x", MetaEndpoints: "grpc://h:0"}},
			"", registry.Endpoint{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fromNacos("svc", tc.h)
			if tc.verErr {
				if err == nil {
					t.Fatalf("fromNacos = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tc.id || got.Endpoints[0] != tc.first {
				t.Errorf("read as ID %q endpoints %v; want %q first %v", got.ID, got.Endpoints, tc.id, tc.first)
			}
		})
	}
}

func TestUnusableInstancesAreNotListed(t *testing.T) {
	for _, h := range []model.Instance{
		{Enable: false, Healthy: true, Weight: 1},
		{Enable: true, Healthy: false, Weight: 1},
		{Enable: true, Healthy: true, Weight: 0},
	} {
		if usable(h) {
			t.Errorf("usable(%+v) = true", h)
		}
	}
}

func TestParseURL(t *testing.T) {
	good := "nacos://u:p@127.0.0.1:8848,127.0.0.2:8848/dev?group=G&cluster=C&clusters=east,west&cache_dir=/tmp/x&timeout=2s&naming=dubbo&dubbo_version=1.0"
	u, _ := url.Parse(good)
	servers, opts, err := ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	if len(servers) != 2 || o.namespace != "dev" || o.group != "G" || o.cluster != "C" || o.dir != "/tmp/x" ||
		len(o.clusters) != 2 || o.clusters[0] != "east" || o.clusters[1] != "west" ||
		o.username != "u" || o.password != "p" || o.timeout.Seconds() != 2 || o.dubbo == nil || o.dubbo.version != "1.0" {
		t.Errorf("ParseURL(%s) = %v, %+v", good, servers, o)
	}
	for _, bad := range []string{
		"etcd://127.0.0.1:8848",
		"nacos:///dev",
		"nacos://127.0.0.1:99999/dev",
		"nacos://:8848/dev",
		"nacos://127.0.0.1:65000/dev",
		"nacos://127.0.0.1:8848/a/b",
		"nacos://127.0.0.1:8848/?colour=red",
		"nacos://127.0.0.1:8848/?timeout=soon",
		"nacos://127.0.0.1:8848/?naming=grpc",
		"nacos://127.0.0.1:8848/?dubbo_group=g",
		"nacos://127.0.0.1:8848/?password=secret&colour=red",
	} {
		u, _ := url.Parse(bad)
		_, _, err := ParseURL(u)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("ParseURL(%s) = %v, want ErrInvalidConfig", bad, err)
		}
		if err != nil && containsSecret(err.Error()) {
			t.Errorf("error for %s shows the password: %v", bad, err)
		}
	}
}

func containsSecret(s string) bool {
	for i := 0; i+6 <= len(s); i++ {
		if s[i:i+6] == "secret" {
			return true
		}
	}
	return false
}

// FuzzFromNacos feeds entries as other Nacos clients (Dubbo, Spring Cloud Alibaba, a hand
// edit in the console) may have written them: reading one either gives a valid instance or
// an error wrapping ErrInvalidInstance, never a panic, and a Tianshu entry reads back as
// what was written.
func FuzzFromNacos(f *testing.F) {
	f.Add("10.0.0.1", uint16(20880), 1.0, "DEFAULT", "side", "provider", "protocol", "tri")
	f.Add("10.0.0.3", uint16(8443), 0.0, "east", "secure", "true", "gRPC_port", "9090")
	f.Add("::1", uint16(8080), 2.5, "", MetaID, "i-1", MetaEndpoints, "grpc://[::1]:9000,http://[::1]:8080")
	f.Add("127.0.0.1", uint16(0), -1.0, "c", MetaID, "", MetaEndpoints, "bad")
	f.Fuzz(func(t *testing.T, ip string, port uint16, weight float64, cluster, k1, v1, k2, v2 string) {
		h := model.Instance{Ip: ip, Port: uint64(port), Weight: weight, ClusterName: cluster,
			Metadata: map[string]string{k1: v1, k2: v2}}
		in, err := fromNacos("orders", h)
		if err != nil {
			if !errors.Is(err, registry.ErrInvalidInstance) {
				t.Fatalf("fromNacos(%+v) = %v, not an ErrInvalidInstance", h, err)
			}
			return
		}
		if err := in.Validate(); err != nil || in.Service != "orders" || in.Weight <= 0 {
			t.Fatalf("fromNacos(%+v) = %+v, which is not a valid instance of orders: %v", h, in, err)
		}
		back, err := toNacos(in, DefaultCluster, nil)
		if err != nil {
			t.Fatalf("toNacos of the instance read from %+v: %v", h, err)
		}
		again, err := fromNacos("orders", back)
		if err != nil || again.ID != in.ID || len(again.Endpoints) != len(in.Endpoints) {
			t.Fatalf("re-reading %+v gave %+v, %v", in, again, err)
		}
	})
}

package eureka

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tianshu-go/tianshu/registry"
)

// An application in the shape Eureka 2.0.6 returns a Spring Boot application's
// registration (Spring's default instanceId, prefer-ip-address, a Java gRPC starter's
// port), beside a DOWN instance whose empty metadata map is written as Jackson's type tag.
const springApp = `{"application":{"name":"GREETER","instance":[
{"instanceId":"10.0.0.7:greeter:8080","hostName":"10.0.0.7","app":"GREETER","ipAddr":"10.0.0.7",
"status":"UP","overriddenStatus":"UNKNOWN","port":{"$":8080,"@enabled":"true"},
"securePort":{"$":443,"@enabled":"false"},"countryId":1,
"dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"},
"leaseInfo":{"renewalIntervalInSecs":30,"durationInSecs":90},
"metadata":{"management.port":"8080","zone":"z1","gRPC_port":"9090"},
"homePageUrl":"http://10.0.0.7:8080/","vipAddress":"greeter","isCoordinatingDiscoveryServer":"false",
"lastUpdatedTimestamp":"1700000000000","lastDirtyTimestamp":"1700000000000","actionType":"ADDED"},
{"instanceId":"down-1","hostName":"10.0.0.8","app":"GREETER","status":"DOWN","port":{"$":8080,"@enabled":true},
"metadata":{"@class":"java.util.Collections$EmptyMap"}}]}}`

func TestSpringInstancesAreReadFromTheirPorts(t *testing.T) {
	app, err := parseApplication([]byte(springApp))
	if err != nil {
		t.Fatal(err)
	}
	up, ok, err := decodeInstance("greeter", app.Instance[0])
	if err != nil || !ok {
		t.Fatalf("decode = %v, %v, %v", up, ok, err)
	}
	want := &registry.Instance{
		ID: "10.0.0.7:greeter:8080", Service: "greeter", Zone: "z1",
		Endpoints: []registry.Endpoint{{Scheme: "http", Host: "10.0.0.7", Port: 8080}, {Scheme: "grpc", Host: "10.0.0.7", Port: 9090}},
		Metadata:  map[string]string{"management.port": "8080"},
	}
	if !up.Equal(want) {
		t.Errorf("decoded %+v\nwant    %+v", up, want)
	}
	if _, ok, err := decodeInstance("greeter", app.Instance[1]); ok || err != nil {
		t.Errorf("a DOWN instance decoded as ok=%v err=%v; want skipped", ok, err)
	}
	if len(app.Instance[1].Metadata) != 0 {
		t.Errorf("empty metadata read as %v", app.Instance[1].Metadata)
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	o, err := newOptions(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []*registry.Instance{
		{ID: "a", Service: "Orders", Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "::1", Port: 1}}},
		{ID: "b:1", Service: "orders", Version: "v1", Weight: 5, Zone: "z", Metadata: map[string]string{"k": "v"},
			Endpoints: []registry.Endpoint{{Scheme: "https", Host: "h.example", Port: 8443}, {Scheme: "grpcs", Host: "h.example", Port: 9443}}},
	} {
		info, err := encodeInstance(in, &o, StatusUp, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		var back instanceJSON
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		got, ok, err := decodeInstance(in.Service, &back)
		if err != nil || !ok || !got.Equal(in) {
			t.Errorf("round trip of %+v through %s = %+v, %v, %v", in, b, got, ok, err)
		}
	}
}

func TestReconcileHashIsEurekas(t *testing.T) {
	apps := map[string]map[string]*instanceJSON{
		"A": {"1": {Status: StatusUp}, "2": {Status: StatusDown}},
		"B": {"3": {Status: StatusUp}, "4": {Status: StatusOutOfService}, "5": {Status: StatusUp}},
	}
	if got, want := reconcileHash(apps), "DOWN_1_OUT_OF_SERVICE_1_UP_3_"; got != want {
		t.Errorf("hash = %q, want %q", got, want)
	}
	if got := reconcileHash(nil); got != "" {
		t.Errorf("hash of nothing = %q, want \"\" (what an empty server sends)", got)
	}
}

func TestMalformedResponsesAreErrBadResponse(t *testing.T) {
	for _, body := range []string{``, `{`, `[]`, `{}`, `{"applications":null}`, `{"applications":{"application":[null]}}`,
		`{"applications":{"application":[{"name":"A","instance":[null]}]}}`, `{"applications":{"application":"x"}}`} {
		if _, err := parseApplications([]byte(body)); !errors.Is(err, ErrBadResponse) {
			t.Errorf("parseApplications(%q) = %v; want ErrBadResponse", body, err)
		}
	}
	// A single application written without its array, as older converters do.
	apps, err := parseApplications([]byte(`{"applications":{"apps__hashcode":"UP_1_","application":{"name":"A","instance":{"instanceId":"1","status":"UP"}}}}`))
	if err != nil || len(apps.Application) != 1 || len(apps.Application[0].Instance) != 1 {
		t.Errorf("single-object application = %+v, %v", apps, err)
	}
}

// FuzzParseApplications: the parser never panics, refuses with ErrBadResponse, and what it
// accepts decodes into valid instances or errors, never panics.
func FuzzParseApplications(f *testing.F) {
	f.Add([]byte(`{"applications":{"versions__delta":"1","apps__hashcode":"UP_1_","application":[]}}`))
	f.Add([]byte(`{"applications":{"application":[` + springApp[len(`{"application":`):len(springApp)-1] + `]}}`))
	if seeds, err := filepath.Glob(filepath.Join("testdata", "*.json")); err == nil {
		for _, s := range seeds {
			if b, err := os.ReadFile(s); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		apps, err := parseApplications(b)
		if err != nil {
			if !errors.Is(err, ErrBadResponse) {
				t.Fatalf("error %v does not wrap ErrBadResponse", err)
			}
			return
		}
		for _, app := range apps.Application {
			for _, info := range app.Instance {
				in, ok, err := decodeInstance("svc", info)
				if ok && (err != nil || in.Validate() != nil) {
					t.Fatalf("decoded an invalid instance %+v (%v)", in, err)
				}
			}
		}
		_ = reconcileHash(map[string]map[string]*instanceJSON{})
	})
}

package eureka_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/eureka"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// rawApp returns the application as the server stores it, decoded loosely.
func rawApp(t *testing.T, eurekaURL, app string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctxFor(t), http.MethodGet, eurekaURL+"/apps/"+app, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("GET apps/%s: %v: %s", app, err, b)
		}
	}
	return resp.StatusCode, doc
}

// rawInstances returns the instances of the application by ID.
func rawInstances(t *testing.T, eurekaURL, app string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	code, doc := rawApp(t, eurekaURL, app)
	if code != http.StatusOK {
		return out
	}
	for _, in := range doc["application"].(map[string]any)["instance"].([]any) {
		m := in.(map[string]any)
		out[m["instanceId"].(string)] = m
	}
	return out
}

func eventually(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRegisteredInstanceIsWhatSpringExpects checks the InstanceInfo as Eureka stores it
// against what Spring Cloud's clients read: the upper-cased app, an enabled HTTP port on the
// HTTP endpoint, the VIP address Spring looks services up by, MyOwn data centre, the lease,
// URLs, and the Tianshu endpoints in the metadata.
func TestRegisteredInstanceIsWhatSpringExpects(t *testing.T) {
	srv := springServers.Get(t)
	r := open(t, []string{srv.EurekaURL})
	svc := "shape-" + strings.ToLower(registrytest.ServiceName(t)[len(registrytest.ServiceName(t))-8:])
	in := &registry.Instance{
		ID: "shape-1", Service: svc, Version: "v2", Weight: 30, Zone: "z1",
		Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.1", Port: 9000}, {Scheme: "http", Host: "127.0.0.1", Port: 8080}},
		Metadata:  map[string]string{"team": "a"},
	}
	grpcOnly := &registry.Instance{ID: "shape-2", Service: svc, Endpoints: []registry.Endpoint{{Scheme: "grpc", Host: "127.0.0.2", Port: 9001}}}
	for _, x := range []*registry.Instance{in, grpcOnly} {
		if err := r.Register(ctxFor(t), x); err != nil {
			t.Fatal(err)
		}
	}
	got := rawInstances(t, srv.EurekaURL, strings.ToUpper(svc))
	a, b := got["shape-1"], got["shape-2"]
	if a == nil || b == nil {
		t.Fatalf("instances stored: %v", got)
	}
	check := func(m map[string]any, key string, want any) {
		t.Helper()
		if g := m[key]; g != want {
			t.Errorf("%s: %s = %#v, want %#v", m["instanceId"], key, g, want)
		}
	}
	check(a, "app", strings.ToUpper(svc))
	check(a, "vipAddress", svc)
	check(a, "secureVipAddress", svc)
	check(a, "hostName", "127.0.0.1")
	check(a, "ipAddr", "127.0.0.1")
	check(a, "status", "UP")
	check(a, "homePageUrl", "http://127.0.0.1:8080/")
	check(a, "healthCheckUrl", "http://127.0.0.1:8080/healthz")
	port := a["port"].(map[string]any)
	if port["$"] != 8080.0 || port["@enabled"] != "true" {
		t.Errorf("port = %v; want 8080 enabled", port)
	}
	if sp := a["securePort"].(map[string]any); sp["@enabled"] != "false" {
		t.Errorf("securePort = %v; want disabled", sp)
	}
	if dc := a["dataCenterInfo"].(map[string]any); dc["name"] != "MyOwn" {
		t.Errorf("dataCenterInfo = %v", dc)
	}
	if li := a["leaseInfo"].(map[string]any); li["renewalIntervalInSecs"] != 1.0 || li["durationInSecs"] != 2.0 {
		t.Errorf("leaseInfo = %v; want the fast options' 1 s and 2 s", li)
	}
	meta := a["metadata"].(map[string]any)
	for k, v := range map[string]string{"tianshu.endpoints": "grpc://127.0.0.1:9000,http://127.0.0.1:8080", "tianshu.version": "v2", "tianshu.weight": "30", "zone": "z1", "gRPC_port": "9000", "team": "a"} {
		if meta[k] != v {
			t.Errorf("metadata[%s] = %v, want %s", k, meta[k], v)
		}
	}
	// A gRPC-only instance offers Spring no HTTP port: both are disabled.
	if p := b["port"].(map[string]any); p["$"] != 9001.0 || p["@enabled"] != "false" {
		t.Errorf("gRPC-only port = %v; want 9001 disabled", p)
	}
	if _, ok := b["homePageUrl"]; ok {
		t.Errorf("gRPC-only instance has a home page URL %v", b["homePageUrl"])
	}

	list, err := r.GetService(ctxFor(t), svc)
	if err != nil || len(list) != 2 || !list[0].Equal(in) || !list[1].Equal(grpcOnly) {
		t.Fatalf("GetService = %v, %v; want the two instances as registered", registrytest.IDs(list), err)
	}
}

func TestReservedMetadataKeysAreRefused(t *testing.T) {
	r := open(t, []string{"http://127.0.0.1:1/eureka"})
	for _, k := range []string{"tianshu.endpoints", "tianshu.x", "zone", "gRPC_port", "@class"} {
		in := registrytest.NewInstance("svc", "a", 7001)
		in.Metadata[k] = "x"
		if err := r.Register(ctxFor(t), in); !errors.Is(err, registry.ErrInvalidInstance) {
			t.Errorf("Register with metadata %q = %v; want ErrInvalidInstance", k, err)
		}
	}
}

// TestOnlyUpInstancesAreDiscovered moves an instance through the four statuses and checks
// that watchers and GetService list it only while UP, and that Eureka holds the status.
func TestOnlyUpInstancesAreDiscovered(t *testing.T) {
	srv := springServers.Get(t)
	prov := open(t, []string{srv.EurekaURL}, eureka.WithInitialStatus(eureka.StatusStarting))
	cons := open(t, []string{srv.EurekaURL})
	svc := registrytest.ServiceName(t)
	in := registrytest.NewInstance(svc, "s-1", 7001)
	other := registrytest.NewInstance(svc, "s-0", 7000)
	if err := prov.Register(ctxFor(t), in); err != nil {
		t.Fatal(err)
	}
	if err := prov.SetStatus(ctxFor(t), other, eureka.StatusUp); !errors.Is(err, eureka.ErrNotRegistered) {
		t.Errorf("SetStatus of an instance not registered = %v; want ErrNotRegistered", err)
	}
	if err := prov.SetStatus(ctxFor(t), in, "SLEEPING"); !errors.Is(err, eureka.ErrInvalidStatus) {
		t.Errorf("SetStatus(SLEEPING) = %v; want ErrInvalidStatus", err)
	}
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(5*time.Second, "nothing while STARTING", registrytest.HasIDs())
	status := func() any { return rawInstances(t, srv.EurekaURL, strings.ToUpper(svc))["s-1"]["status"] }
	if s := status(); s != "STARTING" {
		t.Fatalf("status in Eureka = %v, want STARTING", s)
	}
	steps := []struct {
		s    eureka.Status
		want []string
	}{
		{eureka.StatusUp, []string{"s-1"}},
		{eureka.StatusOutOfService, nil},
		{eureka.StatusUp, []string{"s-1"}},
		{eureka.StatusDown, nil},
		{eureka.StatusUp, []string{"s-1"}},
	}
	for _, st := range steps {
		if err := prov.SetStatus(ctxFor(t), in, st.s); err != nil {
			t.Fatalf("SetStatus(%s): %v", st.s, err)
		}
		f.Until(10*time.Second, "the list after "+string(st.s), registrytest.HasIDs(st.want...))
		if s := status(); s != string(st.s) {
			t.Fatalf("status in Eureka after SetStatus(%s) = %v", st.s, s)
		}
		list, err := cons.GetService(ctxFor(t), svc)
		if err != nil || !registrytest.HasIDs(st.want...)(list) {
			t.Fatalf("GetService after %s = %v, %v; want %v", st.s, registrytest.IDs(list), err, st.want)
		}
	}
	// The renewals go on under every status: after several lease durations the instance
	// is still there.
	time.Sleep(5 * time.Second)
	if s := status(); s != "UP" {
		t.Fatalf("status after 5 s of renewals = %v, want UP", s)
	}
}

// TestDeltasKeepTheCopyWithoutFullFetches: after the first full fetch, changes arrive by
// deltas whose hash matches the copy, so no further full fetch is needed.
func TestDeltasKeepTheCopyWithoutFullFetches(t *testing.T) {
	srv := springServers.Get(t)
	prov, cons := open(t, []string{srv.EurekaURL}), open(t, []string{srv.EurekaURL})
	svc := registrytest.ServiceName(t)
	w, err := cons.Watch(ctxFor(t), svc)
	if err != nil {
		t.Fatal(err)
	}
	f := registrytest.NewFollow(t, w)
	f.Until(5*time.Second, "empty", registrytest.HasIDs())
	for i, id := range []string{"a", "b", "c"} {
		if err := prov.Register(ctxFor(t), registrytest.NewInstance(svc, id, 7001+i)); err != nil {
			t.Fatal(err)
		}
	}
	f.Until(10*time.Second, "a, b, c", registrytest.HasIDs("a", "b", "c"))
	if err := prov.SetStatus(ctxFor(t), registrytest.NewInstance(svc, "b", 7002), eureka.StatusDown); err != nil {
		t.Fatal(err)
	}
	if err := prov.Deregister(ctxFor(t), registrytest.NewInstance(svc, "c", 7003)); err != nil {
		t.Fatal(err)
	}
	f.Until(10*time.Second, "a alone", registrytest.HasIDs("a"))
	full, delta := eureka.FetchCounts(cons)
	if full != 1 || delta < 1 {
		t.Errorf("%d full and %d delta fetches; want 1 full fetch and the rest deltas", full, delta)
	}
}

// TestRequestsFailOverToTheNextServer: a first server URL that refuses connections, and one
// that is not Eureka at all (5xx), are passed over for the one that answers.
func TestRequestsFailOverToTheNextServer(t *testing.T) {
	srv := springServers.Get(t)
	broken := newStatusServer(t, http.StatusServiceUnavailable)
	r := open(t, []string{"http://127.0.0.1:1/eureka", broken, srv.EurekaURL})
	cons := open(t, []string{srv.EurekaURL})
	svc := registrytest.ServiceName(t)
	if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001)); err != nil {
		t.Fatal(err)
	}
	if !r.Healthy() {
		t.Error("Healthy() = false after a request that a server answered")
	}
	list, err := cons.GetService(ctxFor(t), svc)
	if err != nil || !registrytest.HasIDs("a")(list) {
		t.Fatalf("GetService = %v, %v", registrytest.IDs(list), err)
	}
	down := open(t, []string{"http://127.0.0.1:1/eureka", broken})
	if _, err := down.GetService(ctxFor(t), svc); !errors.Is(err, registry.ErrUnavailable) {
		t.Fatalf("GetService with no server answering = %v; want ErrUnavailable", err)
	}
	if down.Healthy() {
		t.Error("Healthy() = true with no server answering")
	}
}

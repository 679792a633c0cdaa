package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/examples/shop/internal/api"
	"github.com/tianshu-go/tianshu/examples/shop/internal/front"
	"github.com/tianshu-go/tianshu/examples/shop/internal/kit"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/rest"
)

// Two API processes on the file registry, called by name through the demo's rest.Client:
// each registers an http endpoint, both answer http://shop-api/, and once one has left the
// registry (SIGTERM: deregister, wait, drain, exit) every request goes to the other.
func TestAPIInstancesAreCalledByNameAndNotOnceTheyLeave(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dir := t.TempDir()
	if err := writeConfigs(dir); err != nil {
		t.Fatal(err)
	}
	regURL := "file://" + filepath.Join(dir, "registry")
	reg, err := registry.Open(ctx, regURL)
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	fl := &fleet{exe: os.Args[0], dir: dir,
		env: []string{"SHOP_DEMO_TEST_CHILD=1", "SHOP_REGISTRY=" + regURL}}
	defer fl.stop(15 * time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			for _, id := range []string{"shop-api-1", "shop-api-2"} {
				t.Logf("%s.log ends:\n%s", id, tail(filepath.Join(dir, "logs", id+".log"), 20))
			}
		}
	})
	for _, id := range []string{"shop-api-1", "shop-api-2"} {
		if _, err := fl.start(api.Service, id); err != nil {
			t.Fatal(err)
		}
	}

	// Registered: each with an http endpoint and its admin URL.
	var list []*registry.Instance
	for deadline := time.Now().Add(time.Minute); len(list) < 2; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the registry lists %d API instances after a minute, want 2", len(list))
		}
		list, _ = reg.GetService(ctx, api.Service)
	}
	for _, in := range list {
		if len(in.Endpoints) != 1 || in.Endpoints[0].Scheme != rest.SchemeHTTP || in.Metadata[kit.AdminKey] == "" {
			t.Errorf("API instance %s: endpoints %v, metadata %v; want one http endpoint and the admin URL",
				in.ID, in.Endpoints, in.Metadata)
		}
	}

	// Without retries, so that a request sent to an instance that is gone fails and shows.
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client, err := newClient(reg, tr, rest.WithoutRetry())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	target := "http://" + api.Service
	answeredBy := func() (string, error) {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, target+"/status", nil)
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var st api.Status
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET %s/status: %s, %v", target, resp.Status, err)
		}
		return st.Instance, nil
	}

	seen := map[string]int{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		id, err := answeredBy()
		if err != nil {
			t.Fatal(err)
		}
		seen[id]++
	}
	if seen["shop-api-1"] == 0 || seen["shop-api-2"] == 0 {
		t.Fatalf("answers by instance %v: rest.Client did not reach both API instances by name", seen)
	}

	leaving := fl.find("shop-api-2")
	leaving.signal(syscall.SIGTERM)
	select {
	case <-leaving.done:
	case <-ctx.Done():
		t.Fatal("shop-api-2 did not stop after SIGTERM")
	}
	if list, _ := reg.GetService(ctx, api.Service); len(list) != 1 || list[0].ID != "shop-api-1" {
		t.Fatalf("after shop-api-2 stopped the registry lists %v, want shop-api-1 alone", list)
	}
	for i := range 50 {
		id, err := answeredBy()
		if err != nil {
			t.Fatalf("request %d after shop-api-2 left: %v", i, err)
		}
		if id != "shop-api-1" {
			t.Fatalf("request %d after shop-api-2 left was answered by %s", i, id)
		}
	}
}

// A front door or an API instance whose address is taken exits at once, and its error says
// which setting to change.
func TestAnInstanceOnATakenAddressSaysWhichSettingToChange(t *testing.T) {
	for _, tt := range []struct{ service, env string }{
		{front.Service, "SHOP_FRONT__HTTP"},
		{api.Service, "SHOP_API__HTTP"},
	} {
		t.Run(tt.service, func(t *testing.T) {
			dir := t.TempDir()
			if err := writeConfigs(dir); err != nil {
				t.Fatal(err)
			}
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			fl := &fleet{exe: os.Args[0], dir: dir, env: []string{"SHOP_DEMO_TEST_CHILD=1",
				"SHOP_REGISTRY=file://" + filepath.Join(dir, "registry"), tt.env + "=" + taken.Addr().String()}}
			defer fl.stop(15 * time.Second)
			c, err := fl.start(tt.service, tt.service+"-1")
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-c.done:
			case <-time.After(time.Minute):
				t.Fatal("the instance still runs a minute after it could not listen")
			}
			log := tail(c.logPath, 5)
			if !strings.Contains(log, "rest: cannot listen") || !strings.Contains(log, tt.env) {
				t.Errorf("the instance's log ends:\n%s\nwant rest.ErrListen naming %s", log, tt.env)
			}
		})
	}
}

// A front door whose routes do not validate does not start, and its error names the place
// of each fault: a typo in the routes stops a deploy rather than serving without them.
func TestAFrontDoorWithInvalidRoutesSaysWhereAndExits(t *testing.T) {
	dir := t.TempDir()
	if err := writeConfigs(dir); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "config", front.Service+".yaml")
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	broken, err := insertAfter(string(doc), routesAnchor, routesAnchor, brokenRoute)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	fl := &fleet{exe: os.Args[0], dir: dir, env: []string{"SHOP_DEMO_TEST_CHILD=1",
		"SHOP_REGISTRY=file://" + filepath.Join(dir, "registry"), "SHOP_FRONT__HTTP=127.0.0.1:0"}}
	defer fl.stop(15 * time.Second)
	c, err := fl.start(front.Service, "gateway-1")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		t.Fatal("the front door still runs a minute after reading invalid routes")
	}
	log := tail(c.logPath, 5)
	for _, want := range []string{"gateway: invalid routes", "routes[0].target", "neither service nor urls"} {
		if !strings.Contains(log, want) {
			t.Errorf("the front door's log ends:\n%s\nwant it to say %q", log, want)
		}
	}
	if c.cmd.ProcessState.Success() {
		t.Error("the front door exited 0")
	}
}

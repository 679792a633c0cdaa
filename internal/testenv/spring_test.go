package testenv_test

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/internal/testenv"
)

// get fetches u as JSON and returns the status and body.
func get(t *testing.T, u string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestSpringServers starts the servers once and checks what the tests built on them rely
// on: Eureka takes a registration and forgets it across a restart, and the Config Server
// serves the files written into ConfigDir, before and after.
func TestSpringServers(t *testing.T) {
	start := time.Now()
	s := testenv.StartSpringServers(t)
	t.Logf("the Spring servers answered %v after the start", time.Since(start).Round(time.Millisecond))
	if rss, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(s.Pid()), "status")); err == nil {
		for _, line := range strings.Split(string(rss), "\n") {
			if strings.HasPrefix(line, "VmRSS:") {
				t.Logf("JVM %s", strings.Join(strings.Fields(line), " "))
			}
		}
	}

	if err := os.WriteFile(filepath.Join(s.ConfigDir, "orders-dev.properties"), []byte("greeting=hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	checkConfig := func() {
		t.Helper()
		code, body := get(t, s.ConfigURL+"/orders/dev")
		var env struct {
			PropertySources []struct {
				Source map[string]any `json:"source"`
			} `json:"propertySources"`
		}
		if code != http.StatusOK || json.Unmarshal(body, &env) != nil || len(env.PropertySources) == 0 || env.PropertySources[0].Source["greeting"] != "hello" {
			t.Fatalf("GET %s/orders/dev = %d %s; want greeting=hello from ConfigDir", s.ConfigURL, code, body)
		}
	}
	checkConfig()

	reg := `{"instance":{"instanceId":"probe-1","hostName":"127.0.0.1","app":"PROBE","ipAddr":"127.0.0.1",
		"status":"UP","port":{"$":8080,"@enabled":"true"},"vipAddress":"probe",
		"dataCenterInfo":{"@class":"com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo","name":"MyOwn"}}}`
	resp, err := http.Post(s.EurekaURL+"/apps/PROBE", "application/json", strings.NewReader(reg))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("register: %s, want 204", resp.Status)
	}
	if code, body := get(t, s.EurekaURL+"/apps/PROBE"); code != http.StatusOK || !strings.Contains(string(body), "probe-1") {
		t.Fatalf("GET apps/PROBE = %d %s; want the registered instance", code, body)
	}

	start = time.Now()
	s.Restart(t, true)
	t.Logf("a hard restart took %v", time.Since(start).Round(time.Millisecond))
	if code, _ := get(t, s.EurekaURL+"/apps/PROBE"); code != http.StatusNotFound {
		t.Fatalf("GET apps/PROBE after a restart = %d; want 404 (Eureka keeps registrations in memory)", code)
	}
	checkConfig()
}

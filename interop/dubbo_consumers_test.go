package interop_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/tianshu-go/tianshu/dubbo"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/interop/interoppb"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/rpc"
)

// javaOnlyConsumerKeys are the parameters of a Java consumer's entry that a Tianshu
// consumer's entry lacks, each for the reason interop/README.md gives. The test fails when
// the Java peer writes another one, so that the table there stays true.
var javaOnlyConsumerKeys = []string{"background", "executor-management-mode", "file-cache", "logger", "methods",
	"proxy", "qos.enable", "register-mode", "retries", "revision", "sticky", "timeout", "unloadClusterRelated"}

// consumerEntries lists the consumer entries of the Greeter of group interop and version
// 1.0.0 that the backend holds, each as its parameters.
type consumerEntries func(t *testing.T) []map[string]string

func TestTianshuConsumerEntriesAreJavas(t *testing.T) {
	for _, b := range []struct {
		name  string
		start func(t *testing.T) (javaURL string, d registry.Discovery, entries consumerEntries)
	}{
		{"ZooKeeper", zkConsumers},
		{"Nacos", nacosConsumers},
	} {
		t.Run("through "+b.name, func(t *testing.T) {
			javaURL, d, entries := b.start(t)
			serveGreeter(t, d.(registry.Registrar), "tianshu-1.0.0", "interop", "1.0.0")
			// The Java consumer calls slowly until the test ends, so that its entry stays.
			t.Setenv("JAVA_TOOL_OPTIONS", "-Dpeer.interval-ms=200")
			java := startJava(t, "java-consumer", "consumer", javaURL, "interop", "1.0.0", "100000")
			waitForLine(t, java, "ANSWER", javaStartTimeout)

			conn, err := rpc.Dial(context.Background(), "tianshu:///"+greeterService,
				rpc.WithDiscovery(d), rpc.WithDubbo("interop", "1.0.0"), rpc.WithDialLogger(testLogger(t)))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			greetUntilServed(t, interoppb.NewGreeterClient(conn), "tianshu")

			var ours, theirs map[string]string
			deadline := time.Now().Add(30 * time.Second)
			for ours == nil || theirs == nil {
				if time.Now().After(deadline) {
					t.Fatalf("consumer entries = %v, want the Java consumer's and this process's", entries(t))
				}
				time.Sleep(100 * time.Millisecond)
				ours, theirs = nil, nil
				for _, e := range entries(t) {
					switch {
					case e["pid"] == strconv.Itoa(os.Getpid()):
						ours = e
					case e["application"] == "tianshu-interop-java-consumer":
						theirs = e
					}
				}
			}
			for k, v := range map[string]string{
				"application": "tianshu-interop", "category": "consumers", "side": "consumer",
				"interface": greeterService, "group": "interop", "version": "1.0.0", "release": dubbo.Release,
			} {
				if ours[k] != v {
					t.Errorf("Tianshu's entry: %s = %q, want %q", k, ours[k], v)
				}
			}
			var extra, lacking []string
			for k := range ours {
				if _, ok := theirs[k]; !ok {
					extra = append(extra, k)
				}
			}
			for k := range theirs {
				if _, ok := ours[k]; !ok {
					lacking = append(lacking, k)
				}
			}
			slices.Sort(extra)
			slices.Sort(lacking)
			t.Logf("the Java consumer writes %d parameters, Tianshu %d; Tianshu lacks %v", len(theirs), len(ours), lacking)
			if len(extra) > 0 {
				t.Errorf("Tianshu writes %v, which the Java consumer does not", extra)
			}
			if !slices.Equal(lacking, javaOnlyConsumerKeys) {
				t.Errorf("Tianshu lacks %v of the Java consumer's parameters; interop/README.md documents %v", lacking, javaOnlyConsumerKeys)
			}
			for _, k := range []string{"category", "side", "protocol", "check", "dubbo", "interface", "group", "version"} {
				if ours[k] != theirs[k] {
					t.Errorf("%s: Tianshu writes %q, Java %q", k, ours[k], theirs[k])
				}
			}

			_ = conn.Close()
			deadline = time.Now().Add(30 * time.Second)
			for slices.ContainsFunc(entries(t), func(e map[string]string) bool { return e["pid"] == strconv.Itoa(os.Getpid()) }) {
				if time.Now().After(deadline) {
					t.Fatal("Tianshu's consumer entry is still there 30 s after the connection closed")
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

func zkConsumers(t *testing.T) (string, registry.Discovery, consumerEntries) {
	javaURL, open := startZooKeeper(t)
	addr := strings.TrimPrefix(javaURL, "zookeeper://")
	c, events, err := zk.Connect([]string{addr}, 10*time.Second, zk.WithLogInfo(false))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range events { // go-zookeeper blocks when nobody reads its events
		}
	}()
	t.Cleanup(c.Close)
	entries := func(t *testing.T) []map[string]string {
		children, _, err := c.Children("/dubbo/" + greeterService + "/consumers")
		if err != nil {
			return nil
		}
		var out []map[string]string
		for _, name := range children {
			s, err := url.QueryUnescape(name)
			if err != nil {
				t.Fatalf("consumer node %s: %v", name, err)
			}
			out = append(out, queryParams(s))
		}
		return out
	}
	return javaURL, open(t, "interop", "1.0.0"), entries
}

func nacosConsumers(t *testing.T) (string, registry.Discovery, consumerEntries) {
	srv := testenv.StartNacos(t)
	r, err := nacos.New(context.Background(), []string{srv.Addr},
		nacos.WithDubboNaming("1.0.0", "interop"), nacos.WithApplication("tianshu-interop"), nacos.WithDubboConsumers(),
		nacos.WithDir(t.TempDir()), nacos.WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	testenv.AwaitNacosSDKEvents(t)
	entries := func(t *testing.T) []map[string]string {
		q := url.Values{"serviceName": {dubbo.NacosConsumerService(greeterService, "1.0.0", "interop")}, "groupName": {nacos.DefaultGroup}}
		resp, err := http.Get("http://" + srv.Addr + "/nacos/v1/ns/instance/list?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var list struct {
			Hosts []struct {
				Metadata map[string]string `json:"metadata"`
			} `json:"hosts"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
			return nil
		}
		var out []map[string]string
		for _, h := range list.Hosts {
			out = append(out, maps.Clone(h.Metadata))
		}
		return out
	}
	// Dubbo's Nacos registry lists consumers only with register-consumer-url=true.
	return "nacos://" + srv.Addr + "?register-consumer-url=true", r, entries
}

// queryParams returns the parameters of a Dubbo URL.
func queryParams(s string) map[string]string {
	_, q, _ := strings.Cut(s, "?")
	out := map[string]string{}
	for pair := range strings.SplitSeq(q, "&") {
		k, v, _ := strings.Cut(pair, "=")
		out[k] = v
	}
	return out
}

package dubbo_test

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/dubbo"
)

// javaConsumerURL is the consumer entry a Java Dubbo 3.3.5 consumer of the interop Greeter
// (protocol tri, group interop, version 1.0.0, FORCE_INTERFACE) wrote under
// /dubbo/tianshu.interop.v1.Greeter/consumers, decoded.
const javaConsumerURL = "tri://127.0.0.1/tianshu.interop.v1.Greeter?application=tianshu-interop-java-consumer" +
	"&background=false&category=consumers&check=false&dubbo=2.0.2&executor-management-mode=isolation" +
	"&file-cache=true&group=interop&interface=tianshu.interop.v1.Greeter&logger=slf4j&methods=greet,greetAsync" +
	"&pid=9506&protocol=tri&proxy=nativestub&qos.enable=false&register-mode=interface&release=3.3.5&retries=0" +
	"&revision=interop&side=consumer&sticky=false&timeout=5000&timestamp=1796662351520" +
	"&unloadClusterRelated=false&version=1.0.0"

// javaOnlyConsumerKeys are the parameters of javaConsumerURL a Tianshu consumer does not
// write: settings of a Java reference that mean nothing to a Tianshu connection, and methods
// (interop/README.md says why for each).
var javaOnlyConsumerKeys = []string{"background", "executor-management-mode", "file-cache", "logger", "methods",
	"proxy", "qos.enable", "register-mode", "retries", "revision", "sticky", "timeout", "unloadClusterRelated"}

func greeterConsumer() dubbo.Consumer {
	return dubbo.Consumer{
		Interface: "tianshu.interop.v1.Greeter", Group: "interop", Version: "1.0.0",
		Application: "orders", Host: "127.0.0.1", PID: 4242, Timestamp: time.UnixMilli(1796662351520),
	}
}

func TestConsumerURLIsWhatJavaWrites(t *testing.T) {
	u, err := greeterConsumer().URL()
	if err != nil {
		t.Fatal(err)
	}
	want := "tri://127.0.0.1/tianshu.interop.v1.Greeter?application=orders&category=consumers&check=false" +
		"&dubbo=2.0.2&group=interop&interface=tianshu.interop.v1.Greeter&pid=4242&protocol=tri&release=" +
		dubbo.Release + "&side=consumer&timestamp=1796662351520&version=1.0.0"
	if got := u.String(); got != want {
		t.Errorf("URL = %s\nwant %s", got, want)
	}
	if name, _ := url.QueryUnescape(u.NodeName()); name != want {
		t.Errorf("NodeName decodes to %s", name)
	}

	java := queryKeys(t, javaConsumerURL)
	for k := range u.Params {
		if !java[k] {
			t.Errorf("Tianshu writes %q, which a Java consumer does not", k)
		}
	}
	var missing []string
	for k := range java {
		if _, ok := u.Params[k]; !ok {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if !slices.Equal(missing, javaOnlyConsumerKeys) {
		t.Errorf("Java writes %v that Tianshu does not; the documented list is %v", missing, javaOnlyConsumerKeys)
	}
}

func queryKeys(t *testing.T, s string) map[string]bool {
	t.Helper()
	_, q, _ := strings.Cut(s, "?")
	keys := map[string]bool{}
	for pair := range strings.SplitSeq(q, "&") {
		k, _, _ := strings.Cut(pair, "=")
		keys[k] = true
	}
	return keys
}

func TestConsumerURLDefaults(t *testing.T) {
	c := dubbo.Consumer{Interface: "org.Foo", Host: "::1"}
	u, err := c.URL()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.String(), "tri://[::1]/org.Foo?") {
		t.Errorf("URL = %s, want the IPv6 host in brackets and no port", u)
	}
	for _, k := range []string{"group", "version", "methods"} {
		if _, ok := u.Params[k]; ok {
			t.Errorf("parameter %s written without a value to give it", k)
		}
	}
	if u.Params["application"] == "" || u.Params["pid"] == "" || u.Params["timestamp"] == "" || u.Params["release"] != dubbo.Release {
		t.Errorf("defaults missing: %v", u.Params)
	}
}

func TestConsumerURLRejectsWhatAURLCannotCarry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*dubbo.Consumer)
	}{
		{"no interface", func(c *dubbo.Consumer) { c.Interface = "" }},
		{"no host", func(c *dubbo.Consumer) { c.Host = "" }},
		{"a host with a slash", func(c *dubbo.Consumer) { c.Host = "a/b" }},
		{"a group with an ampersand", func(c *dubbo.Consumer) { c.Group = "a&b" }},
		{"an application with a space", func(c *dubbo.Consumer) { c.Application = "my app" }},
		{"an interface with a question mark", func(c *dubbo.Consumer) { c.Interface = "a?b" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := greeterConsumer()
			tc.change(&c)
			if u, err := c.URL(); !errors.Is(err, dubbo.ErrInvalidURL) {
				t.Fatalf("URL() = %v, %v; want ErrInvalidURL", u, err)
			}
		})
	}
}

func TestNacosConsumerServiceIsDubbos(t *testing.T) {
	if got := dubbo.NacosConsumerService("org.Foo", "1.0.0", ""); got != "consumers:org.Foo:1.0.0:" {
		t.Errorf("NacosConsumerService = %q", got)
	}
}

func ExampleConsumer_URL() {
	u, _ := dubbo.Consumer{
		Interface: "org.example.Greeter", Group: "blue", Version: "1.0.0", Application: "orders",
		Host: "10.0.0.8", PID: 4242, Timestamp: time.UnixMilli(1700000000000), Release: "tianshu-0.1.0",
	}.URL()
	// The ZooKeeper node is /dubbo/org.example.Greeter/consumers/<u.NodeName()>.
	base, query, _ := strings.Cut(u.String(), "?")
	fmt.Println(base)
	for _, kv := range strings.Split(query, "&") {
		fmt.Println(" ", kv)
	}
	// Output:
	// tri://10.0.0.8/org.example.Greeter
	//   application=orders
	//   category=consumers
	//   check=false
	//   dubbo=2.0.2
	//   group=blue
	//   interface=org.example.Greeter
	//   pid=4242
	//   protocol=tri
	//   release=tianshu-0.1.0
	//   side=consumer
	//   timestamp=1700000000000
	//   version=1.0.0
}

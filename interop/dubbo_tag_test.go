package interop_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/interop/interoppb"
	"github.com/tianshu-go/tianshu/rpc"
)

// A Java provider tagged gray as Dubbo tags providers (-Ddubbo.provider.tag, the URL
// parameter dubbo.tag) takes the calls a Tianshu consumer tags gray with rpc.WithDubboTag,
// and none of its untagged calls, which go to the untagged Tianshu provider.
func TestTianshuConsumerRoutesDubboTagToTaggedJavaProvider(t *testing.T) {
	javaURL, open := startZooKeeper(t)
	// Dubbo reads dubbo.provider.* system properties into the default ProviderConfig,
	// whose tag every service it exports carries.
	t.Setenv("JAVA_TOOL_OPTIONS", "-Ddubbo.provider.tag=gray")
	java := startJava(t, "java-provider", "provider", javaURL, strconv.Itoa(testenv.FreePort(t)), "interop:1.0.0")
	waitForLine(t, java, "READY", javaStartTimeout)
	serveGreeter(t, open(t, "interop", "1.0.0"), "tianshu-1.0.0", "interop", "1.0.0")
	waitListed(t, open(t, "interop", "1.0.0"), 2, "1.0.0")
	c := dialDubbo(t, open(t, "interop", "1.0.0"), "interop", "1.0.0")

	count := func(ctx context.Context) map[string]int {
		got := map[string]int{}
		for range 20 {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			r, err := c.Greet(cctx, &interoppb.GreetRequest{Name: "tag"}, grpc.WaitForReady(true))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			got[r.GetServedBy()]++
		}
		return got
	}
	// Until the connection to the Java provider is ready, gray calls fall back to the
	// untagged provider, as in Dubbo with force: false.
	gray := rpc.WithDubboTag(context.Background(), "gray")
	deadline := time.Now().Add(javaStartTimeout)
	for count(gray)["java:interop:1.0.0"] == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no gray call reached the Java provider within %v", javaStartTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got := count(rpc.WithDubboTag(context.Background(), "gray")); got["java:interop:1.0.0"] != 20 {
		t.Errorf("gray calls served by %v: want all by the gray Java provider", got)
	}
	if got := count(context.Background()); got["tianshu-1.0.0"] != 20 {
		t.Errorf("untagged calls served by %v: want all by the untagged Tianshu provider", got)
	}
}

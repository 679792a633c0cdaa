package nacos_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

// Each cycle makes new SDK clients (a new directory is a new client), uses them and closes
// them: nothing they started may outlive the last Close.
func TestOpenCloseCyclesLeaveNoGoroutine(t *testing.T) {
	srv := testenv.StartNacos(t)
	before := goleak.IgnoreCurrent()
	const cycles = 5
	for i := range cycles {
		dir := sdkDir(t)
		opts := append(base(t, dir), nacos.WithSDKLogLevel("debug"))
		r, err := nacos.New(ctxFor(t), []string{srv.Addr}, opts...)
		if err != nil {
			t.Fatal(err)
		}
		testenv.AwaitNacosSDKEvents(t)
		svc := registrytest.ServiceName(t)
		if err := r.Register(ctxFor(t), registrytest.NewInstance(svc, "a", 7001+i)); err != nil {
			t.Fatal(err)
		}
		w, err := r.Watch(ctxFor(t), svc)
		if err != nil {
			t.Fatal(err)
		}
		f := registrytest.NewFollow(t, w)
		f.Until(20*time.Second, "a", registrytest.HasIDs("a"))
		src, err := nacosconfig.New(ctxFor(t), []string{srv.Addr}, []string{"app.yaml"}, nacos.ConfigOptions(opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Load(ctxFor(t)); err != nil {
			t.Fatal(err)
		}
		_ = w.Stop()
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if naming, config := nacos.SharedClients(); naming+config != 0 {
		t.Fatalf("%d naming and %d config clients still open after every Close", naming, config)
	}
	if err := goleak.Find(before); err != nil {
		t.Fatalf("after %d cycles of New and Close: %v", cycles, err)
	}
}

package nacos_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configtest"
	nacosconfig "github.com/tianshu-go/tianshu/config/nacos"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestConformance(t *testing.T) {
	srv := testenv.StartNacos(t)
	dir := sdkDir(t)
	// The suite checks that a watcher leaves no goroutine behind. The SDK starts its
	// connection's goroutines on a client's first request and keeps them for the client's
	// life; this Source holds the shared client, warmed up, for the whole suite.
	anchor, err := nacosconfig.New(ctxFor(t), []string{srv.Addr}, []string{"anchor.yaml"},
		append(base(t, dir), nacosconfig.WithNamespace("conformance"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = anchor.Close() })
	if _, err := anchor.Load(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			src, err := nacosconfig.New(ctxFor(t), []string{srv.Addr}, []string{"a.yaml", "b.yaml"},
				append(base(t, dir), nacosconfig.WithNamespace("conformance"), nacosconfig.WithGroup(registrytest.ServiceName(t)),
					nacosconfig.WithPoll(time.Second))...)
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			t.Cleanup(func() { _ = src.Close() })
			return src, src
		},
		Names:   []string{"a.yaml", "b.yaml"},
		Timeout: 20 * time.Second,
	})
}

// Config errors name a source by its String; without one they would say
// "source 0 (*nacos.Source)".
func TestConfigErrorsNameTheSource(t *testing.T) {
	srv := testenv.StartNacos(t)
	src, err := nacosconfig.New(ctxFor(t), []string{srv.Addr}, []string{"app.yaml", "db.yaml"},
		append(base(t, sdkDir(t)), nacosconfig.WithNamespace("names"), nacosconfig.WithGroup("G"))...)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if got, want := fmt.Sprint(src), "nacos names/G app.yaml,db.yaml"; got != want {
		t.Errorf("the source prints as %q, want %q", got, want)
	}
}

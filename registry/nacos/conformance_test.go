package nacos_test

import (
	"testing"
	"time"

	"github.com/tianshu-go/tianshu/config"
	"github.com/tianshu-go/tianshu/config/configtest"
	"github.com/tianshu-go/tianshu/internal/testenv"
	"github.com/tianshu-go/tianshu/registry"
	"github.com/tianshu-go/tianshu/registry/nacos"
	"github.com/tianshu-go/tianshu/registry/registrytest"
)

func TestRegistryConformance(t *testing.T) {
	srv := testenv.StartNacos(t)
	dir := sdkDir(t)
	restart := func(t testing.TB) { srv.Restart(t, false) }
	if testenv.RaceDetector {
		t.Log("the restart subtest is left out under -race (" + testenv.NoRaceCommand + " runs it): " + sdkRaceMessage)
		restart = nil
	}
	registrytest.Run(t, registrytest.Backend{
		// Handles share one SDK client, as Registries of one process do.
		Open:    func(t testing.TB) registry.Registry { return open(t, srv, dir) },
		Restart: restart,
		Timeout: 30 * time.Second,
	})
}

func TestConfigSourceConformance(t *testing.T) {
	srv := testenv.StartNacos(t)
	dir := sdkDir(t)
	// The suite checks that a watcher leaves no goroutine behind. The SDK starts its
	// connection's goroutines on a client's first request and keeps them for the client's
	// life; this Source holds the shared client, warmed up, for the whole suite.
	anchor, err := nacos.NewSource(ctxFor(t), []string{srv.Addr}, []string{"anchor.yaml"},
		append(base(t, dir), nacos.WithNamespace("conformance"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = anchor.Close() })
	if _, err := anchor.Load(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	configtest.Run(t, configtest.Harness{
		Open: func(t *testing.T) (config.Source, configtest.Store) {
			src, err := nacos.NewSource(ctxFor(t), []string{srv.Addr}, []string{"a.yaml", "b.yaml"},
				append(base(t, dir), nacos.WithNamespace("conformance"), nacos.WithGroup(registrytest.ServiceName(t)),
					nacos.WithConfigPoll(time.Second))...)
			if err != nil {
				t.Fatalf("NewSource: %v", err)
			}
			t.Cleanup(func() { _ = src.Close() })
			return src, src
		},
		Names:   []string{"a.yaml", "b.yaml"},
		Timeout: 20 * time.Second,
	})
}
